// Frozen image features for a dataset, as a cached stage: the image encoder runs once per
// (model fingerprint, dataset fingerprint, preprocessing, row selection); every later run, and every prompt
// learner that trains on cached features (CoOp, linear probe), reads them back without touching it.
// Stored as an Arrow IPC table (id, label, features: FixedSizeList<float32>) that any Arrow tool can open.
import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Field, FixedSizeList, Float32, Int32, Table, makeData, makeVector, tableFromIPC, tableToIPC } from 'apache-arrow';
import { Worker } from 'node:worker_threads';
import { stage, CancelledError } from '../exec/index.ts';
import type { Codec } from '../exec/index.ts';
import type { Dataset } from '../data/dataset.ts';
import { preprocessBatch } from '../data/preprocess.ts';
import type { PreprocessOptions } from '../data/preprocess.ts';
import { initBackend, currentBackend } from './backend.ts';
import type { BackendPreference } from './backend.ts';
import type { CLIPModel } from './clip.ts';
import type { FeatureWorkerInit, FeatureWorkerReply } from './feature-worker.ts';

export interface FeatureOptions {
  /** Images per encoder call (default 64). */
  batchSize?: number;
  /** Only rows of this split (the rows table's `split` column). */
  split?: string;
  /** Only these row ids (after `split`). */
  ids?: ArrayLike<number>;
  /** CLIP preprocessing; default: shortest edge and crop = the model's image size, CLIP mean/std. */
  preprocess?: PreprocessOptions;
  /** Pick a backend first ('auto': webgpu → wasm → cpu). Default: keep the current one. Not part of the key. */
  backend?: BackendPreference;
  /**
   * Worker threads, each with its own copy of the model (wasm), that preprocess and encode batches in
   * parallel: uses every core on CPU backends. Default 1 (encode in this thread). Not part of the key.
   */
  workers?: number;
}

export interface ImageFeatures {
  /** Row ids of the dataset, in feature order. */
  ids: Int32Array;
  labels: Int32Array;
  /** Projected image embeddings (unnormalized, as `get_image_features`), row-major [n, dim]. */
  features: Float32Array;
  n: number;
  dim: number;
  classNames: string[];
  model: { id: string; fingerprint: string };
  dataset: { name: string; fingerprint: string };
  /** Backend that computed them (recorded, not keyed: backends agree to ~1e-6). */
  backend: string;
  preprocess: PreprocessOptions;
}

/** Encoder work done in this process: a cache hit leaves it unchanged (tests of "0 encoder calls" use it). */
export const encoderCounters = { imageBatches: 0, images: 0 };

export const featuresCodec: Codec<ImageFeatures> = {
  async encode(f, dir) {
    const type = new FixedSizeList(f.dim, new Field('x', new Float32(), false));
    const child = makeData({ type: new Float32(), length: f.n * f.dim, data: f.features });
    const features = makeVector(makeData({ type, length: f.n, nullCount: 0, child }));
    const table = new Table({
      id: makeVector(f.ids),
      label: makeVector(f.labels),
      features,
    });
    await writeFile(join(dir, 'features.arrow'), tableToIPC(table, 'file'));
    const { ids: _i, labels: _l, features: _f, ...meta } = f;
    await writeFile(join(dir, 'features.json'), JSON.stringify(meta));
  },
  async decode(dir) {
    const meta = JSON.parse(await readFile(join(dir, 'features.json'), 'utf8')) as Omit<ImageFeatures, 'ids' | 'labels' | 'features'>;
    const table = tableFromIPC(await readFile(join(dir, 'features.arrow')));
    if (table.numRows !== meta.n) throw new Error(`features.arrow has ${table.numRows} rows, features.json says ${meta.n}`);
    const ids = Int32Array.from(table.getChild('id')!.toArray() as Int32Array);
    const labels = Int32Array.from(table.getChild('label')!.toArray() as Int32Array);
    const features = new Float32Array(meta.n * meta.dim);
    let at = 0;
    for (const d of table.getChild('features')!.data) {
      const values = d.children[0].values as Float32Array;
      const part = values.subarray(d.offset * meta.dim, (d.offset + d.length) * meta.dim);
      features.set(part, at);
      at += part.length;
    }
    if (at !== features.length) throw new Error(`features.arrow holds ${at} values, expected ${features.length}`);
    return { ...meta, ids, labels, features };
  },
};

