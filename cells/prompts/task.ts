// From datasets to what a prompt learner trains on, as three cached stages:
//   promptPool     a fixed per-class pool of training images (few-shot draws come from it) and a test subset;
//   imageFeatures  frozen, L2-normalised image features of the pool and the test subset (one encoder pass);
//   fewShotSplit   K shots per class for training and min(K, 4) for validation, by seed, inside the pool.
// The pool does not depend on K or the seed, so changing either never re-extracts features: editing the
// shots or the prompt re-runs only the split (milliseconds), training and evaluation.
// `fewShotTask` runs imageFeatures on demand: only a reader of the frozen features (CoOp, the linear probe,
// zero-shot; `task.loadFeatures()`) runs it. Learners that train on pixels (VPT, UPT, visual reprogramming,
// Pro-tuning, fine-tuning) never need it, and the task's keys do not wait for it: a stage's key is known
// from its inputs before it runs, so they are the same whether the features were computed or not.
import * as tf from '@tensorflow/tfjs';
import type { Table } from 'apache-arrow';
import type { Dataset } from '../data/dataset.ts';
import type { BundledName } from '../data/bundled.ts';
import { loadDataset } from '../data/cached.ts';
import { preprocessInto } from '../data/preprocess.ts';
import { stage, keyOf, stageKey, type StageSpec } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { backboneOf, type ModelLike, type PromptBackbone } from '../model/index.ts';
import type { TaskClasses } from './trainer.ts';
import { rng, shuffled } from './random.ts';
import { mixSeed } from '../util/random.ts';

/** A classification task: class names and where its training and test images come from. */
export interface TaskSource {
  name: string;
  /** Class names of the task, in task label order. */
  classNames: string[];
  /**
   * Dataset labels of the task's classes, in task label order (a class subset, renumbered 0..n-1).
   * Default: labels 0..classNames.length-1 of the dataset.
   */
  classes?: number[];
  train: Dataset;
  /**
   * Test images. When absent: the train dataset's 'train'/'test' rows if it has both splits, else a seeded
   * per-class hold-out (test images first, the pool from the rest: disjoint by construction), which is what
   * the bundled test-only subsets need.
   */
  test?: Dataset;
}

export interface PoolOptions {
  /** Training images kept per class (the largest K plus the validation shots must fit). Default 24. */
  poolPerClass?: number;
  /** Test images per class (evaluation subset). Default 100. */
  testPerClass?: number;
}

export interface FewShotOptions extends PoolOptions {
  shots: number;
  seed: number;
  /** Validation shots per class (CoOp: min(K, 4)). */
  valShots?: number;
}

export interface Pool {
  trainIds: Int32Array;
  trainLabels: Int32Array;
  testIds: Int32Array;
  testLabels: Int32Array;
}

export interface PoolFeatures {
  dim: number;
  /** [trainIds.length, dim], L2-normalised. */
  train: Float32Array;
  /** [testIds.length, dim], L2-normalised. */
  test: Float32Array;
}

export interface TaskSplitData {
  count: number;
  labels: Int32Array;
  /**
   * [count, dim], L2-normalised frozen image features. A `fewShotTask` computes them on demand: reading this
   * before `await task.loadFeatures()` is an error saying so.
   */
  readonly features: Float32Array;
  /** pixel_values for the given rows of this split, [rows.length, 3, S, S]. */
  pixels(rows: ArrayLike<number>): Float32Array;
}

