// Task similarity beside transfer, as MVLPT relates them:
//   visual similarity: the Fréchet distance between the tasks' image-feature distributions (Gaussians
//     fitted to the L2-normalised frozen CLIP features of each task's pool and evaluation subset, the
//     features the study already cached, so no encoder runs again);
//   label similarity: how close the tasks' class names are in CLIP's text-embedding space.
// and scatter plots of transfer gain against each.
//
// Fréchet distance d² = ‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa Σb)^½. The cross term is computed as
// tr (Σa^½ Σb Σa^½)^½, which has the same eigenvalues as (Σa Σb)^½ but is a *symmetric* PSD matrix, so both
// square roots come from eigen-decompositions of symmetric matrices (cyclic Jacobi, float64) with
// negative round-off eigenvalues clamped to 0 — no complex parts, no Newton–Schulz iteration to diverge.
import { keyOf, stage, type StageSpec } from '../exec/stage.ts';
import { valueCodec } from '../exec/codecs.ts';
import { vegaLite, type VegaLiteChart } from '../plots/vegalite.ts';
import type { PromptBackbone } from '../prompts/backbone.ts';
import { imageFeatures, promptPool } from '../prompts/task.ts';
import { classTextFeatures } from '../prompts/text-prompt.ts';
import { DEFAULT_TEST_PER_CLASS } from './multitask.ts';
import { taskSource, type Task } from './tasks.ts';
import type { TransferMatrix } from './transfer.ts';

