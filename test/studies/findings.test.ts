// MVLPT's findings on hand-made matrices whose answers are worked out by hand below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transferFindings } from '../../cells/studies/findings.ts';
import type { TransferMatrix } from '../../cells/studies/transfer.ts';
import type { SimilarityMatrix } from '../../cells/studies/similarity.ts';

const TASKS = ['A', 'B', 'C', 'D'];

/** A matrix with the given gains (gains[s][t], diagonal ignored). */
function matrixOf(gains: number[][]): TransferMatrix {
  const cells = [];
  for (let s = 0; s < TASKS.length; s++) {
    for (let t = 0; t < TASKS.length; t++) {
      const g = { mean: gains[s][t], std: 0 };
      cells.push({ source: TASKS[s], target: TASKS[t], sourceDomain: 'x', targetDomain: 'x', perSeed: [], gain: g, sourceInit: g, defaultInit: { mean: 0, std: 0 }, computed: false });
    }
  }
  return { method: 'coop', shots: 2, seeds: [1], tasks: TASKS, domains: TASKS.map(() => 'x'), cells, references: [] } as unknown as TransferMatrix;
}

const sim = (kind: 'label' | 'visual', values: number[][]): SimilarityMatrix => ({ kind, measure: kind, tasks: TASKS, values });

test('asymmetry: pairs, mean |difference|, pairs beyond 2 points, opposite signs', () => {
  // Pairs (forward, backward): AB (0.10, 0.10), AC (0.05, -0.05), AD (0.00, 0.01), BC (0.20, 0.02), BD (-0.03, -0.04), CD (0.07, 0.00)
  const g = [
    [0, 0.10, 0.05, 0.00],
    [0.10, 0, 0.20, -0.03],
    [-0.05, 0.02, 0, 0.07],
    [0.01, -0.04, 0.00, 0],
  ];
  const f = transferFindings(matrixOf(g), []);
  assert.equal(f.asymmetry.pairs, 6);
  // |diffs| = 0, 0.10, 0.01, 0.18, 0.01, 0.07 → mean 0.37/6; beyond 0.02: AC, BC, CD; opposite sign: AC only.
  assert.ok(Math.abs(f.asymmetry.meanAbsDifference - 0.37 / 6) < 1e-12);
  assert.equal(f.asymmetry.differing, 3);
  assert.equal(f.asymmetry.oppositeSign, 1);
  assert.equal(f.asymmetry.correlation.n, 6);
});

test('similarity: a similarity that tracks gain holds, a distance that tracks gain is contradicted, noise is not shown', () => {
  // Gain = similarity exactly over the 12 ordered pairs: r = 1 for the label measure (expected +), and the
  // same values read as a distance (expected −) contradict the claim.
  const values = [
    [1, 0.1, 0.2, 0.3],
    [0.4, 1, 0.5, 0.6],
    [0.7, 0.8, 1, 0.9],
    [0.15, 0.25, 0.35, 1],
  ];
  const g = values.map((row, s) => row.map((v, t) => (s === t ? 0 : v)));
  const f = transferFindings(matrixOf(g), [sim('label', values), sim('visual', values)]);
  const [label, visual] = f.similarity;
  assert.equal(label.pairs, 12);
  assert.ok(Math.abs(label.correlation.r - 1) < 1e-9);
  assert.equal(label.expectedSign, 1);
  assert.equal(label.verdict, 'holds');
  assert.equal(visual.expectedSign, -1);
  assert.equal(visual.verdict, 'contradicted');
  // A measure uncorrelated with gain: alternate ±, orthogonal to the gains' order → interval spans 0.
  const flat = values.map((row, s) => row.map((_, t) => ((s + t) % 2 ? 1 : -1)));
  assert.equal(transferFindings(matrixOf(g), [sim('label', flat)]).similarity[0].verdict, 'not shown');
});

test('a similarity matrix over other tasks, or too few pairs, is a clear error', () => {
  const g = TASKS.map(() => TASKS.map(() => 0.01));
  const other: SimilarityMatrix = { kind: 'label', measure: 'label', tasks: ['A', 'B', 'C', 'E'], values: g };
  assert.throws(() => transferFindings(matrixOf(g), [other]), /has no task "D"/);
  const two = { ...matrixOf(g), tasks: ['A', 'B'] } as TransferMatrix;
  assert.throws(() => transferFindings(two, []), /at least 2 task pairs/);
});
