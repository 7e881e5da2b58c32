// Few-shot splits, the held-out pool and task views on a synthetic IDX dataset (10 classes x 30 images).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '../../cells/data/idx.ts';
import { loadIdx } from '../../cells/data/load-idx.ts';
import type { Dataset } from '../../cells/data/dataset.ts';
import { fewShotSplit, holdOutPool, mulberry32, taskView } from '../../cells/data/splits.ts';

let dir: string;
let ds: Dataset;
const CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-splits-'));
  const n = 300;
  const pixels = new Uint8Array(n * 4 * 4);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 13) & 255;
  const labels = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 10); // interleaved classes
  writeFileSync(join(dir, 'x-idx3-ubyte'), encodeIdx([n, 4, 4], pixels));
  writeFileSync(join(dir, 'y-idx1-ubyte'), encodeIdx([n], labels));
  ds = await loadIdx({ images: join(dir, 'x-idx3-ubyte'), labels: join(dir, 'y-idx1-ubyte'), classNames: CLASSES, name: 'synthetic' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const labelOf = (id: number) => ds.rows.getChild('label')!.get(id) as number;
const perClass = (ids: ArrayLike<number>, d = ds) => {
  const counts = new Array(d.classNames.length).fill(0);
  const lab = d.rows.getChild('label')!.toArray() as Int32Array;
  const pos = new Map(Array.from(d.rows.getChild('id')!.toArray() as Int32Array, (id, p) => [id, p]));
  for (const id of Array.from(ids)) counts[lab[pos.get(id)!]]++;
  return counts;
};

test('few-shot split: K per class, deterministic for a seed, different across seeds, disjoint from eval', () => {
  for (const shots of [1, 2, 4, 8, 16]) {
    const a = fewShotSplit(ds, { shots, seed: 1 });
    const b = fewShotSplit(ds, { shots, seed: 1 });
    assert.deepEqual(a.train, b.train, `K=${shots}: same seed, same ids`);
    assert.deepEqual(perClass(a.train), new Array(10).fill(shots));
    const train = new Set(a.train);
    assert.ok(Array.from(a.eval).every((id) => !train.has(id)), 'eval is disjoint from train');
    assert.equal(a.train.length + a.eval.length, ds.rows.numRows);
    assert.equal(a.table.numRows, shots * 10);
    assert.deepEqual(Array.from(a.table.getChild('id')!.toArray() as Int32Array), Array.from(a.train));
    assert.ok(Array.from(a.train).every((id, i) => labelOf(id) === a.table.getChild('label')!.get(i)));
  }
  const s1 = fewShotSplit(ds, { shots: 4, seed: 1 }).train;
  const s2 = fewShotSplit(ds, { shots: 4, seed: 2 }).train;
  const s3 = fewShotSplit(ds, { shots: 4, seed: 3 }).train;
  assert.notDeepEqual(s1, s2);
  assert.notDeepEqual(s2, s3);
});

test('few-shot sets are nested across K for one seed', () => {
  const k1 = new Set(fewShotSplit(ds, { shots: 1, seed: 3 }).train);
  const k2 = new Set(fewShotSplit(ds, { shots: 2, seed: 3 }).train);
  const k8 = new Set(fewShotSplit(ds, { shots: 8, seed: 3 }).train);
  assert.ok([...k1].every((id) => k2.has(id)));
  assert.ok([...k2].every((id) => k8.has(id)));
});

test('held-out pool: 10% per class, deterministic; shots come from it, eval is the rest', () => {
  const pool = holdOutPool(ds, { fraction: 0.1, seed: 0 });
  assert.deepEqual(perClass(pool.pool), new Array(10).fill(3));
  assert.deepEqual(holdOutPool(ds, { fraction: 0.1, seed: 0 }).pool, pool.pool);
  const inPool = new Set(pool.pool);
  assert.ok(Array.from(pool.rest).every((id) => !inPool.has(id)));
  assert.equal(pool.pool.length + pool.rest.length, 300);
  assert.equal(pool.table.numRows, 300);
  const split = fewShotSplit(ds, { shots: 2, seed: 1, pool: pool.pool });
  assert.ok(Array.from(split.train).every((id) => inPool.has(id)), 'shots are drawn from the pool');
  assert.deepEqual(split.eval, pool.rest, 'evaluation = everything outside the pool (stable across K and seeds)');
  assert.throws(() => fewShotSplit(ds, { shots: 4, seed: 1, pool: pool.pool }), /class 0 "zero" of "synthetic" has 3 images in the pool, fewer than 4 shots/);
  assert.equal(fewShotSplit(ds, { shots: 4, seed: 1, pool: pool.pool, ifFewer: 'all' }).train.length, 30);
});

test('task view: class subset renumbered, own fingerprint, same images; shots agree with the parent', () => {
  const view = taskView(ds, ['seven', 'two', 'nine'], 'odd-ish');
  assert.deepEqual(view.classNames, ['seven', 'two', 'nine']);
  assert.equal(view.rows.numRows, 90);
  const labels = view.rows.getChild('label')!.toArray() as Int32Array;
  const ids = view.rows.getChild('id')!.toArray() as Int32Array;
  ids.forEach((id, i) => assert.equal(CLASSES[labelOf(id)], view.classNames[labels[i]]));
  assert.deepEqual(view.images.get(ids[5]), ds.images.get(ids[5]));
  assert.notEqual(view.fingerprint, ds.fingerprint);
  assert.equal(taskView(ds, [7, 2, 9], 'odd-ish').fingerprint, view.fingerprint, 'by index = by name');
  assert.notEqual(taskView(ds, ['two', 'seven', 'nine'], 'odd-ish').fingerprint, view.fingerprint, 'order matters (labels differ)');
  // the same images are drawn for those classes in the view as in the parent
  const parent = fewShotSplit(ds, { shots: 3, seed: 2 });
  const mine = fewShotSplit(view, { shots: 3, seed: 2 });
  const parentSources = (parent.table.getChild('source')!.toArray() as string[]).filter((_s, i) => [7, 2, 9].includes(parent.table.getChild('label')!.get(i) as number));
  assert.deepEqual(new Set(mine.table.getChild('source')!.toArray() as string[]), new Set(parentSources));
  assert.throws(() => taskView(ds, ['ten'], 'x'), /class "ten" is not in dataset "synthetic"/);
});

test('mulberry32 is a deterministic stream in [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
});