/** Row ids and labels selected by split / ids. */
function selectRows(dataset: Dataset, opts: FeatureOptions): { ids: Int32Array; labels: Int32Array } {
  const idCol = dataset.rows.getChild('id')!.toArray() as Int32Array;
  const labelCol = dataset.rows.getChild('label')!.toArray() as Int32Array;
  const splitCol = opts.split ? dataset.rows.getChild('split') : null;
  const byId = new Map<number, number>();
  for (let r = 0; r < idCol.length; r++) byId.set(idCol[r], r);
  const wanted = opts.ids ? Array.from(opts.ids) : Array.from(idCol);
  const ids: number[] = [];
  const labels: number[] = [];
  for (const id of wanted) {
    const r = byId.get(id);
    if (r === undefined) throw new Error(`extractFeatures: dataset ${dataset.name} has no row with id ${id}`);
    if (splitCol && splitCol.get(r) !== opts.split) continue;
    ids.push(id);
    labels.push(labelCol[r]);
  }
  if (ids.length === 0) throw new Error(`extractFeatures: no rows selected from ${dataset.name}${opts.split ? ` (split "${opts.split}")` : ''}`);
  return { ids: Int32Array.from(ids), labels: Int32Array.from(labels) };
}

/**
 * Image features of `dataset` under `model`, cached. Batched, reports progress, stops between batches
 * when the cell is cancelled (nothing is stored then).
 */
export async function extractFeatures(model: CLIPModel, dataset: Dataset, opts: FeatureOptions = {}): Promise<ImageFeatures> {
  const size = model.config.vision.imageSize;
  const pre: PreprocessOptions = opts.preprocess ?? { cropSize: size, shortestEdge: size };
  if (pre.cropSize !== size) throw new Error(`extractFeatures: preprocessing crops to ${pre.cropSize} but model ${model.id} takes ${size}×${size} images`);
  const batchSize = opts.batchSize ?? 64;
  const { ids, labels } = selectRows(dataset, opts);
  return stage(
    {
      name: 'extractFeatures',
      heavy: true,
      version: 1,
      // batch size does not change the features, so it is not part of the key
      params: { preprocess: pre, split: opts.split ?? null, ids: opts.ids ? Array.from(ids) : null },
      inputs: [`clip:${model.fingerprint}`, `dataset:${dataset.fingerprint}`],
      pins: [
        { kind: 'model', name: model.id, fingerprint: model.fingerprint },
        { kind: 'dataset', name: dataset.name, fingerprint: dataset.fingerprint },
      ],
    },
    featuresCodec,
    async (ctx) => {
      const workers = opts.workers ?? 1;
      let backend: string;
      const dim = model.projectionDim;
      const features = new Float32Array(ids.length * dim);
      const started = Date.now();
      const report = (done: number) => {
        const rate = done / Math.max(1e-3, (Date.now() - started) / 1000);
        ctx.progress(done / ids.length, `${done}/${ids.length} images, ${rate.toFixed(0)}/s`);
      };
      if (workers > 1) {
        backend = await encodeWithWorkers(model, dataset, ids, pre, batchSize, workers, opts.backend ?? 'wasm', features, ctx.signal, report, ctx.log);
      } else {
        if (opts.backend) await initBackend(opts.backend);
        backend = currentBackend();
        ctx.log(`extractFeatures: ${ids.length} images of ${dataset.name} with ${model.id} on ${backend}`);
        for (let start = 0; start < ids.length; start += batchSize) {
          if (ctx.signal.aborted) throw new CancelledError(`extractFeatures cancelled after ${start} of ${ids.length} images`);
          const chunk = ids.subarray(start, Math.min(ids.length, start + batchSize));
          const px = preprocessBatch(dataset.images.batch(chunk), pre);
          const out = tf.tidy(() => model.encodeImage(tf.tensor4d(px, [chunk.length, 3, size, size])));
          features.set((await out.data()) as Float32Array, start * dim);
          out.dispose();
          encoderCounters.imageBatches++;
          encoderCounters.images += chunk.length;
          report(start + chunk.length);
          // let cancellation and progress events through between batches
          await new Promise((r) => setImmediate(r));
        }
      }
      return {
        ids, labels, features, n: ids.length, dim, classNames: dataset.classNames,
        model: { id: model.id, fingerprint: model.fingerprint },
        dataset: { name: dataset.name, fingerprint: dataset.fingerprint },
        backend, preprocess: pre,
      };
    },
  );
}