/** Symmetric eigen-decomposition (cyclic Jacobi) of an n×n row-major matrix, in float64. */
export function symmetricEigen(a: ArrayLike<number>, n: number, opts: { tolerance?: number; maxSweeps?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for a ${n}×${n} matrix`);
  const A = Float64Array.from(a);
  // Symmetrise: callers pass covariances whose float32 round-off leaves them a hair off symmetric.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += A[i] * A[i];
  const tol = (opts.tolerance ?? 1e-14) * Math.sqrt(norm);
  const maxSweeps = opts.maxSweeps ?? 100;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    if (Math.sqrt(2 * off) <= tol) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) <= 1e-300) continue;
        const app = A[p * n + p], aqq = A[q * n + q];
        // Rotation angle that zeroes A[p][q] (Golub & Van Loan's symmetric Schur step).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/** Square root of a symmetric PSD matrix (V diag(√max(λ,0)) Vᵀ), float64, row-major. */
export function sqrtPsd(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const r = Array.from(values, (l) => Math.sqrt(Math.max(0, l)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += V[i * n + k] * r[k] * V[j * n + k];
      out[i * n + j] = out[j * n + i] = s;
    }
  }
  return out;
}

/** A Gaussian fitted to a task's image features, with Σ^½ precomputed (reused by every pair). */
export interface FeatureGaussian {
  dim: number;
  n: number;
  mean: number[];
  /** Row-major covariance (divided by n − 1) and its symmetric square root. */
  cov: Float32Array;
  covSqrt: Float32Array;
}

/** Mean and covariance of row-major samples [n, dim], accumulated in float64. */
export function gaussianOf(x: Float32Array, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  if (n < 2) throw new Error(`gaussianOf: need at least 2 samples, got ${n}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) c[d] = x[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      const ca = c[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += ca * c[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { mean, cov };
}

/** Squared Fréchet distance between two Gaussians (float64 throughout). */
export function frechetDistance(
  a: { mean: ArrayLike<number>; cov: ArrayLike<number>; covSqrt?: ArrayLike<number> },
  b: { mean: ArrayLike<number>; cov: ArrayLike<number> },
  dim: number,
): number {
  if (a.mean.length !== dim || b.mean.length !== dim) throw new Error(`frechetDistance: means of ${a.mean.length} and ${b.mean.length} values for dimension ${dim}`);
  let d2 = 0;
  for (let i = 0; i < dim; i++) d2 += (a.mean[i] - b.mean[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < dim; i++) tr += a.cov[i * dim + i] + b.cov[i * dim + i];
  const S = a.covSqrt ? Float64Array.from(a.covSqrt) : sqrtPsd(a.cov, dim);
  // M = S Σb S (symmetric PSD); tr √M = Σ √λ(M).
  const T = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let k = 0; k < dim; k++) {
    const sik = S[i * dim + k];
    if (sik === 0) continue;
    for (let j = 0; j < dim; j++) T[i * dim + j] += sik * b.cov[k * dim + j];
  }
  const M = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let k = 0; k < dim; k++) {
    const tik = T[i * dim + k];
    if (tik === 0) continue;
    for (let j = 0; j < dim; j++) M[i * dim + j] += tik * S[k * dim + j];
  }
  const { values } = symmetricEigen(M, dim);
  let cross = 0;
  for (const l of values) cross += Math.sqrt(Math.max(0, l));
  // Round-off can take a distance between identical distributions a hair below 0.
  return Math.max(0, d2 + tr - 2 * cross);
}

/** Stage: the Gaussian of a task's cached, L2-normalised image features (pool + evaluation subset). */
export async function taskFeatureGaussian(model: PromptBackbone, task: Task, opts: { testPerClass?: number } = {}): Promise<FeatureGaussian> {
  const source = taskSource(task);
  const pool = await promptPool(source, { poolPerClass: task.poolPerClass, testPerClass: opts.testPerClass ?? DEFAULT_TEST_PER_CLASS });
  const feats = await imageFeatures(model, source, pool);
  return stage(
    { name: 'taskFeatureGaussian', version: 1, inputs: [feats] },
    valueCodec<FeatureGaussian>(),
    async () => {
      const P = feats.dim;
      const nTrain = feats.train.length / P, nTest = feats.test.length / P;
      const all = new Float32Array((nTrain + nTest) * P);
      all.set(feats.train, 0);
      all.set(feats.test, nTrain * P);
      const { mean, cov } = gaussianOf(all, nTrain + nTest, P);
      return { dim: P, n: nTrain + nTest, mean: Array.from(mean), cov: Float32Array.from(cov), covSqrt: Float32Array.from(sqrtPsd(cov, P)) };
    },
  );
}

export interface LabelEmbeddings {
  n: number;
  dim: number;
  /** [n, dim] row-major, rows L2-normalised. */
  embeddings: Float32Array;
}

/** Stage: L2-normalised text embeddings [C, P] of the task's class names under `templates`. */
export function classNameEmbeddings(model: PromptBackbone, task: Task, templates: readonly string[] = ['a photo of a {}.']): Promise<LabelEmbeddings> {
  const spec: StageSpec = { name: 'classNameEmbeddings', version: 1, params: { classNames: task.classNames, templates }, inputs: [`clip:${model.fingerprint}`] };
  return stage(spec, valueCodec<LabelEmbeddings>(), async () => {
    const t = classTextFeatures(model, task.classNames, [...templates]);
    const embeddings = (await t.data()) as Float32Array;
    const [n, dim] = t.shape;
    t.dispose();
    return { n, dim, embeddings: Float32Array.from(embeddings) };
  });
}

/**
 * Label similarity of two tasks: the symmetric mean best match of their class-name embeddings,
 * ½ (mean over a's classes of the best cosine to b's + the same from b to a). Shared classes score 1,
 * so a class subset is close to its parent; unrelated vocabularies score low.
 */
export function labelSimilarityOf(a: LabelEmbeddings, b: LabelEmbeddings): number {
  if (a.dim !== b.dim) throw new Error(`labelSimilarity: embeddings of dimension ${a.dim} and ${b.dim}`);
  const D = a.dim;
  const bestA = new Array<number>(a.n).fill(-Infinity), bestB = new Array<number>(b.n).fill(-Infinity);
  for (let i = 0; i < a.n; i++) {
    for (let j = 0; j < b.n; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += a.embeddings[i * D + d] * b.embeddings[j * D + d];
      if (s > bestA[i]) bestA[i] = s;
      if (s > bestB[j]) bestB[j] = s;
    }
  }
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  return 0.5 * (mean(bestA) + mean(bestB));
}

export interface SimilarityMatrix {
  kind: 'visual' | 'label';
  /** What the number means, for axis titles. */
  measure: string;
  tasks: string[];
  /** values[i][j]: between task i and task j (symmetric; the diagonal is 0 distance / 1 similarity). */
  values: number[][];
}

/** Fréchet distances between every pair of tasks' image-feature Gaussians (features from the cache). */
export async function visualSimilarity(model: PromptBackbone, tasks: readonly Task[], opts: { testPerClass?: number } = {}): Promise<SimilarityMatrix> {
  const gs: FeatureGaussian[] = [];
  for (const t of tasks) gs.push(await taskFeatureGaussian(model, t, opts));
  const n = tasks.length;
  const values = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      // Each pair is its own small stage, so adding a task computes only its own row of distances. The
      // pair is keyed in a canonical order (the distance is symmetric): reordering a selection recomputes nothing.
      const [a, b] = keyOf(gs[i]) <= keyOf(gs[j]) ? [gs[i], gs[j]] : [gs[j], gs[i]];
      const d = await stage(
        { name: 'frechetDistance', version: 1, inputs: [a, b] },
        valueCodec<{ d2: number }>(),
        async () => ({ d2: frechetDistance(a, b, a.dim) }),
      );
      values[i][j] = values[j][i] = d.d2;
    }
  }
  return { kind: 'visual', measure: 'Fréchet distance of image features (lower = more similar)', tasks: tasks.map((t) => t.name), values };
}

