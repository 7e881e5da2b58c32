// The desktop app's engine process: Electron's main process forks this file in a utility process
// (desktop/electron/server-process.ts). It runs desktop/server/entry.ts (the notebook server, which runs
// the cells in a kernel process of its own) by the same rule as bin/promptscope.js: the prebuilt bundle
// while it is fresh (bin/bundle.mjs chooseBundle, PROMPTSCOPE_BUNDLE=auto|off|require), with the bundled
// kernel; otherwise the TypeScript sources through tsx. Through tsx the engine took seconds to start.
//   node bin/engine.mjs NOTEBOOK [--cache DIR]
import { chooseBundle, importChosen } from './bundle.mjs';

const mode = process.env.PROMPTSCOPE_BUNDLE ?? 'auto';
const chosen = chooseBundle(mode);
// A bundle built before the engine was one of its entries has none: `require` cannot be met then either.
const error = chosen.error ?? (mode === 'require' && !chosen.engine ? 'PROMPTSCOPE_BUNDLE=require but the bundle has no engine; run npm run build' : undefined);
if (error) {
  console.error(`promptscope engine: ${error}`);
  process.exit(2);
}
const { runEngine } = await importChosen(chosen, 'engine', () => import('../desktop/server/entry.ts'));
await runEngine(process.argv.slice(2), { kernelEntry: chosen.kernel });
