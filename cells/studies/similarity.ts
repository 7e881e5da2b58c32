// Task similarity beside transfer, as MVLPT relates them:
//   visual similarity: the Fréchet distance between the tasks' image-feature distributions (Gaussians
//     fitted to the L2-normalised frozen CLIP features of each task's pool and evaluation subset, the
//     features the study already cached, so no encoder runs again; the maths is in frechet.ts);
//   label similarity: how close the tasks' class names are in CLIP's text-embedding space.
// and scatter plots of transfer gain against each.
import { keyOf, stage, type StageSpec } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { vegaLite, type VegaLiteChart } from '../plots/vegalite.ts';
import type { PromptBackbone } from '../model/index.ts';
import { imageFeatures, promptPool } from '../prompts/task.ts';
import { classTextFeatures } from '../prompts/text-prompt.ts';
import { DEFAULT_TEST_PER_CLASS } from './multitask.ts';
import { taskSource, type StudyTask } from './tasks.ts';
import type { TransferMatrix } from './transfer.ts';
import { frechetDistance, gaussianOf, sqrtPsd } from './frechet.ts';
import { pearson } from '../prompts/correlation.ts';

export interface FeatureGaussian {
  dim: number;
  n: number;
  mean: number[];
  /** Row-major covariance (divided by n − 1) and its symmetric square root. */
  cov: Float32Array;
  covSqrt: Float32Array;
}

/** Stage: the Gaussian of a task's cached, L2-normalised image features (pool + evaluation subset). */
export async function taskFeatureGaussian(model: PromptBackbone, task: StudyTask, opts: { testPerClass?: number } = {}): Promise<FeatureGaussian> {
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
export function classNameEmbeddings(model: PromptBackbone, task: StudyTask, templates: readonly string[] = ['a photo of a {}.']): Promise<LabelEmbeddings> {
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
export async function visualSimilarity(model: PromptBackbone, tasks: readonly StudyTask[], opts: { testPerClass?: number } = {}): Promise<SimilarityMatrix> {
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
export async function labelSimilarity(model: PromptBackbone, tasks: readonly StudyTask[], templates?: readonly string[]): Promise<SimilarityMatrix> {
  const es: LabelEmbeddings[] = [];
  for (const t of tasks) es.push(await classNameEmbeddings(model, t, templates));
  const n = tasks.length;
  const values = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : labelSimilarityOf(es[i], es[j]))));
  return { kind: 'label', measure: 'label similarity (mean best cosine of class-name embeddings)', tasks: tasks.map((t) => t.name), values };
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
  // Pearson's r with its Fisher 95 % interval (the same reading findings.ts judges MVLPT's claim by); fewer
  // than 3 pairs say nothing.
  const c = points.length >= 3 ? pearson(points.map((p) => p.similarity), points.map((p) => p.gain)) : null;
  const r = !c || !Number.isFinite(c.r) ? 'n/a' : `${c.r.toFixed(2)}${c.n > 3 ? ` (95 % CI ${c.lo.toFixed(2)} to ${c.hi.toFixed(2)})` : ''}`;
  const title = `Transfer gain vs ${sim.kind} similarity (${matrix.method}, ${matrix.shots}-shot) — Pearson r = ${r}, ${points.length} pairs`;
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