/** Label similarity between every pair of tasks (text embeddings of class names, cached per task). */
export async function labelSimilarity(model: PromptBackbone, tasks: readonly Task[], templates?: readonly string[]): Promise<SimilarityMatrix> {
  const es: LabelEmbeddings[] = [];
  for (const t of tasks) es.push(await classNameEmbeddings(model, t, templates));
  const n = tasks.length;
  const values = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : labelSimilarityOf(es[i], es[j]))));
  return { kind: 'label', measure: 'label similarity (mean best cosine of class-name embeddings)', tasks: tasks.map((t) => t.name), values };
}

/** Pearson correlation (NaN when fewer than 3 points or no variance). */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 3) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

export interface GainSimilarityPoint {
  source: string;
  target: string;
  similarity: number;
  gain: number;
  gain_std: number;
  same_domain: boolean;
  target_domain: string;
}

/** One point per off-diagonal matrix cell: the pair's similarity and its transfer gain. */
export function gainVsSimilarity(matrix: TransferMatrix, sim: SimilarityMatrix): GainSimilarityPoint[] {
  const index = new Map(sim.tasks.map((t, i) => [t, i]));
  return matrix.cells.filter((c) => c.source !== c.target).map((c) => {
    const i = index.get(c.source), j = index.get(c.target);
    if (i === undefined || j === undefined) throw new Error(`gainVsSimilarity: the similarity matrix has no task "${i === undefined ? c.source : c.target}"; compute it over the same tasks as the transfer matrix`);
    return {
      source: c.source, target: c.target, similarity: sim.values[i][j], gain: c.gain.mean, gain_std: c.gain.std,
      same_domain: c.sourceDomain === c.targetDomain, target_domain: c.targetDomain,
    };
  });
}

/** Vega-Lite scatter of transfer gain against a similarity, with a least-squares line and Pearson r in the title. */
export function similarityScatter(matrix: TransferMatrix, sim: SimilarityMatrix, opts: { width?: number; height?: number } = {}): VegaLiteChart {
  const points = gainVsSimilarity(matrix, sim);
  const r = pearson(points.map((p) => p.similarity), points.map((p) => p.gain));
  const title = `Transfer gain vs ${sim.kind} similarity (${matrix.method}, ${matrix.shots}-shot) — Pearson r = ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'}, ${points.length} pairs`;
  const x = { field: 'similarity', type: 'quantitative', title: sim.measure, scale: { zero: false } };
  return vegaLite({
    title,
    width: opts.width ?? 360,
    height: opts.height ?? 260,
    data: { values: points },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x,
          y: { field: 'gain', type: 'quantitative', title: 'transfer gain (accuracy, source init − default init)', axis: { format: '+.0%' } },
          color: { field: 'target_domain', type: 'nominal', title: 'target domain' },
          shape: { field: 'same_domain', type: 'nominal', title: 'same domain' },
          tooltip: [
            { field: 'source', type: 'nominal' },
            { field: 'target', type: 'nominal' },
            { field: 'similarity', type: 'quantitative', format: '.3f' },
            { field: 'gain', type: 'quantitative', format: '+.2%' },
            { field: 'gain_std', type: 'quantitative', title: '± std', format: '.2%' },
          ],
        },
      },
      {
        mark: { type: 'line', color: '#555', strokeDash: [4, 3] },
        transform: [{ regression: 'gain', on: 'similarity' }],
        encoding: { x, y: { field: 'gain', type: 'quantitative' } },
      },
      {
        mark: { type: 'rule', color: '#999' },
        encoding: { y: { datum: 0 } },
      },
    ],
  });
}
