// Transpiled cells are kept beside the cache and in the installation's store (transpile.ts), so a process
// on a new, empty cache still skips notebook-kit when any earlier run transpiled the same cell text.
// The second process is a child, because this one remembers what it transpiled; what it is given in the
// installation's store is a planted body notebook-kit would never write, so returning it proves the store
// was read instead of the transpiler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpileCell } from '../../cells/engine/transpile.ts';
import type { NotebookCell } from '../../cells/engine/notebook.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function files(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

test('a cell transpiled once on this install is read from the install store by a process with an empty cache', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'transpile-store-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const [cacheA, cacheB, store] = ['cache-a', 'cache-b', 'store'].map((d) => join(tmp, d));
  // Text unique to this run, so no store on the machine already has it.
  const cell: NotebookCell = { id: 3, mode: 'js', line: 1, value: `const answer = ${process.pid} + ${Date.now()};` };

  const first = transpileCell(cell, cacheA, store);
  assert.deepEqual(first.outputs, ['answer']);
  assert.equal(files(cacheA).length, 1, 'written beside the cache');
  const [stored] = files(store);
  assert.ok(stored, 'written to the install store');
  assert.deepEqual(JSON.parse(readFileSync(stored, 'utf8')), JSON.parse(readFileSync(files(cacheA)[0], 'utf8')));

  const planted = { body: '() => { return {answer: "planted"}; }', inputs: [], outputs: ['answer'] };
  writeFileSync(stored, JSON.stringify(planted));
  const script = `import { transpileCell } from './cells/engine/transpile.ts';
    process.stdout.write(JSON.stringify(transpileCell(${JSON.stringify(cell)}, ${JSON.stringify(cacheB)}, ${JSON.stringify(store)})));`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), planted, 'the second process took the install store\'s entry');
  assert.equal(files(cacheB).length, 1, 'and copied it beside its own cache');
  assert.deepEqual(JSON.parse(readFileSync(files(cacheB)[0], 'utf8')), planted);
});

test('without an install store only the cache folder is written', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'transpile-store-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const cell: NotebookCell = { id: 4, mode: 'js', line: 1, value: `const other = ${process.pid} * ${Date.now()};` };
  transpileCell(cell, join(tmp, 'cache'), null);
  assert.equal(files(join(tmp, 'cache')).length, 1);
  assert.deepEqual(readdirSync(tmp), ['cache']);
});
