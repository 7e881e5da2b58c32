#!/usr/bin/env node
// Entry point of the `promptscope` command. The project is written in TypeScript. `npm ci` bundles the CLI
// (bin/build.mjs) so it starts without tsx's loader; that bundle runs only while every source file it was
// built from is unchanged (bin/bundle.mjs), otherwise the sources run through tsx, as from a clean clone
// with no build: an edited checkout never runs old code, it only starts slower until `npm run build`.
// PROMPTSCOPE_BUNDLE: unset or `auto` as above; `off` always runs the sources; `require` refuses to run
// without a fresh bundle (tests and benches that must time the bundled path).
import { chooseBundle, importChosen } from './bundle.mjs';

const chosen = chooseBundle(process.env.PROMPTSCOPE_BUNDLE ?? 'auto');
if (chosen.error) {
  console.error(`promptscope: ${chosen.error}`);
  process.exit(2);
}
const { main } = await importChosen(chosen, 'entry', () => import('../cli/promptscope.ts'));
// `promptscope serve` forks the bundled kernel when the CLI itself runs from the bundle.
process.exitCode = await main(process.argv.slice(2), { kernelEntry: chosen.kernel });