/**
 * Encode with `n` worker threads. Each holds the model (reloaded from its checkpoint directory, or sent the
 * weights), preprocesses its batches and encodes them; up to two batches per worker are in flight. Workers
 * check the model fingerprint, so they cannot silently run different weights.
 */
async function encodeWithWorkers(
  model: CLIPModel, dataset: Dataset, ids: Int32Array, pre: PreprocessOptions, batchSize: number, n: number,
  backend: BackendPreference, out: Float32Array, signal: AbortSignal, report: (done: number) => void, log: (m: string) => void,
): Promise<string> {
  const source: FeatureWorkerInit['source'] = model.sourceDir
    ? { dir: model.sourceDir }
    : { config: model.config, weights: Object.fromEntries(Object.entries(await model.exportHF()).map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }])) };
  const threads = Array.from({ length: n }, () => new Worker(new URL('../util/ts-worker.mjs', import.meta.url), { workerData: { module: new URL('./feature-worker.ts', import.meta.url).href } }));
  const waiting = new Map<number, { resolve: (f: Float32Array) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  let closing = false;
  const fail = (e: Error) => {
    failure ??= e;
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  try {
    const ready = await Promise.all(threads.map((t, i) => new Promise<{ fingerprint: string; backend: string }>((resolve, reject) => {
      t.on('message', (msg: FeatureWorkerReply) => {
        if (msg.type === 'ready') resolve(msg);
        else if (msg.type === 'features') { waiting.get(msg.id)?.resolve(msg.features); waiting.delete(msg.id); }
        else {
          const err = new Error(`feature worker ${i}: ${msg.message}`);
          if (msg.id === -1) reject(err);
          else fail(err);
        }
      });
      t.on('error', (e) => { const err = new Error(`feature worker ${i} crashed: ${e.message}`); reject(err); fail(err); });
      t.on('exit', (code) => { if (code !== 0 && !closing) { const err = new Error(`feature worker ${i} exited with code ${code}`); reject(err); fail(err); } });
      t.postMessage({ type: 'init', backend, preprocess: pre, source } satisfies FeatureWorkerInit);
    })));
    for (const r of ready) {
      if (r.fingerprint !== model.fingerprint) {
        throw new Error(`extractFeatures: a worker loaded weights with fingerprint ${r.fingerprint.slice(0, 12)}, the model is ${model.fingerprint.slice(0, 12)}; if the weights changed after loading, call model.refreshFingerprint()`);
      }
    }
    log(`extractFeatures: ${ids.length} images of ${dataset.name} with ${model.id} on ${n} workers × ${ready[0].backend}`);
    let nextId = 0;
    let done = 0;
    const starts: number[] = [];
    for (let s = 0; s < ids.length; s += batchSize) starts.push(s);
    // Each worker pulls the next batch as soon as one finishes: two in flight per worker keeps it busy
    // while the main thread reads the next images.
    const runWorker = async (w: number) => {
      while (starts.length) {
        if (signal.aborted || failure) return;
        const start = starts.shift()!;
        const chunk = ids.subarray(start, Math.min(ids.length, start + batchSize));
        const images = dataset.images.batch(chunk).map((im) => ({ ...im, data: im.data.slice() }));
        const id = nextId++;
        const feats = await new Promise<Float32Array>((resolve, reject) => {
          waiting.set(id, { resolve, reject });
          threads[w].postMessage({ type: 'encode', id, images }, images.map((im) => im.data.buffer));
        });
        out.set(feats, start * model.projectionDim);
        encoderCounters.imageBatches++;
        encoderCounters.images += chunk.length;
        done += chunk.length;
        report(done);
      }
    };
    await Promise.all(threads.flatMap((_, w) => [runWorker(w), runWorker(w)]));
    if (failure) throw failure;
    if (signal.aborted) throw new CancelledError(`extractFeatures cancelled after ${done} of ${ids.length} images`);
    return ready[0].backend;
  } finally {
    closing = true;
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

/** Features as a [n, dim] tensor (caller disposes), optionally L2-normalized. */
export function featureTensor(f: ImageFeatures, normalize = false): tf.Tensor2D {
  return tf.tidy(() => {
    const t = tf.tensor2d(f.features, [f.n, f.dim]);
    return normalize ? (t.div(t.norm('euclidean', 1, true).maximum(1e-12)) as tf.Tensor2D) : t;
  });
}
