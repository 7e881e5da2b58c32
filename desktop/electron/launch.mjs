// `npm start`: launches the desktop app. Finds Electron's binary, builds the UI bundle and the main and
// preload bundles (Electron runs JavaScript, not TypeScript), then runs Electron on them. Where the
// binary is not installed — `electron` is an optional dependency whose download needs github.com — it
// says so and points to `promptscope serve`, which serves the same UI to a browser.
//   node desktop/electron/launch.mjs [NOTEBOOK.html]
//   node desktop/electron/launch.mjs --build-only     (bundles for electron-builder)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureUi } from '../ui/build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const OUT = join(here, 'dist');

/** Electron's binary: $PROMPTSCOPE_ELECTRON, else the one the `electron` package downloaded. */
export function findElectron() {
  const fromEnv = process.env.PROMPTSCOPE_ELECTRON;
  if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv } : { error: `PROMPTSCOPE_ELECTRON=${fromEnv} does not exist` };
  try {
    // The package's main export is the path of the binary it downloaded; it throws when there is none.
    const path = createRequire(import.meta.url)('electron');
    if (typeof path === 'string' && existsSync(path)) return { path };
    return { error: `the electron package is installed but its binary (${path}) is missing` };
  } catch (err) {
    return { error: err.code === 'MODULE_NOT_FOUND' ? 'the optional electron package is not installed' : err.message.split('\n')[0] };
  }
}

export const NO_ELECTRON = (why) => `Promptscope desktop: Electron's binary is not available (${why}).

The electron package is an optional dependency: npm downloads its binary from github.com, which this
machine could not reach or skipped. Nothing else is affected.

Use the same UI in your browser instead:
  npx promptscope serve notebooks/quickstart.html
  (it prints http://127.0.0.1:PORT/?token=… — open that URL)

To get the desktop app: run \`npm install electron\` on a machine with access to github.com,
or point PROMPTSCOPE_ELECTRON at an Electron binary you already have.
`;

/** Bundles main.ts and preload.ts (a sandboxed preload must be a single file). */
export async function buildElectron() {
  const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['electron'], logLevel: 'warning', sourcemap: 'inline' };
  await build({ ...common, entryPoints: [join(here, 'main.ts')], outfile: join(OUT, 'main.cjs') });
  await build({ ...common, entryPoints: [join(here, 'preload.ts')], outfile: join(OUT, 'preload.cjs') });
  return OUT;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--build-only')) {
    await ensureUi();
    console.log(`built ${await buildElectron()}`);
    return 0;
  }
  const electron = findElectron();
  if (!electron.path) {
    process.stderr.write(NO_ELECTRON(electron.error));
    return 1;
  }
  await ensureUi();
  await buildElectron();
  const env = { ...process.env };
  // Set by some tools; it would make Electron behave as plain Node and ignore the app.
  delete env.ELECTRON_RUN_AS_NODE;
  const child = spawn(electron.path, [join(OUT, 'main.cjs'), ...args], { stdio: 'inherit', env });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main();
}
