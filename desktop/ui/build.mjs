// Bundles the browser UI (desktop/ui/src) into desktop/ui/dist with esbuild. dist/ is not committed:
// the server builds it on first use when it is missing or older than the sources, and `npm start`
// builds it before launching Electron. Run directly: `node desktop/ui/build.mjs`.
import { build } from 'esbuild';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SRC = join(here, 'src');
export const DIST = join(here, 'dist');
const STATIC = ['index.html', 'style.css'];

async function newestMtime(dir) {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

/** True when dist/ is missing or any source file is newer than the last build. */
export async function uiIsStale() {
  const built = await stat(join(DIST, 'app.js')).then((s) => s.mtimeMs, () => 0);
  if (!built) return true;
  const here = await stat(fileURLToPath(import.meta.url)).then((s) => s.mtimeMs);
  return (await newestMtime(SRC)) > built || here > built;
}

/**
 * Builds into a private directory and renames it into place, so a server that is reading dist/ never
 * sees half a bundle and two processes building at once both end with a complete one.
 */
export async function buildUi({ minify = true } = {}) {
  const tmp = `${DIST}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    await build({
      entryPoints: [join(SRC, 'app.ts')],
      outfile: join(tmp, 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome120', 'firefox120', 'safari16'],
      minify,
      sourcemap: true,
      legalComments: 'linked',
      logLevel: 'warning',
      // vega pulls optional Node-only modules that never run in a browser.
      external: [],
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    for (const f of STATIC) await cp(join(SRC, f), join(tmp, f));
    const old = `${DIST}.old-${process.pid}-${Date.now()}`;
    await rename(DIST, old).catch(() => undefined);
    try {
      await rename(tmp, DIST);
    } catch (err) {
      // Another process finished first: its bundle is as good as ours.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    }
    await rm(old, { recursive: true, force: true });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return DIST;
}

/**
 * Builds when stale, one process at a time: test files start servers in parallel, and on a fresh clone
 * each would otherwise build the same bundle at once. The lock is a directory (mkdir is atomic); a lock
 * left by a crashed build is taken over after a minute.
 */
export async function ensureUi() {
  if (!(await uiIsStale())) return DIST;
  const lock = `${DIST}.lock`;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 60_000) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (await uiIsStale()) await buildUi();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
  return DIST;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  await buildUi({ minify: !process.argv.includes('--dev') });
  console.log(`built ${DIST} in ${Date.now() - t0} ms`);
}
