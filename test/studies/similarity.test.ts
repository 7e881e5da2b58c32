// Task-similarity math: the symmetric eigen-solver, PSD square roots and the Fréchet distance against
// closed forms computed independently (diagonal and 2×2 cases), label similarity, and the Fréchet
// distance of real (cached) task features on mini-CLIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../cells/model/backend.ts';
import { mulberry32 } from '../../cells/data/splits.ts';
import { labelSimilarityOf, visualSimilarity, labelSimilarity } from '../../cells/studies/similarity.ts';
import { frechetDistance, gaussianOf, sqrtPsd, symmetricEigen } from '../../cells/studies/frechet.ts';
import { defaultTaskSuite } from '../../cells/studies/tasks.ts';
import { miniClip, studyCell } from './helpers.ts';

function randomPsd(n: number, rank: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const X = Array.from({ length: n * rank }, () => rand() * 2 - 1);
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < rank; k++) s += X[i * rank + k] * X[j * rank + k];
    S[i * n + j] = s / rank;
  }
  return S;
}

const matmul = (a: ArrayLike<number>, b: ArrayLike<number>, n: number) => {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * n + k] * b[k * n + j];
  return out;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('symmetricEigen reconstructs the matrix with orthonormal vectors', () => {
  const n = 12;
  const A = randomPsd(n, 5, 3);
  for (let i = 0; i < n; i++) A[i * n + i] -= 0.3; // indefinite too
  const { values, vectors: V } = symmetricEigen(A, n);
  const R = new Float64Array(n * n);
  const VtV = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      R[i * n + j] += V[i * n + k] * values[k] * V[j * n + k];
      VtV[i * n + j] += V[k * n + i] * V[k * n + j];
    }
  }
  assert.ok(maxAbsDiff(R, A) < 1e-12, `reconstruction error ${maxAbsDiff(R, A)}`);
  const I = Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0));
  assert.ok(maxAbsDiff(VtV, I) < 1e-12);
});

test('sqrtPsd squares back, also for a rank-deficient covariance', () => {
  const n = 16;
  const S = randomPsd(n, 6, 7); // rank 6 of 16: ten zero eigenvalues that round-off makes slightly negative
  const R = sqrtPsd(S, n);
  assert.ok(maxAbsDiff(matmul(R, R, n), S) < 1e-10, `|R² − S| = ${maxAbsDiff(matmul(R, R, n), S)}`);
  assert.ok(R.every(Number.isFinite));
});

test('Fréchet distance matches closed forms', () => {
  // Diagonal covariances: d² = ‖μa − μb‖² + Σ (√a_i − √b_i)².
  const n = 5;
  const da = [0.5, 1, 2, 0.1, 3], db = [1, 1, 0.5, 0.4, 0];
  const diag = (d: number[]) => Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? d[k / (n + 1)] : 0));
  const ma = [0, 1, 2, 3, 4], mb = [1, 1, 1, 1, 1];
  let want = 0;
  for (let i = 0; i < n; i++) want += (ma[i] - mb[i]) ** 2 + (Math.sqrt(da[i]) - Math.sqrt(db[i])) ** 2;
  const got = frechetDistance({ mean: ma, cov: diag(da) }, { mean: mb, cov: diag(db) }, n);
  assert.ok(Math.abs(got - want) < 1e-10, `${got} vs ${want}`);

  // Non-commuting 2×2: tr √(Σa Σb) from the eigenvalues of the 2×2 product (quadratic formula).
  const A = [2, 0.8, 0.8, 1], B = [1, -0.3, -0.3, 0.5];
  const P = matmul(A, B, 2);
  const tr = P[0] + P[3], det = P[0] * P[3] - P[1] * P[2];
  const disc = Math.sqrt(tr * tr / 4 - det);
  const cross = Math.sqrt(tr / 2 + disc) + Math.sqrt(tr / 2 - disc);
  const want2 = 1 + (A[0] + A[3] + B[0] + B[3]) - 2 * cross;
  const got2 = frechetDistance({ mean: [1, 0], cov: A }, { mean: [0, 0], cov: B }, 2);
  assert.ok(Math.abs(got2 - want2) < 1e-12, `${got2} vs ${want2}`);
  // Symmetric, and zero between identical distributions (rank-deficient included).
  assert.ok(Math.abs(frechetDistance({ mean: [0, 0], cov: B }, { mean: [1, 0], cov: A }, 2) - got2) < 1e-12);
  const S = randomPsd(10, 3, 11);
  const mean = Array.from({ length: 10 }, (_, i) => i / 10);
  assert.ok(frechetDistance({ mean, cov: S }, { mean, cov: S }, 10) < 1e-9);
});

