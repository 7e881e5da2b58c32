// Loaders as cached stages: the second load (a new Cache object on the same directory, as a new process
// would have) is a cache hit with identical rows, pixels and fingerprint; a changed file misses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { type StageRecord } from '../../cells/exec/types.ts';
import { loadDataset, cachedFewShotSplit } from '../../cells/data/cached.ts';
import { bundledPath } from '../../cells/data/bundled.ts';
import type { Dataset } from '../../cells/data/dataset.ts';

async function withCache<T>(dir: string, fn: () => Promise<T>): Promise<{ value: T; records: StageRecord[] }> {
  const records: StageRecord[] = [];
  const cache = new Cache(dir);
  cache.onWarning = (m) => assert.fail(`unexpected cache warning: ${m}`);
  const value = await runWithContext(
    { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: (r) => records.push(r) },
    fn,
  );
  return { value, records };
}

test('loadDataset: cache hit in a fresh cache object restores rows, pixels and fingerprint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'promptscope-cache-'));
  try {
    for (const spec of [{ kind: 'bundled', name: 'gtsrb' }, { kind: 'bundled', name: 'mnist' }] as const) {
      const first = await withCache(dir, () => loadDataset(spec));
      const second = await withCache(dir, () => loadDataset(spec));
      assert.deepEqual(first.records.map((r) => r.hit), [false]);
      assert.deepEqual(second.records.map((r) => r.hit), [true], `${spec.name}: second load is a cache hit`);
      const [a, b]: Dataset[] = [first.value, second.value];
      assert.equal(b.fingerprint, a.fingerprint);
      assert.deepEqual(b.classNames, a.classNames);
      assert.deepEqual(b.rows.toArray().map((r) => r.toJSON()), a.rows.toArray().map((r) => r.toJSON()));
      assert.deepEqual(b.images.get(7), a.images.get(7));
      assert.deepEqual(b.images.dense?.pixels, a.images.dense?.pixels);
    }
    // a different file content is a different key
    const tar = join(dir, 'copy.tar');
    writeFileSync(tar, readFileSync(bundledPath('cifar10-test.tar')));
    const c1 = await withCache(dir, () => loadDataset({ kind: 'folder', path: tar, options: { split: 'test', onError: 'skip' } }));
    const c2 = await withCache(dir, () => loadDataset({ kind: 'folder', path: tar, options: { split: 'test', onError: 'skip' } }));
    assert.equal(c2.records[0].hit, true);
    assert.equal(c2.value.fingerprint, c1.value.fingerprint);
    const bytes = readFileSync(tar);
    bytes[bytes.length - 2000] ^= 1; // inside the last image's entropy-coded data or padding
    writeFileSync(tar, bytes);
    const c3 = await withCache(dir, () => loadDataset({ kind: 'folder', path: tar, options: { split: 'test', onError: 'skip' } }));
    assert.equal(c3.records[0].hit, false);

    const s1 = await withCache(dir, () => cachedFewShotSplit(c1.value, { shots: 2, seed: 1 }));
    const s2 = await withCache(dir, () => cachedFewShotSplit(c1.value, { shots: 2, seed: 1 }));
    assert.equal(s2.records[0].hit, true);
    assert.deepEqual(Array.from(s2.value.train), Array.from(s1.value.train));
    assert.equal(s2.value.table.numRows, 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