/** What trainers and evaluation consume: classes, the few-shot splits and the test subset, with a provenance key. */
export interface PromptTask extends TaskClasses {
  key: string;
  /** Key of the test subset and its features alone (zero-shot does not depend on K or the seed). */
  testKey: string;
  /**
   * Key of what training reads and nothing of the test subset: the training and validation rows' dataset,
   * image ids and labels. A method registered with `keyOnTrainingRows` (one that trains on pixels) is keyed
   * on it, so evaluating on another test subset (its size, a corrupted copy, another folder) does not
   * re-train it. (Frozen features are no part of it: they are a function of the model, which every training
   * key holds, and these images; before they were computed on demand it hashed them too.)
   */
  trainKey: string;
  modelFingerprint: string;
  shots: number;
  seed: number;
  dim: number;
  imageSize: number;
  train: TaskSplitData;
  val: TaskSplitData;
  test: TaskSplitData;
  /** Whether `features` can be read: false for a `fewShotTask` until `loadFeatures()`. */
  readonly featuresLoaded: boolean;
  /**
   * Makes `train/val/test.features` readable: for a `fewShotTask`, runs its imageFeatures stage (a cache hit
   * when any run computed them) in the calling cell; a no-op once they are in memory.
   */
  loadFeatures(): Promise<void>;
}

/** Rows `rows` of a row-major array of rows `width` long, in that order. */
export function gatherRows(from: Float32Array, rows: ArrayLike<number>, width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) out.set(from.subarray(rows[i] * width, (rows[i] + 1) * width), i * width);
  return out;
}

function column<T>(rows: Table, name: string, where: string): T {
  const c = rows.getChild(name);
  if (!c) throw new Error(`${where}: dataset rows have no "${name}" column`);
  return c.toArray() as T;
}

function perClassIds(ds: Dataset, classes: number[], split: string | null, perClass: number, seed: number, where: string): { ids: number[]; labels: number[] } {
  const nClasses = classes.length;
  const taskLabel = new Map(classes.map((l, k) => [l, k]));
  if (ds.multiLabel) throw new Error(`${where}: dataset "${ds.name}" is multi-label; prompt learners here need single-label classification`);
  const ids = column<Int32Array>(ds.rows, 'id', where);
  const labels = column<Int32Array>(ds.rows, 'label', where);
  const splits = split ? (ds.rows.getChild('split')?.toArray() as string[] | undefined) : undefined;
  const byClass: number[][] = Array.from({ length: nClasses }, () => []);
  for (let r = 0; r < ids.length; r++) {
    if (splits && splits[r] !== split) continue;
    const k = taskLabel.get(labels[r]);
    if (k !== undefined) byClass[k].push(ids[r]);
  }
  const out = { ids: [] as number[], labels: [] as number[] };
  const rand = rng(seed);
  byClass.forEach((list, k) => {
    if (list.length === 0) throw new Error(`${where}: class ${k} (dataset label ${classes[k]}) has no images in dataset "${ds.name}"${split ? ` (split "${split}")` : ''}`);
    for (const id of shuffled(list, rand).slice(0, perClass)) {
      out.ids.push(id);
      out.labels.push(k);
    }
  });
  return out;
}

/** Stage: the per-class training pool and test subset (independent of K, seed and model). */
export function promptPool(source: TaskSource, opts: PoolOptions = {}): Promise<Pool> {
  const poolPerClass = opts.poolPerClass ?? 24;
  const testPerClass = opts.testPerClass ?? 100;
  const testDs = source.test ?? source.train;
  const classes = source.classes ?? source.classNames.map((_, k) => k);
  if (classes.length !== source.classNames.length) {
    throw new Error(`promptPool(${source.name}): ${source.classNames.length} class names but ${classes.length} class labels`);
  }
  return stage(
    { name: 'promptPool', version: 2, params: { poolPerClass, testPerClass, classNames: source.classNames, classes, sameFile: !source.test },
      inputs: [source.train.fingerprint, testDs.fingerprint],
      pins: [{ kind: 'dataset', name: source.train.name, fingerprint: source.train.fingerprint }] },
    valueCodec<Pool>(),
    async () => {
      const where = `promptPool(${source.name})`;
      if (source.test) {
        const tr = perClassIds(source.train, classes, null, poolPerClass, 0, where);
        const te = perClassIds(source.test, classes, null, testPerClass, 1, where);
        return poolOf(tr, te);
      }
      const splits = new Set(source.train.rows.getChild('split')?.toArray() as string[] | undefined);
      if (splits.has('train') && splits.has('test')) {
        return poolOf(perClassIds(source.train, classes, 'train', poolPerClass, 0, where), perClassIds(source.train, classes, 'test', testPerClass, 1, where));
      }
      const all = perClassIds(source.train, classes, null, testPerClass + poolPerClass, 2, where);
      const tr = { ids: [] as number[], labels: [] as number[] }, te = { ids: [] as number[], labels: [] as number[] };
      const seen = new Map<number, number>();
      all.ids.forEach((id, i) => {
        const k = all.labels[i];
        const n = seen.get(k) ?? 0;
        seen.set(k, n + 1);
        const into = n < testPerClass ? te : tr;
        into.ids.push(id);
        into.labels.push(k);
      });
      for (let k = 0; k < classes.length; k++) {
        if ((seen.get(k) ?? 0) <= testPerClass) {
          throw new Error(`${where}: class ${k} has ${seen.get(k) ?? 0} images, not enough for ${testPerClass} test images plus a pool; lower testPerClass`);
        }
      }
      return poolOf(tr, te);
    },
  );
}