test('gaussianOf: float64 mean and unbiased covariance', () => {
  const x = Float32Array.from([1, 2, 3, 6, 5, 10]); // 3 samples of dim 2
  const { mean, cov } = gaussianOf(x, 3, 2);
  assert.deepEqual(Array.from(mean), [3, 6]);
  // var(x0) = ((1-3)² + 0 + (5-3)²)/2 = 4; var(x1) = (16 + 0 + 16)/2 = 16; cov = (8 + 0 + 8)/2 = 8
  assert.deepEqual(Array.from(cov), [4, 8, 8, 16]);
  assert.throws(() => gaussianOf(x, 1, 2), /at least 2 samples/);
});

test('label similarity: 1 for the same classes, symmetric, lower for unrelated ones', () => {
  const e = (rows: number[][]) => {
    const out = rows.map((r) => {
      const n = Math.hypot(...r);
      return r.map((v) => v / n);
    });
    return { n: rows.length, dim: rows[0].length, embeddings: Float32Array.from(out.flat()) };
  };
  const a = e([[1, 0, 0], [0, 1, 0]]);
  const sub = e([[1, 0, 0]]);
  const other = e([[0, 0, 1]]);
  assert.ok(Math.abs(labelSimilarityOf(a, a) - 1) < 1e-6);
  assert.equal(labelSimilarityOf(a, sub), labelSimilarityOf(sub, a));
  assert.ok(labelSimilarityOf(a, sub) > labelSimilarityOf(a, other));
});

test('task similarities on mini-CLIP reuse the cached features', async () => {
  await initBackend('wasm');
  const model = await miniClip();
  const cell = studyCell();
  const tasks = await cell.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'CIFAR-10 animals', 'MNIST'] }));
  const vis = await cell.run(() => visualSimilarity(model, tasks, { testPerClass: 8 }));
  const lab = await cell.run(() => labelSimilarity(model, tasks));
  for (const m of [vis, lab]) {
    assert.equal(m.values.length, 3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.equal(m.values[i][j], m.values[j][i]);
  }
  assert.ok(vis.values[0][1] > 0 && Number.isFinite(vis.values[0][2]));
  // Two halves of CIFAR-10 are visually closer to each other than to MNIST, even through random weights.
  assert.ok(vis.values[0][1] < vis.values[0][2], `FD(vehicles, animals) ${vis.values[0][1]} ≥ FD(vehicles, MNIST) ${vis.values[0][2]}`);
  // A second call: every stage is a cache hit, and adding a task computes only its own distances.
  cell.mark();
  await cell.run(() => visualSimilarity(model, tasks, { testPerClass: 8 }));
  assert.equal(cell.misses().length, 0);
  const [gtsrb] = await cell.run(() => defaultTaskSuite({ only: ['GTSRB speed limits'] }));
  cell.mark();
  await cell.run(() => visualSimilarity(model, [...tasks, gtsrb], { testPerClass: 8 }));
  assert.equal(cell.misses('frechetDistance').length, 3);
  assert.equal(cell.misses('taskFeatureGaussian').length, 1);
  // Another order of the same tasks: the same distances, all from the cache.
  cell.mark();
  const reordered = await cell.run(() => visualSimilarity(model, [gtsrb, ...tasks].reverse(), { testPerClass: 8 }));
  assert.equal(cell.misses().length, 0);
  assert.equal(reordered.values[2][1], vis.values[0][1], 'FD(vehicles, animals) again'); // order: MNIST, animals, vehicles, GTSRB
});
