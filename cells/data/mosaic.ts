// A multi-label image set built from a single-label one: deterministic 2×2 mosaics. Each mosaic tiles four
// images of the source (a seeded permutation of all ids, taken four at a time, so every source image is
// used exactly once) into one image of twice the width and height; its labels are the classes present.
// The mosaic is then preprocessed like any image (bicubic down to the model's input size), so a 32-pixel
// model sees each tile at 16 × 16.
// Beside it, `multiLabelImageSet` presents a multi-label dataset (COCO-format, loadCoco) through the same
// MultiLabelImageSet interface, so multi-label evaluation and training read either.
import { mulberry32, mixSeed } from '../util/random.ts';
import { sha256 } from '../util/hash.ts';
import type { Dataset } from './dataset.ts';
import type { DecodedImage } from './images.ts';

/** What multi-label evaluation and training read: images with label sets (mosaics, or a COCO-format set). */
export interface MultiLabelImageSet {
  name: string;
  classNames: string[];
  count: number;
  /** Row-major [count, C] 0/1. */
  labels: Uint8Array;
  /** Identity of the images and labels (cache keys). */
  fingerprint: string;
  /** Image i as RGB. */
  image(i: number): DecodedImage;
}

export interface MosaicSet extends MultiLabelImageSet {
  /** The source ids of each mosaic, row-major [count, 4] (top-left, top-right, bottom-left, bottom-right). */
  tiles: Int32Array;
  /** sha256 over the source's fingerprint, the seed, the tile ids and every mosaic's pixels. */
  fingerprint: string;
  /** The mosaic as an RGB image (2W × 2H). */
  image(i: number): DecodedImage;
}

/**
 * A multi-label dataset (loadCoco's: each row's `labels` list) as a MultiLabelImageSet, images of any size
 * (the model's preprocessing resizes and centre-crops them). `count` takes the first images only.
 */
export function multiLabelImageSet(ds: Dataset, opts: { count?: number } = {}): MultiLabelImageSet {
  if (!ds.multiLabel) throw new Error(`multiLabelImageSet(${ds.name}): the dataset is single-label; make multi-label images from it with mosaicSet`);
  const n = Math.min(opts.count ?? ds.images.count, ds.images.count);
  const C = ds.classNames.length;
  const ids = ds.rows.getChild('id')!.toArray() as Int32Array;
  const lists = ds.rows.getChild('labels')!;
  const labels = new Uint8Array(n * C);
  for (let i = 0; i < n; i++) for (const c of lists.get(i)!.toArray() as Int32Array) labels[i * C + c] = 1;
  return {
    name: ds.name, classNames: ds.classNames.slice(), count: n, labels,
    fingerprint: n === ds.images.count ? ds.fingerprint : sha256(`${ds.fingerprint}\nfirst ${n}`),
    image: (i) => rgb(ds.images.get(ids[i])),
  };
}

function rgb(img: DecodedImage): DecodedImage {
  if (img.channels === 3) return img;
  const data = new Uint8Array(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) data.fill(img.data[i], i * 3, i * 3 + 3);
  return { width: img.width, height: img.height, channels: 3, data };
}

export interface MosaicOptions {
  /** Seeds the permutation of the source images (default 0). */
  seed?: number;
  /** Mosaics to make (default and at most: as many as the source fills). */
  count?: number;
  /**
   * Mosaics of the permutation to skip first (default 0): two sets with the same seed and source whose
   * [offset, offset + count) ranges do not overlap share no source image (a training pool and a validation set).
   */
  offset?: number;
}

/** 2×2 mosaics of a single-label dataset whose images all have one size. */
export function mosaicSet(ds: Dataset, opts: MosaicOptions = {}): MosaicSet {
  const seed = opts.seed ?? 0, offset = opts.offset ?? 0;
  const n = ds.images.count;
  const fits = Math.floor(n / 4);
  if (!(Number.isInteger(offset) && offset >= 0 && offset < fits)) throw new Error(`mosaicSet(${ds.name}): offset must be an integer in [0, ${fits}) (the source fills ${fits} mosaics), got ${offset}`);
  const count = Math.min(opts.count ?? fits - offset, fits - offset);
  const label = ds.rows.getChild('label')!.toArray() as Int32Array;
  const ids = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(mixSeed(seed, 0x6d6f73));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const tiles = Int32Array.from(ids.slice(offset * 4, (offset + count) * 4));
  const C = ds.classNames.length;
  const labels = new Uint8Array(count * C);
  for (let m = 0; m < count; m++) for (let t = 0; t < 4; t++) labels[m * C + label[tiles[m * 4 + t]]] = 1;
  const image = (m: number): DecodedImage => {
    const parts = [0, 1, 2, 3].map((t) => rgb(ds.images.get(tiles[m * 4 + t])));
    const { width: W, height: H } = parts[0];
    if (parts.some((p) => p.width !== W || p.height !== H)) throw new Error(`mosaicSet(${ds.name}): mosaic ${m} mixes image sizes; the source must have one image size`);
    const data = new Uint8Array(4 * W * H * 3);
    parts.forEach((p, t) => {
      const ox = (t % 2) * W, oy = Math.floor(t / 2) * H;
      for (let y = 0; y < H; y++) data.set(p.data.subarray(y * W * 3, (y + 1) * W * 3), ((oy + y) * 2 * W + ox) * 3);
    });
    return { width: 2 * W, height: 2 * H, channels: 3, data };
  };
  const h: string[] = [ds.fingerprint, String(seed), String(count)];
  if (offset) h.push(`offset ${offset}`); // absent at 0: fingerprints of sets made before the option stay as they were
  const buf = new Uint8Array(tiles.buffer.slice(0));
  h.push(sha256(buf));
  for (let m = 0; m < count; m++) h.push(sha256(image(m).data));
  return { name: `${ds.name}-mosaic2x2`, classNames: ds.classNames.slice(), count, tiles, labels, fingerprint: sha256(h.join('\n')), image };
}