function poolOf(tr: { ids: number[]; labels: number[] }, te: { ids: number[]; labels: number[] }): Pool {
  return {
    trainIds: Int32Array.from(tr.ids), trainLabels: Int32Array.from(tr.labels),
    testIds: Int32Array.from(te.ids), testLabels: Int32Array.from(te.labels),
  };
}

/** Preprocessed pixel_values for dataset ids, [ids.length, 3, S, S]. */
export function pixelsOf(ds: Dataset, ids: ArrayLike<number>, size: number): Float32Array {
  const per = 3 * size * size;
  const out = new Float32Array(ids.length * per);
  for (let i = 0; i < ids.length; i++) preprocessInto(ds.images.get(ids[i]), size, out, i * per);
  return out;
}

function imageFeaturesSpec(model: PromptBackbone, pool: Pool, batchSize: number): StageSpec {
  return {
    name: 'imageFeatures', version: 1, heavy: true, params: { batchSize }, inputs: [model.fingerprint, pool],
    pins: [{ kind: 'model', name: model.name, fingerprint: model.fingerprint }],
  };
}

/** Stage: frozen image features of the pool and the test subset (the only place the image tower runs for CoOp/linear probe). */
export async function imageFeatures(modelLike: ModelLike, source: TaskSource, pool: Pool, batchSize = 64): Promise<PoolFeatures> {
  const model = await backboneOf(modelLike);
  const testDs = source.test ?? source.train;
  return stage(
    imageFeaturesSpec(model, pool, batchSize),
    valueCodec<PoolFeatures>(),
    async (ctx) => {
      const P = model.config.projectionDim;
      const S = model.config.vision.imageSize;
      const total = pool.trainIds.length + pool.testIds.length;
      let done = 0;
      const run = async (ds: Dataset, ids: Int32Array): Promise<Float32Array> => {
        const out = new Float32Array(ids.length * P);
        for (let s = 0; s < ids.length; s += batchSize) {
          ctx.signal.throwIfAborted();
          const chunk = ids.subarray(s, Math.min(ids.length, s + batchSize));
          const px = tf.tensor4d(pixelsOf(ds, chunk, S), [chunk.length, 3, S, S]);
          const f = tf.tidy(() => {
            const e = model.encodeImage(px);
            return e.div(tf.maximum(e.norm('euclidean', -1, true), 1e-12));
          });
          out.set(await f.data(), s * P);
          tf.dispose([px, f]);
          done += chunk.length;
          ctx.progress(done / total, `${done}/${total} images`);
        }
        return out;
      };
      return { dim: P, train: await run(source.train, pool.trainIds), test: await run(testDs, pool.testIds) };
    },
  );
}

export interface SplitIndex {
  train: Int32Array;
  val: Int32Array;
}

