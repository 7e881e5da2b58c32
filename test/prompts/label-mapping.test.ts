// The label mappings of visual reprogramming (cells/prompts/label-mapping.ts) on hand-made score matrices
// whose answers are worked out by hand in the comments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  frequencyCounts, frequencyMapping, greedyAssignment, identityMapping, mappingFromMatrix, mappingMatrix, randomMapping,
  remapsAt, semanticMapping,
} from '../../cells/prompts/label-mapping.ts';

const flat = (rows: number[][]) => rows.flat();

test('greedy assignment takes the largest remaining score first, one-to-one', () => {
  // rows = downstream classes, columns = source labels.
  //   t0: [5, 1, 0, 0]   t1: [6, 0, 2, 0]   t2: [0, 0, 3, 3]
  // largest 6 → t1:s0; then 3 at (t2,s2) and (t2,s3) tie → lower source s2; t0 is left with s1 (1) over s3 (0).
  // t0 would have liked s0 (5) but t1 holds it with more.
  assert.deepEqual([...greedyAssignment(flat([[5, 1, 0, 0], [6, 0, 2, 0], [0, 0, 3, 3]]), 3, 4)], [1, 0, 2]);
});

test('greedy ties: lowest downstream class first, then lowest source label; all-zero scores still give distinct labels', () => {
  // Both classes want s0 equally → t0 gets it (lower class), t1 the next free best: s1 (0) vs s2 (0) → s1.
  assert.deepEqual([...greedyAssignment(flat([[2, 0, 0], [2, 0, 0]]), 2, 3)], [0, 1]);
  // Three 4s tie: (t0,s1), (t0,s2), (t1,s1) → t0:s1 (lower class, then lower source); t1's free entries are
  // s0 (0) and s2 (0) → s0.
  assert.deepEqual([...greedyAssignment(flat([[1, 4, 4], [0, 4, 0]]), 2, 3)], [1, 0]);
  assert.deepEqual([...greedyAssignment(new Array(12).fill(0), 3, 4)], [0, 1, 2]);
});

test('FLM counts each class\'s source argmax and assigns greedily by largest count', () => {
  // 7 training images: labels and the source label the model predicted for each.
  const labels = [0, 0, 0, 1, 1, 1, 1];
  const preds = [2, 2, 1, 2, 2, 2, 0];
  const counts = frequencyCounts(preds, labels, 2, 3);
  assert.deepEqual([...counts], [0, 1, 2, /* t1 */ 1, 0, 3]);
  // Largest count 3 (t1, s2) → t1:s2; t0 then takes s1 (count 1) over s0 (0).
  const m = frequencyMapping(preds, labels, 2, 3);
  assert.deepEqual(m.sources, [[1], [2]]);
  assert.equal(m.kind, 'frequency');
});

test('ILM recomputes the mapping every epoch from the current predictions; FLM only before epoch 0', () => {
  const labels = [0, 0, 1, 1];
  const epoch0 = frequencyMapping([3, 3, 1, 1], labels, 2, 4, 'iterative');
  assert.deepEqual(epoch0.sources, [[3], [1]]);
  // After an epoch of training the prompted model predicts differently: ILM's update follows it.
  const epoch1 = frequencyMapping([0, 0, 3, 3], labels, 2, 4, 'iterative');
  assert.deepEqual(epoch1.sources, [[0], [3]]);
  assert.deepEqual([0, 1, 2, 5].map((e) => remapsAt('iterative', e)), [true, true, true, true]);
  assert.deepEqual([0, 1, 2, 5].map((e) => remapsAt('frequency', e)), [true, false, false, false]);
  for (const k of ['identity', 'random', 'semantic'] as const) assert.equal(remapsAt(k, 0), false);
});

test('semantic matching on known embeddings: one-to-one by cosine, one-to-many by top-m with overlaps', () => {
  // Source label embeddings (unit vectors at 0°, 90°, 180°, 45°) and downstream embeddings at 10°, 80°, 50°.
  const deg = (a: number) => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)];
  const src = [0, 90, 180, 45].map(deg), down = [10, 80, 50].map(deg);
  const sim = down.flatMap((d) => src.map((s) => d[0] * s[0] + d[1] * s[1]));
  // Angles: t0 (10°) → s0 (10° away); t1 (80°) → s1 (10°); t2 (50°) → s3 (5°). Greedy: cos 5° first (t2:s3),
  // then the two cos 10° ties: t0:s0 (lower class first), t1:s1.
  assert.deepEqual(semanticMapping(sim, 3, 4).sources, [[0], [1], [3]]);
  // Top-2: t0 → s0, s3 (35°); t1 → s1, s3 (35°); t2 → s3, s1 (40°). s3 is shared: one-to-many allows it.
  assert.deepEqual(semanticMapping(sim, 3, 4, 2).sources, [[0, 3], [1, 3], [3, 1]]);
});

test('more downstream classes than source labels: one-to-one mappings fail clearly; one-to-many works', () => {
  const re = /one-to-one mapping needs at least as many source labels as downstream classes.*5 classes.*source label set 3/;
  assert.throws(() => identityMapping(5, 3), re);
  assert.throws(() => randomMapping(5, 3, 1), re);
  assert.throws(() => frequencyMapping([0, 1, 2, 0, 1], [0, 1, 2, 3, 4], 5, 3), re);
  assert.throws(() => semanticMapping(new Array(15).fill(0.5), 5, 3), re);
  assert.throws(() => greedyAssignment(new Array(15).fill(0), 5, 3), re);
  assert.equal(semanticMapping(new Array(15).fill(0.5), 5, 3, 2).sources.length, 5);
});

test('random mapping: distinct source labels, reproducible by seed, different across seeds; identity is first-K', () => {
  const a = randomMapping(10, 1000, 1), b = randomMapping(10, 1000, 1), c = randomMapping(10, 1000, 2);
  assert.deepEqual(a.sources, b.sources);
  assert.notDeepEqual(a.sources, c.sources);
  assert.equal(new Set(a.sources.flat()).size, 10);
  assert.deepEqual(identityMapping(3, 1000).sources, [[0], [1], [2]]);
});

test('mapping matrix: source logits · W = mean of each class\'s source logits; round trip', () => {
  const m = { kind: 'semantic' as const, nSource: 4, sources: [[0, 3], [1]] };
  const w = mappingMatrix(m);
  // [4 × 2] row-major: s0→t0 ½, s1→t1 1, s3→t0 ½.
  assert.deepEqual([...w], [0.5, 0, 0, 1, 0, 0, 0.5, 0]);
  const logits = [2, 7, 5, 4];
  const down = [0, 1].map((t) => logits.reduce((a, l, s) => a + l * w[s * 2 + t], 0));
  assert.deepEqual(down, [3, 7]);
  assert.deepEqual(mappingFromMatrix('semantic', w, 4, 2).sources, m.sources);
});
