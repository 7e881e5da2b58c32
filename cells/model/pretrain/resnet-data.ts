// The ResNet's pretraining images: the CIFAR-10 training images of ../shared minus the few-shot pool and
// the validation slice, split by mini-CLIP's own rule (data.ts splitPool: cells/data/splits.ts holdOutPool,
// 10% per class, same seed), so neither backbone ever sees an image a prompt learner samples its shots
// from. The CIFAR-10 test images are never read for training (finalize evaluates on them). Decoded once into
// a uint8 cache in the work directory.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.ts';
import { IMAGE_SIZE, defaultDatasetsRoot, labelsById, loadCifarTest, loadCifarTrain, splitPool, toRgb32 } from './data.ts';
import type { Dataset } from '../../data/dataset.ts';

/** Labelled 32×32 RGB images, interleaved uint8 [count, 32, 32, 3]. */
export interface LabelledImages {
  pixels: Uint8Array;
  labels: Int32Array;
  count: number;
}

export interface ResNetPretrainData {
  train: LabelledImages;
  val: LabelledImages;
  classNames: string[];
  /** Size of the held-out few-shot pool (never trained on). */
  poolSize: number;
  /** The split's parameters, for the model card. */
  split: { seed: number; fraction: number; valPerClass: number };
}

const PER = IMAGE_SIZE * IMAGE_SIZE * 3;
const CACHE_VERSION = 1;

function gather(ds: Dataset, ids: number[], labels: Int32Array): LabelledImages {
  const out: LabelledImages = { pixels: new Uint8Array(ids.length * PER), labels: new Int32Array(ids.length), count: ids.length };
  ids.forEach((id, i) => {
    out.pixels.set(toRgb32(ds.images.get(id)), i * PER);
    out.labels[i] = labels[id];
  });
  return out;
}

/**
 * Up to `limit` images of a dataset in row order, at most ⌈limit / classes⌉ of each class: every image
 * when the limit covers the set, else a class-balanced subset. The CIFAR-10 test set is stored class by
 * class, so its first N rows alone would be one class (and a "test accuracy" of whatever the model
 * predicts most). Only the chosen images are decoded.
 */
export function balancedImages(ds: Dataset, limit = Infinity): LabelledImages {
  const rows = Array.from(ds.rows.getChild('id')!.toArray() as Int32Array);
  const labels = labelsById(ds);
  if (limit >= rows.length) return gather(ds, rows, labels);
  const perClass = Math.ceil(limit / ds.classNames.length);
  const taken = new Array<number>(ds.classNames.length).fill(0);
  const ids: number[] = [];
  for (const id of rows) {
    if (ids.length >= limit) break;
    if (taken[labels[id]] < perClass) {
      taken[labels[id]]++;
      ids.push(id);
    }
  }
  return gather(ds, ids, labels);
}

/** The CIFAR-10 test set (10,000 images), or a class-balanced `limit` of them, decoded. */
export async function loadCifarTestImages(root = defaultDatasetsRoot(), limit = Infinity): Promise<{ images: LabelledImages; classNames: string[] }> {
  const ds = await loadCifarTest(root);
  try {
    return { images: balancedImages(ds, limit), classNames: ds.classNames };
  } finally {
    ds.images.close();
  }
}

interface CacheMeta {
  version: number; seed: number; fraction: number; valPerClass: number;
  train: number; val: number; poolSize: number; classNames: string[];
}

/** The train/val images, from `cacheDir` when it holds this split, else decoded (≈10 s) and cached. */
export async function loadResNetPretrainData(cacheDir: string, opts: { seed: number; fraction?: number; valPerClass?: number; datasetsRoot?: string; log?: (s: string) => void }): Promise<ResNetPretrainData> {
  const fraction = opts.fraction ?? 0.1, valPerClass = opts.valPerClass ?? 50;
  const split = { seed: opts.seed, fraction, valPerClass };
  const metaPath = join(cacheDir, 'cifar10-images.json'), binPath = join(cacheDir, 'cifar10-images.u8');
  if (existsSync(metaPath) && existsSync(binPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CacheMeta;
    if (meta.version === CACHE_VERSION && meta.seed === opts.seed && meta.fraction === fraction && meta.valPerClass === valPerClass) {
      const buf = readFileSync(binPath);
      const n = meta.train + meta.val;
      if (buf.byteLength !== n * (PER + 4)) throw new Error(`${binPath}: ${buf.byteLength} bytes, expected ${n * (PER + 4)}; delete it to rebuild the cache`);
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      const labels = new Int32Array(bytes.slice(n * PER).buffer);
      const cut = (a: number, b: number): LabelledImages => ({ pixels: bytes.subarray(a * PER, b * PER), labels: labels.subarray(a, b), count: b - a });
      return { train: cut(0, meta.train), val: cut(meta.train, n), classNames: meta.classNames, poolSize: meta.poolSize, split };
    }
  }
  opts.log?.('decoding the CIFAR-10 training images into the cache…');
  const ds = await loadCifarTrain(opts.datasetsRoot ?? defaultDatasetsRoot());
  try {
    const s = splitPool(ds, { seed: opts.seed, fraction, valPerClass });
    const labels = labelsById(ds);
    const train = gather(ds, s.train, labels), val = gather(ds, s.val, labels);
    const n = train.count + val.count;
    const bin = new Uint8Array(n * (PER + 4));
    bin.set(train.pixels);
    bin.set(val.pixels, train.count * PER);
    const lab = new Int32Array(n);
    lab.set(train.labels);
    lab.set(val.labels, train.count);
    bin.set(new Uint8Array(lab.buffer), n * PER);
    await writeFileAtomic(binPath, bin);
    const meta: CacheMeta = { version: CACHE_VERSION, ...split, train: train.count, val: val.count, poolSize: s.pool.length, classNames: ds.classNames };
    await writeFileAtomic(metaPath, JSON.stringify(meta));
    return { train, val, classNames: ds.classNames, poolSize: s.pool.length, split };
  } finally {
    ds.images.close();
  }
}

/** Per-channel mean and std of [0, 1] pixels over a set (the config's image_mean / image_std). */
export function channelStats(set: LabelledImages): { mean: [number, number, number]; std: [number, number, number] } {
  const sum = [0, 0, 0], sq = [0, 0, 0];
  for (let i = 0; i < set.pixels.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const v = set.pixels[i + c] / 255;
      sum[c] += v;
      sq[c] += v * v;
    }
  }
  const n = set.pixels.length / 3;
  const mean = sum.map((s) => s / n);
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return {
    mean: mean.map(round) as [number, number, number],
    std: sq.map((s, c) => round(Math.sqrt(s / n - mean[c] * mean[c]))) as [number, number, number],
  };
}