/** Stage: K training shots and min(K,4) validation shots per class, drawn by seed from the pool (rows of the pool). */
export function fewShotRows(pool: Pool, nClasses: number, shots: number, seed: number, valShots = Math.min(shots, 4)): Promise<SplitIndex> {
  return stage(
    { name: 'fewShotSplit', version: 1, params: { shots, seed, valShots, nClasses }, inputs: [pool] },
    valueCodec<SplitIndex>(),
    async () => {
      const byClass: number[][] = Array.from({ length: nClasses }, () => []);
      pool.trainLabels.forEach((l, r) => byClass[l].push(r));
      const train: number[] = [], val: number[] = [];
      const rand = rng(mixSeed(seed, shots, 17));
      byClass.forEach((rows, k) => {
        if (rows.length < shots + valShots) {
          throw new Error(`fewShotSplit: class ${k} has ${rows.length} pool images, fewer than ${shots} shots + ${valShots} validation; raise poolPerClass (for a small test-only dataset held out per class, lower testPerClass too)`);
        }
        const s = shuffled(rows, rand);
        train.push(...s.slice(0, shots));
        val.push(...s.slice(shots, shots + valShots));
      });
      return { train: Int32Array.from(train), val: Int32Array.from(val) };
    },
  );
}

/**
 * Frozen features of a pool not computed yet: the imageFeatures stage's key (what `keyOf` gives its result)
 * and how to run it.
 */
export interface PendingFeatures {
  pending: true;
  key: string;
  load(): Promise<PoolFeatures>;
}

/** The imageFeatures stage of a pool as `PendingFeatures`: nothing runs until `load`. */
export async function imageFeaturesOnDemand(modelLike: ModelLike, source: TaskSource, pool: Pool, batchSize = 64): Promise<PendingFeatures> {
  const model = await backboneOf(modelLike);
  return { pending: true, key: await stageKey(imageFeaturesSpec(model, pool, batchSize)), load: () => imageFeatures(model, source, pool, batchSize) };
}

/** The few-shot task for (source, K, seed) on `model`: pool → split, cached, and features on demand (`task.loadFeatures()`). */
export async function fewShotTask(modelLike: ModelLike, source: TaskSource, opts: FewShotOptions): Promise<PromptTask> {
  const model: PromptBackbone = await backboneOf(modelLike);
  if (!Number.isInteger(opts.shots) || opts.shots < 1) throw new Error(`fewShotTask(${source.name}): shots must be a positive integer, got ${opts.shots}`);
  const pool = await promptPool(source, opts);
  const feats = await imageFeaturesOnDemand(model, source, pool);
  const split = await fewShotRows(pool, source.classNames.length, opts.shots, opts.seed, opts.valShots);
  return taskFromPool(model, source, pool, feats, split, { shots: opts.shots, seed: opts.seed });
}

/**
 * One split of a task. `features` is a getter on the class, not an own property: it may throw (features not
 * loaded yet), and code that walks a value's own properties (output writers, the kernel's views) must not
 * trip over it or copy the array.
 */
class TaskSplit implements TaskSplitData {
  readonly count: number;
  #features: Float32Array | undefined;
  readonly #pickFeatures: () => Float32Array;
  readonly #pickPixels: (rows: ArrayLike<number>) => Float32Array;
  constructor(readonly labels: Int32Array, pickFeatures: () => Float32Array, pickPixels: (rows: ArrayLike<number>) => Float32Array) {
    this.count = labels.length;
    this.#pickFeatures = pickFeatures;
    this.#pickPixels = pickPixels;
  }

