// The data behind the variance explorer (notebooks/variance-explorer.html): for one dataset, each class's
// intra-class image-feature spread, a 2-D PCA of the test images' frozen features, the cosine similarity
// of the class names' text embeddings, and the distances between class centroids; then, for a class the
// researcher picks, its images, its nearest classes and its accuracy under each method. The charts that
// draw this (and that a click on a class drives) are in class-explorer-charts.ts.
import { stage, valueCodec } from '../exec/index.ts';
import { backboneOf, templateFor, type ModelLike } from '../model/index.ts';
import { imageGrid } from '../plots/image-grid.ts';
import { zeroShotPrompt, evaluatePrompt } from './evaluate.ts';
import { pca } from './pca.ts';
import type { MethodSpec } from './protocol.ts';
import { imageFeatures, promptPool, type PoolOptions, type PromptTask, type TaskSource } from './task.ts';
import { classTextFeatures } from './text-prompt.ts';
import { trainPrompt } from './train.ts';
import { varianceOf, type ClassVariance } from './variance.ts';

/** One test image, placed on the first two principal components of the dataset's image features. */
export interface ProjectedImage {
  /** The image's id in the dataset (the key for its pixels). */
  id: number;
  className: string;
  pc1: number;
  pc2: number;
}

export interface ClassExplorer {
  dataset: string;
  classNames: string[];
  /** The prompt templates the class-name text embeddings were made with. */
  templates: string[];
  /** Per class: intra-class image variance, text spread, nearest-class distances (variance.ts). */
  perClass: ClassVariance[];
  points: ProjectedImage[];
  /** Fraction of the image-feature variance the two components explain. */
  explained: [number, number];
  /** [C][C] cosine similarity of the class names' (normalised) text embeddings. */
  textSimilarity: number[][];
  /** [C][C] Euclidean distance between class centroids of the image features. */
  centroidDistance: number[][];
}

export interface ExplorerOptions extends PoolOptions {
  /** Default: CoOp's hand-written template for the dataset (`templateFor`). */
  templates?: string[];
}

/**
 * Stage: the explorer's data for a dataset, from the test subset the prompt learners are evaluated on
 * (the same pool and cached features as `fewShotTask` with the same pool options).
 */
export async function classExplorer(modelLike: ModelLike, source: TaskSource, opts: ExplorerOptions = {}): Promise<ClassExplorer> {
  const model = await backboneOf(modelLike);
  const templates = opts.templates ?? [templateFor(source.name)];
  const pool = await promptPool(source, opts);
  const feats = await imageFeatures(model, source, pool);
  return stage(
    { name: 'classExplorer', version: 1, params: { templates, classNames: source.classNames }, inputs: [model.fingerprint, pool, feats] },
    valueCodec<ClassExplorer>(),
    async () => {
      const C = source.classNames.length, d = feats.dim, n = pool.testIds.length;
      const text = classTextFeatures(model, source.classNames, templates);
      const t = text.dataSync() as Float32Array;
      text.dispose();
      const stats = varianceOf(source.name, source.classNames, feats.test, pool.testLabels, t, d, templates);
      const proj = pca(feats.test, n, d, 2);
      const points = Array.from(pool.testIds, (id, i) => ({
        id, className: source.classNames[pool.testLabels[i]], pc1: proj.coords[2 * i], pc2: proj.coords[2 * i + 1],
      }));
      const centroids = new Float64Array(C * d), count = new Int32Array(C);
      for (let i = 0; i < n; i++) {
        count[pool.testLabels[i]]++;
        for (let j = 0; j < d; j++) centroids[pool.testLabels[i] * d + j] += feats.test[i * d + j];
      }
      for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) centroids[c * d + j] /= Math.max(1, count[c]);
      const pairwise = (v: ArrayLike<number>, f: (a: number, b: number) => number) =>
        source.classNames.map((_, a) => source.classNames.map((_, b) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += f(v[a * d + j], v[b * d + j]);
          return s;
        }));
      return {
        dataset: source.name,
        classNames: source.classNames,
        templates,
        perClass: stats.perClass,
        points,
        explained: [proj.explained[0], proj.explained[1]],
        // Text features come normalised, so the dot product is the cosine.
        textSimilarity: pairwise(t, (a, b) => a * b),
        centroidDistance: pairwise(centroids, (a, b) => (a - b) ** 2).map((r) => r.map(Math.sqrt)),
      };
    },
  );
}

function classIndex(explorer: ClassExplorer, className: string, where: string): number {
  const c = explorer.classNames.indexOf(className);
  if (c < 0) throw new Error(`${where}: "${className}" is not a class of ${explorer.dataset} (${explorer.classNames.join(', ')})`);
  return c;
}

/**
 * Test images of one class as a thumbnail grid (`count` of them, upscaled `scale` times: the bundled
 * images are 28–32 px). `className` null (nothing picked) gives a line saying what to do instead.
 */
export function classImages(source: TaskSource, explorer: ClassExplorer, className: string | null, opts: { count?: number; scale?: number } = {}) {
  if (className === null) return { kind: 'markdown' as const, text: '*Click a class in the chart above to see its images.*' };
  classIndex(explorer, className, 'classImages');
  const ds = source.test ?? source.train;
  const ids = explorer.points.filter((p) => p.className === className).slice(0, opts.count ?? 12).map((p) => p.id);
  return imageGrid(ids.map((id) => ({ image: ds.images.get(id), label: `${className} #${id}` })), { scale: opts.scale ?? 2 });
}

export interface NearClass {
  className: string;
  /** Cosine similarity of the two class names' text embeddings (1: the same text). */
  textSimilarity: number;
  /** Distance between the two classes' image-feature centroids. */
  centroidDistance: number;
}

/** The `k` classes whose names' text embeddings are most similar to `className`'s, most similar first. */
export function nearestClasses(explorer: ClassExplorer, className: string | null, k = 5): NearClass[] {
  if (className === null) return [];
  const c = classIndex(explorer, className, 'nearestClasses');
  return explorer.classNames
    .map((name, o) => ({ className: name, textSimilarity: explorer.textSimilarity[c][o], centroidDistance: explorer.centroidDistance[c][o] }))
    .filter((_, o) => o !== c)
    .sort((a, b) => b.textSimilarity - a.textSimilarity)
    .slice(0, k);
}

export interface ClassAccuracy {
  method: string;
  className: string;
  /** Fraction of the class's test images the method labels correctly. */
  accuracy: number;
}

/**
 * Per-class test accuracy of zero-shot and each method on `task` (each training and evaluation is the
 * cached stage the few-shot protocol uses, so after the quickstart with the same settings nothing trains).
 */
export async function perClassAccuracy(modelLike: ModelLike, task: PromptTask, methods: MethodSpec[]): Promise<ClassAccuracy[]> {
  const model = await backboneOf(modelLike);
  const rows: ClassAccuracy[] = [];
  const add = (method: string, perClass: number[]) => perClass.forEach((accuracy, c) => rows.push({ method, className: task.classNames[c], accuracy }));
  add('zero-shot', (await zeroShotPrompt(model, task)).perClass);
  for (const m of methods) {
    const trained = await trainPrompt(model, task, { method: m.method, config: m.config, epochs: m.epochs, optim: m.optim, seed: task.seed });
    add(m.label ?? m.method, (await evaluatePrompt(model, task, trained)).perClass);
  }
  return rows;
}
