#!/usr/bin/env node
// Entry point of the `promptscope` command. The project is written in TypeScript. `npm ci` bundles the CLI
// (bin/build.mjs) so it starts without tsx's loader; that bundle runs only while every source file it was
// built from is unchanged (bin/bundle.mjs), otherwise the sources run through tsx, as from a clean clone
// with no build: an edited checkout never runs old code, it only starts slower until `npm run build`.
// PROMPTSCOPE_BUNDLE: unset or `auto` as above; `off` always runs the sources; `require` refuses to run
// without a fresh bundle (tests and benches that must time the bundled path).
import { pathToFileURL } from 'node:url';
import { checkBundle } from './bundle.mjs';

const mode = process.env.PROMPTSCOPE_BUNDLE ?? 'auto';
if (!['auto', 'off', 'require'].includes(mode)) {
  console.error(`promptscope: PROMPTSCOPE_BUNDLE="${mode}" is not one of auto, off, require`);
  process.exit(2);
}
const { entry, stale } = mode === 'off' ? { stale: 'PROMPTSCOPE_BUNDLE=off' } : checkBundle();
if (stale && mode === 'require') {
  console.error(`promptscope: PROMPTSCOPE_BUNDLE=require but the bundle cannot be used: ${stale}; run npm run build`);
  process.exit(2);
}
let main;
if (entry) {
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/promptscope.ts'));
}
process.exitCode = await main(process.argv.slice(2));
