// The prebuilt CLI (bin/build.mjs, run by `npm ci`) may run only while the sources it was built from are
// unchanged (bin/bundle.mjs); otherwise bin/promptscope.js runs the sources through tsx. Checked on a
// made-up tree (every way a source can change), then end to end: build, and run a notebook through the
// bundle with PROMPTSCOPE_BUNDLE=require (which refuses to fall back to tsx).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleStaleness, checkBundle, chooseBundle, INPUTS_FORMAT, packageDigest, sha256File } from '../../bin/bundle.mjs';
import { KernelProcess } from '../../desktop/server/kernel.ts';
import { parseNotebook } from '../../cells/engine/notebook.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const staleness = bundleStaleness as (root: string, dir: string) => string | undefined;

const PACKAGE = { name: 'promptscope', type: 'module', main: 'bin/promptscope.js', scripts: { test: 'node test/run.mjs' }, devDependencies: { x: '1' } };

function tree(t: { after: (f: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'bundle-check-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'dist');
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(dir);
  writeFileSync(join(dir, 'promptscope.mjs'), 'export {}');
  const a = join(root, 'src/a.ts'), b = join(root, 'src/b.ts');
  writeFileSync(a, 'export const a = 1;\n');
  writeFileSync(b, 'export const b = 2;\n');
  const record = (p: string) => ({ size: statSync(p).size, mtimeMs: statSync(p).mtimeMs, sha256: (sha256File as (p: string) => string)(p) });
  writeFileSync(join(root, 'package.json'), JSON.stringify(PACKAGE));
  const manifest = { format: INPUTS_FORMAT as number, entry: 'promptscope.mjs', package: packageDigest(root), files: { 'src/a.ts': record(a), 'src/b.ts': record(b) } };
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify(manifest));
  return { root, dir, a, b, manifest };
}

test('the bundle is fresh only while every input has its recorded contents', (t) => {
  const { root, dir, a, b, manifest } = tree(t);
  assert.equal(staleness(root, dir), undefined);
  // Touched, same contents (a checkout, a copy): still fresh, found by hashing.
  utimesSync(a, new Date(), new Date(Date.now() + 5000));
  assert.equal(staleness(root, dir), undefined);
  // Same size, other contents, new mtime: stale.
  writeFileSync(a, 'export const a = 3;\n');
  assert.match(staleness(root, dir) ?? '', /src\/a\.ts changed/);
  writeFileSync(a, 'export const a = 1;\n');
  assert.equal(staleness(root, dir), undefined);
  // Longer: stale without hashing.
  writeFileSync(b, 'export const b = 22;\n');
  assert.match(staleness(root, dir) ?? '', /src\/b\.ts changed/);
  rmSync(b);
  assert.match(staleness(root, dir) ?? '', /src\/b\.ts is gone/);
  writeFileSync(b, 'export const b = 2;\n');
  assert.equal(staleness(root, dir), undefined);
  // The bundle itself, or its list of inputs, missing or from another format.
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify({ ...manifest, format: -1 }));
  assert.match(staleness(root, dir) ?? '', /another version/);
  rmSync(join(dir, 'inputs.json'));
  assert.match(staleness(root, dir) ?? '', /no bundle has been built/);
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify(manifest));
  rmSync(join(dir, 'promptscope.mjs'));
  assert.match(staleness(root, dir) ?? '', /bundle file is missing/);
});

test("a packager's rewrite of package.json keeps the bundle fresh; a change to how imports resolve does not", (t) => {
  const { root, dir } = tree(t);
  const pkg = join(root, 'package.json');
  // What electron-builder writes into the app (electron-builder.yml's extraMetadata, no scripts or devDependencies).
  const { scripts: _s, devDependencies: _d, ...kept } = PACKAGE;
  writeFileSync(pkg, JSON.stringify({ ...kept, main: 'desktop/electron/dist/main.cjs' }, null, 2));
  assert.equal(staleness(root, dir), undefined);
  writeFileSync(pkg, JSON.stringify({ ...PACKAGE, type: 'commonjs' }));
  assert.match(staleness(root, dir) ?? '', /package\.json's name, type, imports or exports changed/);
  writeFileSync(pkg, JSON.stringify({ ...PACKAGE, imports: { '#x': './src/a.ts' } }));
  assert.match(staleness(root, dir) ?? '', /package\.json's/);
  writeFileSync(pkg, '{ not json');
  assert.match(staleness(root, dir) ?? '', /package\.json is missing or not JSON/);
});

// A JS cell, a SQL cell over it (DuckDB: node-api is CommonJS and loaded lazily, which the bundle must keep
// working) and a chart (vega, resvg).
const NOTEBOOK = `<!doctype html>
<notebook>
  <script id="1" type="module">
    const rows = [{k: "a", v: 1}, {k: "b", v: 2}, {k: "a", v: 3}];
  </script>
  <script id="2" type="application/sql" output="sums">
    SELECT k, sum(v)::INTEGER AS total FROM rows GROUP BY k ORDER BY k
  </script>
  <script id="3" type="module">
    const chart = vegaLite({data: {values: sums}, mark: "bar", encoding: {x: {field: "k", type: "nominal"}, y: {field: "total", type: "quantitative"}}});
  </script>
</notebook>
`;

test('the built bundle runs a notebook, and PROMPTSCOPE_BUNDLE takes only auto, off or require', (t) => {
  const build = spawnSync(process.execPath, ['bin/build.mjs', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  assert.equal(build.stderr, '', 'the build reports no failure');
  const work = mkdtempSync(join(tmpdir(), 'bundle-run-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  writeFileSync(join(work, 'sums.html'), NOTEBOOK);
  const run = spawnSync(process.execPath, ['bin/promptscope.js', 'run', join(work, 'sums.html'), '--trust', '--cache', join(work, 'cache'), '--out', join(work, 'out')],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PROMPTSCOPE_BUNDLE: 'require' } });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(readFileSync(join(work, 'out', 'sums.csv'), 'utf8').trim().split(/\r?\n/), ['k,total', 'a,4', 'b,2']);
  assert.ok(existsSync(join(work, 'out', 'chart.svg')), 'the chart was written');
  const bad = spawnSync(process.execPath, ['bin/promptscope.js', '--help'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PROMPTSCOPE_BUNDLE: 'yes' } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /PROMPTSCOPE_BUNDLE="yes" is not one of auto, off, require/);
});

test("promptscope serve's kernel from the bundle: built beside the CLI, forked without tsx, it runs the notebook's cells", async (t) => {
  const build = spawnSync(process.execPath, ['bin/build.mjs', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const { kernel } = (checkBundle as () => { kernel?: string })();
  assert.ok(kernel && kernel.endsWith('.mjs') && existsSync(kernel), `the build names its kernel: ${kernel}`);
  const choose = chooseBundle as (mode: string) => { kernel?: string };
  assert.equal(choose('auto').kernel, kernel, 'bin/promptscope.js hands serve the fresh bundled kernel');
  assert.equal(choose('off').kernel, undefined, 'PROMPTSCOPE_BUNDLE=off: the sources through tsx');

  const work = mkdtempSync(join(tmpdir(), 'bundle-kernel-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const proc = new KernelProcess({ entry: kernel, onEvent: () => {}, onExit: () => {} });
  t.after(() => proc.kill());
  await proc.call('init', { notebook: parseNotebook(NOTEBOOK), settings: {}, cacheDir: join(work, 'cache'), held: [] }, 60_000);
  await proc.call('runAll', {}, 60_000);
  await proc.call('idle', {}, 120_000);
  assert.deepEqual(await proc.call('value', { name: 'rows' }, 10_000), [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }]);
});