  get features(): Float32Array {
    return (this.#features ??= this.#pickFeatures());
  }

  pixels(rows: ArrayLike<number>): Float32Array {
    return this.#pickPixels(rows);
  }
}

/**
 * The task over a pool, its features (computed, or pending: run by `task.loadFeatures()`) and a choice of pool
 * rows for training and validation (`split`, rows of the pool): what `fewShotTask` returns for a K-shot draw,
 * and what a caller that trains on other rows of a pool (all of them, a long-tailed set) builds the same
 * way. Its key is the pool's, the features' and the split's.
 */
export function taskFromPool(model: PromptBackbone, source: TaskSource, pool: Pool, feats: PoolFeatures | PendingFeatures, split: SplitIndex, opts: { shots: number; seed: number }): PromptTask {
  const S = model.config.vision.imageSize;
  const P = model.config.projectionDim;
  const testDs = source.test ?? source.train;
  const pixelMemo = new Map<number, Float32Array>();
  let loaded: PoolFeatures | undefined = 'pending' in feats ? undefined : feats;
  const view = (name: string, rows: Int32Array | null, ds: Dataset, ids: Int32Array, labels: Int32Array, side: 'train' | 'test'): TaskSplitData => {
    const pick = rows ?? Int32Array.from({ length: ids.length }, (_, i) => i);
    return new TaskSplit(Int32Array.from(pick, (r) => labels[r]), () => {
      if (!loaded) throw new Error(`task ${source.name}: its frozen image features are computed on demand; await task.loadFeatures() before reading task.${name}.features`);
      return gatherRows(loaded[side], pick, P);
    }, (sel) => {
      const per = 3 * S * S;
      const out = new Float32Array(sel.length * per);
      for (let i = 0; i < sel.length; i++) {
        const id = ids[pick[sel[i]]];
        // Few-shot training images are preprocessed once and reused every epoch; test images are read
        // once per evaluation, so they are not kept (at 224 px a test subset would cost hundreds of MB).
        if (side === 'test') {
          preprocessInto(ds.images.get(id), S, out, i * per);
          continue;
        }
        let px = pixelMemo.get(id);
        if (!px) {
          px = pixelsOf(ds, [id], S);
          pixelMemo.set(id, px);
        }
        out.set(px, i * per);
      }
      return out;
    });
  };
  const train = view('train', split.train, source.train, pool.trainIds, pool.trainLabels, 'train');
  const val = view('val', split.val, source.train, pool.trainIds, pool.trainLabels, 'train');
  const rowsKey = (rows: Int32Array, v: TaskSplitData): string => keyOf({ ids: Int32Array.from(rows, (r) => pool.trainIds[r]), labels: v.labels });
  // A stage's result is keyed by its stage key, which pending features know before running: the keys are
  // those of the computed features either way.
  const featuresKey = 'pending' in feats ? feats.key : keyOf(feats);
  return {
    name: source.name,
    classNames: source.classNames,
    key: keyOf({ pool: keyOf(pool), features: featuresKey, split: keyOf(split) }),
    trainKey: keyOf({ dataset: source.train.fingerprint, train: rowsKey(split.train, train), val: rowsKey(split.val, val) }),
    testKey: keyOf({ pool: keyOf(pool), features: featuresKey }),
    modelFingerprint: model.fingerprint,
    shots: opts.shots,
    seed: opts.seed,
    dim: P,
    imageSize: S,
    train,
    val,
    test: view('test', null, testDs, pool.testIds, pool.testLabels, 'test'),
    get featuresLoaded() {
      return loaded !== undefined;
    },
    async loadFeatures() {
      if (loaded || !('pending' in feats)) return;
      loaded = await feats.load();
    },
  };
}

/**
 * A bundled dataset (data/datasets, test subsets only) as a task source; `classes` picks a class subset by
 * label or name (renumbered in the given order). Pool and test images come from a per-class hold-out.
 */
export async function bundledSource(name: BundledName, classes?: (number | string)[]): Promise<TaskSource> {
  // Through the cache: a warm run restores the decoded images instead of decoding every JPEG again.
  const ds = await loadDataset({ kind: 'bundled', name });
  if (!classes) return { name, classNames: ds.classNames, train: ds };
  const labels = classes.map((c) => {
    const l = typeof c === 'number' ? c : ds.classNames.indexOf(c);
    if (!(l >= 0 && l < ds.classNames.length)) throw new Error(`bundledSource(${name}): no class ${JSON.stringify(c)}; classes: ${ds.classNames.join(', ')}`);
    return l;
  });
  return { name: `${name}[${labels.join(',')}]`, classNames: labels.map((l) => ds.classNames[l]), classes: labels, train: ds };
}
