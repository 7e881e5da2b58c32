// The pretraining image set: CIFAR-10 train and Fashion-MNIST train, minus the few-shot pool (and a small
// validation slice), decoded once into one uint8 [N, 32, 32, 3] cache file and reused every epoch.
//
// The few-shot pool is the data helper's `holdOutPool(dataset, {fraction: 0.1, seed})` (cells/data/splits.ts:
// per class, images ranked by sha256('pool', seed, source), the first round(10%) held out): the same rule
// and seed the prompt learners sample their shots from, so pretraining never sees a shot. From the rest,
// `valPerClass` images per class (mulberry32(murmurMixSeed(seed, class)) shuffle) form the validation slice used
// to pick the best checkpoint; pretraining does not see those either.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadImageFolder } from '../../data/load-folder.ts';
import { loadIdx } from '../../data/load-idx.ts';
import type { Dataset } from '../../data/dataset.ts';
import type { DecodedImage } from '../../data/images.ts';
import { resizeBicubic } from '../../data/preprocess.ts';
import { mulberry32, shuffleInPlace } from './rng.ts';
import { murmurMixSeed } from '../../util/random.ts';
import { holdOutPool } from '../../data/splits.ts';
import { FASHION_MNIST_CLASSES } from '../../data/bundled.ts';

export const IMAGE_SIZE = 32;
/**
 * MNIST's classes as digits, the names the pretraining recipe evaluates with (its data fingerprint and
 * logged numbers depend on them). The bundled dataset spells them out (cells/data/bundled.ts MNIST_CLASSES),
 * which finalize.ts uses for the shipped model card.
 */
const MNIST_DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * Where the full datasets live: `$PROMPTSCOPE_DATASETS`, else `<repo>/../shared/datasets` (the layout of
 * the build machine). Only pretraining and its full-test-set evaluation read them; the product ships test
 * subsets in data/datasets and never needs this folder otherwise.
 */
export function defaultDatasetsRoot(): string {
  return process.env.PROMPTSCOPE_DATASETS || fileURLToPath(new URL('../../../../shared/datasets/', import.meta.url));
}

/** `root/relative`, or an error that says what pretraining needs and how to point at it. */
function datasetFile(root: string, relative: string): string {
  const path = join(root, relative);
  if (!existsSync(path)) {
    throw new Error(`${path} not found: pretraining reads the full ${relative.split('/')[0]} set, which is not shipped with Promptscope. ` +
      `Put the datasets folder (cifar10/train.tar, cifar10/test.tar, fashion-mnist/*.gz, mnist/*.gz) somewhere and set PROMPTSCOPE_DATASETS to it.`);
  }
  return path;
}

export async function loadCifarTrain(root = defaultDatasetsRoot()): Promise<Dataset> {
  return loadImageFolder(datasetFile(root, 'cifar10/train.tar'), { name: 'cifar10', split: 'train' });
}
export async function loadCifarTest(root = defaultDatasetsRoot()): Promise<Dataset> {
  return loadImageFolder(datasetFile(root, 'cifar10/test.tar'), { name: 'cifar10', split: 'test' });
}
export async function loadFashion(split: 'train' | 'test', root = defaultDatasetsRoot()): Promise<Dataset> {
  const p = split === 'train' ? 'train' : 't10k';
  return loadIdx({
    images: datasetFile(root, `fashion-mnist/${p}-images-idx3-ubyte.gz`), labels: datasetFile(root, `fashion-mnist/${p}-labels-idx1-ubyte.gz`),
    classNames: FASHION_MNIST_CLASSES, name: 'fashion-mnist', split,
  });
}
export async function loadMnistTest(root = defaultDatasetsRoot()): Promise<Dataset> {
  return loadIdx({
    images: datasetFile(root, 'mnist/t10k-images-idx3-ubyte.gz'), labels: datasetFile(root, 'mnist/t10k-labels-idx1-ubyte.gz'),
    classNames: MNIST_DIGITS, name: 'mnist', split: 'test',
  });
}

export function labelsOf(ds: Dataset): Int32Array {
  const col = ds.rows.getChild('label');
  if (!col) throw new Error(`dataset ${ds.name}: rows have no label column`);
  return Int32Array.from(col.toArray() as ArrayLike<number>);
}

export interface Split {
  pool: number[];
  val: number[];
  train: number[];
}

/** The few-shot pool (holdOutPool) / validation / train split of one dataset, as image ids. */
export function splitPool(ds: Dataset, opts: { seed: number; fraction: number; valPerClass: number }): Split {
  const pool = holdOutPool(ds, { fraction: opts.fraction, seed: opts.seed });
  const labels = labelsById(ds);
  const out: Split = { pool: Array.from(pool.pool), val: [], train: [] };
  const rest: number[][] = ds.classNames.map(() => []);
  for (const id of pool.rest) rest[labels[id]].push(id);
  rest.forEach((ids, c) => {
    ids.sort((a, b) => a - b);
    shuffleInPlace(ids, mulberry32(murmurMixSeed(opts.seed, c)));
    out.val.push(...ids.slice(0, opts.valPerClass));
    out.train.push(...ids.slice(opts.valPerClass));
  });
  for (const a of [out.pool, out.val, out.train]) a.sort((x, y) => x - y);
  return out;
}

/** label per image id (ids index the image store). */
export function labelsById(ds: Dataset): Int32Array {
  const ids = ds.rows.getChild('id')!.toArray() as Int32Array;
  const lab = labelsOf(ds);
  const out = new Int32Array(ds.images.count).fill(-1);
  ids.forEach((id, pos) => (out[id] = lab[pos]));
  return out;
}

/** 32×32 RGB uint8 from any decoded image: gray replicated, other sizes resized like CLIP's bicubic. */
export function toRgb32(img: DecodedImage): Uint8Array {
  let im = img;
  if (im.width !== IMAGE_SIZE || im.height !== IMAGE_SIZE) {
    if (im.width !== im.height) throw new Error(`toRgb32: ${im.width}×${im.height} image is not square`);
    im = resizeBicubic(im, IMAGE_SIZE, IMAGE_SIZE);
  }
  const n = IMAGE_SIZE * IMAGE_SIZE;
  if (im.channels === 3) return Uint8Array.from(im.data.subarray(0, n * 3));
  const out = new Uint8Array(n * 3);
  const step = im.channels;
  for (let i = 0; i < n; i++) {
    const v = im.data[i * step];
    out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v;
  }
  return out;
}

/** One pretraining image set in memory: pixels [N,32,32,3], global class (0-9 CIFAR, 10-19 F-MNIST). */
export interface ImageSet {
  pixels: Uint8Array;
  labels: Int32Array;
  /** 0 = CIFAR-10, 1 = Fashion-MNIST. */
  domain: Uint8Array;
  count: number;
}

export interface PretrainData {
  train: ImageSet;
  val: ImageSet;
  /** Sizes of the held-out few-shot pools, for the model card. */
  poolSizes: { cifar10: number; fashion: number };
}

interface CacheMeta {
  version: number;
  seed: number;
  fraction: number;
  valPerClass: number;
  train: number;
  val: number;
  poolSizes: { cifar10: number; fashion: number };
}

const CACHE_VERSION = 2; // 2: pool from cells/data/splits.ts holdOutPool

function gather(ds: Dataset, ids: number[], labels: Int32Array, offset: number, domain: number): ImageSet {
  const per = IMAGE_SIZE * IMAGE_SIZE * 3;
  const set: ImageSet = { pixels: new Uint8Array(ids.length * per), labels: new Int32Array(ids.length), domain: new Uint8Array(ids.length).fill(domain), count: ids.length };
  ids.forEach((id, i) => {
    set.pixels.set(toRgb32(ds.images.get(id)), i * per);
    set.labels[i] = labels[id] + offset;
  });
  return set;
}

function concat(a: ImageSet, b: ImageSet): ImageSet {
  const px = new Uint8Array(a.pixels.length + b.pixels.length);
  px.set(a.pixels); px.set(b.pixels, a.pixels.length);
  const lab = new Int32Array(a.count + b.count);
  lab.set(a.labels); lab.set(b.labels, a.count);
  const dom = new Uint8Array(a.count + b.count);
  dom.set(a.domain); dom.set(b.domain, a.count);
  return { pixels: px, labels: lab, domain: dom, count: a.count + b.count };
}

function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * The pretraining images, from the cache in `cacheDir` when it matches (seed, fraction, valPerClass),
 * else decoded from the datasets and cached. Decoding costs ~10 s; the cache load well under 1 s.
 */
export async function loadPretrainData(cacheDir: string, opts: { seed: number; fraction?: number; valPerClass?: number; datasetsRoot?: string; log?: (s: string) => void }): Promise<PretrainData> {
  const fraction = opts.fraction ?? 0.1;
  const valPerClass = opts.valPerClass ?? 50;
  const metaPath = join(cacheDir, 'images.json');
  const binPath = join(cacheDir, 'images.u8');
  const per = IMAGE_SIZE * IMAGE_SIZE * 3;
  if (existsSync(metaPath) && existsSync(binPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CacheMeta;
    if (meta.version === CACHE_VERSION && meta.seed === opts.seed && meta.fraction === fraction && meta.valPerClass === valPerClass) {
      const buf = readFileSync(binPath);
      const n = meta.train + meta.val;
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      if (bytes.length !== n * (per + 5)) throw new Error(`${binPath}: ${bytes.length} bytes, expected ${n * (per + 5)}; delete the cache to rebuild it`);
      const pixels = bytes.subarray(0, n * per);
      const labels = new Int32Array(bytes.slice(n * per, n * per + 4 * n).buffer);
      const domain = bytes.subarray(n * (per + 4));
      const cut = (a: number, b: number): ImageSet => ({
        pixels: pixels.subarray(a * per, b * per), labels: labels.subarray(a, b), domain: domain.subarray(a, b), count: b - a,
      });
      return { train: cut(0, meta.train), val: cut(meta.train, n), poolSizes: meta.poolSizes };
    }
  }
  const log = opts.log ?? (() => undefined);
  log('decoding CIFAR-10 train and Fashion-MNIST train into the image cache…');
  const root = opts.datasetsRoot ?? defaultDatasetsRoot();
  const cifar = await loadCifarTrain(root);
  const fashion = await loadFashion('train', root);
  const cl = labelsById(cifar);
  const fl = labelsById(fashion);
  const cs = splitPool(cifar, { seed: opts.seed, fraction, valPerClass });
  const fs = splitPool(fashion, { seed: opts.seed, fraction, valPerClass });
  const train = concat(gather(cifar, cs.train, cl, 0, 0), gather(fashion, fs.train, fl, 10, 1));
  const val = concat(gather(cifar, cs.val, cl, 0, 0), gather(fashion, fs.val, fl, 10, 1));
  cifar.images.close();
  fashion.images.close();
  const all = concat(train, val);
  mkdirSync(cacheDir, { recursive: true });
  const bin = new Uint8Array(all.count * (per + 5));
  bin.set(all.pixels);
  bin.set(new Uint8Array(all.labels.buffer), all.count * per);
  bin.set(all.domain, all.count * (per + 4));
  writeAtomic(binPath, bin);
  const meta: CacheMeta = { version: CACHE_VERSION, seed: opts.seed, fraction, valPerClass, train: train.count, val: val.count, poolSizes: { cifar10: cs.pool.length, fashion: fs.pool.length } };
  writeAtomic(metaPath, JSON.stringify(meta));
  return { train, val, poolSizes: meta.poolSizes };
}
