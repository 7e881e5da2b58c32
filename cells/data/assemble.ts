// The part every loader shares: read each listed image, validate it (bytes present, label in range,
// decodes), hash listing + bytes into the fingerprint, and build the Arrow rows and the pixel store.
// Loaders only produce the listing (`Candidate`s) and say where the bytes live (`DatasetOrigin`).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Field, Int32, List, Table, Utf8, makeVector, vectorFromArray, type Vector } from 'apache-arrow';
import type { DecodedImage } from './images.ts';
import { decodeImage } from './images.ts';
import { TarArchive } from './tar.ts';
import {
  DEFAULT_DENSE_LIMIT,
  DenseImageStore,
  LazyImageStore,
  type Dataset,
  type DatasetOrigin,
  type ImageStore,
  type SkippedFile,
} from './dataset.ts';

/** One image the loader found, before validation. */
export interface Candidate {
  /** Row `source`: tar member name or path relative to the dataset root. */
  source: string;
  /** Label index (single-label) or label set (multi-label). */
  label: number | number[];
  /** Byte offset of the image inside its file/archive. */
  offset: number;
  /** How the file is named in error messages, e.g. `test.tar:cat/0001.jpg`. */
  where: string;
  /** Reads the bytes; throws (naming the file) when the file is missing or unreadable. */
  read(): Uint8Array;
  /** Raw pixels rather than an encoded file (IDX): skips decodeImage. */
  raw?: { width: number; height: number; channels: 1 | 3 };
}

export interface AssembleInput {
  name: string;
  classNames: string[];
  multiLabel: boolean;
  split: string;
  candidates: Candidate[];
  origin: DatasetOrigin;
  onError: 'error' | 'skip';
  denseLimitBytes?: number;
  /** Per class, where the class lives (folder), for the empty-class error; absent: no empty-class check. */
  classWhere?: string[];
  /** Problems the loader found while listing (unknown class names, bad manifest rows), routed like file errors. */
  listingProblems?: SkippedFile[];
}

/**
 * Version of the decoders' output. It joins every fingerprint, so that cached features computed from
 * pixels of an older decoder (2: jpeg-js replaced by the libjpeg-exact JPEG decoder) are not reused.
 */
export const DECODER_VERSION = 2;

export function failOrSkip(onError: 'error' | 'skip', skipped: SkippedFile[], source: string, reason: string): void {
  if (onError === 'error') {
    throw new Error(`${reason}\n  (pass { onError: 'skip' } to leave such files out and list them in dataset.skipped)`);
  }
  skipped.push({ source, reason });
}

export function assembleDataset(input: AssembleInput): Dataset {
  const { classNames, multiLabel, onError } = input;
  const skipped: SkippedFile[] = [];
  for (const p of input.listingProblems ?? []) failOrSkip(onError, skipped, p.source, p.reason);

  const hash = createHash('sha256');
  hash.update(JSON.stringify({ decoder: DECODER_VERSION, classNames, multiLabel }));
  const kept: { c: Candidate; image: DecodedImage; byteLength: number }[] = [];
  const counts = new Int32Array(classNames.length);
  for (const c of input.candidates) {
    const labels = typeof c.label === 'number' ? [c.label] : c.label;
    const bad = labels.find((l) => !(Number.isInteger(l) && l >= 0 && l < classNames.length));
    if (bad !== undefined) {
      failOrSkip(onError, skipped, c.source, `${c.where}: label ${bad} is outside the class list (${classNames.length} classes: 0..${classNames.length - 1})`);
      continue;
    }
    let bytes: Uint8Array;
    let image: DecodedImage;
    try {
      bytes = c.read();
      if (c.raw) {
        image = { ...c.raw, data: bytes };
      } else {
        image = decodeImage(bytes, c.where);
      }
    } catch (err) {
      failOrSkip(onError, skipped, c.source, (err as Error).message);
      continue;
    }
    if (!multiLabel) counts[labels[0]]++;
    hash.update(`${c.source}\t${labels.join(',')}\t${input.split}\t${bytes.length}\n`);
    hash.update(bytes);
    kept.push({ c, image, byteLength: bytes.length });
  }

  if (!multiLabel && input.classWhere) {
    for (let k = 0; k < classNames.length; k++) {
      if (counts[k] === 0) {
        failOrSkip(onError, skipped, input.classWhere[k], `${input.classWhere[k]}: class "${classNames[k]}" (label ${k}) has no images`);
      }
    }
  }
  if (kept.length === 0) {
    throw new Error(`${input.name}: no images could be loaded${skipped.length ? ` (${skipped.length} skipped, first: ${skipped[0].reason})` : ''}`);
  }

  const n = kept.length;
  const id = new Int32Array(n);
  const label = new Int32Array(n);
  const width = new Int32Array(n);
  const height = new Int32Array(n);
  const byteLength = new Int32Array(n);
  const offset = new Float64Array(n);
  const className: string[] = [];
  const source: string[] = [];
  const labelSets: number[][] = [];
  kept.forEach(({ c, image, byteLength: len }, i) => {
    id[i] = i;
    const labels = typeof c.label === 'number' ? [c.label] : c.label;
    label[i] = multiLabel ? -1 : labels[0];
    labelSets.push(labels);
    className.push(labels.map((l) => classNames[l]).join('|'));
    source.push(c.source);
    offset[i] = c.offset;
    byteLength[i] = len;
    width[i] = image.width;
    height[i] = image.height;
  });
  const rows = buildRows({ id, label, labels: multiLabel ? labelSets : undefined, className, split: new Array(n).fill(input.split), source, offset, byteLength, width, height });

  // Dense store when every image has one size and the total fits; otherwise decode lazily from the origin.
  const first = kept[0].image;
  const uniform = kept.every(({ image }) => image.width === first.width && image.height === first.height && image.channels === first.channels);
  const per = first.width * first.height * first.channels;
  let images: ImageStore;
  if (uniform && per * n <= (input.denseLimitBytes ?? DEFAULT_DENSE_LIMIT)) {
    const pixels = new Uint8Array(per * n);
    kept.forEach(({ image }, i) => pixels.set(image.data, i * per));
    images = new DenseImageStore({ width: first.width, height: first.height, channels: first.channels, pixels });
  } else {
    images = openLazyStore(input.origin, rows);
  }
  return {
    name: input.name,
    classNames,
    fingerprint: hash.digest('hex'),
    multiLabel,
    rows,
    images,
    skipped,
    origin: input.origin,
  };
}

export interface RowColumns {
  id: Int32Array;
  label: Int32Array;
  labels?: number[][];
  className: string[];
  split: string[];
  source: string[];
  offset: Float64Array;
  byteLength: Int32Array;
  width: Int32Array;
  height: Int32Array;
}

/**
 * Rows at `positions` of an existing rows table, with new labels (task views relabel their classes): the
 * columns that describe where an image lives (id, split, source, offset, size) are copied unchanged.
 */
export function subsetRows(
  rows: Table,
  positions: readonly number[],
  labelling: { label: Int32Array; labels?: number[][]; className: string[] },
  where: string,
): Table {
  const pick = <T>(c: string): T[] => {
    const col = rows.getChild(c);
    if (!col) throw new Error(`${where}: the rows table has no "${c}" column`);
    const all = col.toArray() as ArrayLike<T>;
    return positions.map((p) => all[p]);
  };
  return buildRows({
    id: Int32Array.from(pick<number>('id')),
    ...labelling,
    split: pick<string>('split'),
    source: pick<string>('source'),
    offset: Float64Array.from(pick<number>('offset')),
    byteLength: Int32Array.from(pick<number>('byteLength')),
    width: Int32Array.from(pick<number>('width')),
    height: Int32Array.from(pick<number>('height')),
  });
}

/** The rows table with explicit Arrow types (plain Utf8, not dictionaries, so SQL engines see VARCHAR). */
export function buildRows(cols: RowColumns): Table {
  const columns: Record<string, Vector> = {
    id: makeVector(cols.id),
    label: makeVector(cols.label),
  };
  if (cols.labels) columns.labels = vectorFromArray(cols.labels, new List(new Field('item', new Int32(), false)));
  columns.className = vectorFromArray(cols.className, new Utf8());
  columns.split = vectorFromArray(cols.split, new Utf8());
  columns.source = vectorFromArray(cols.source, new Utf8());
  columns.offset = makeVector(cols.offset);
  columns.byteLength = makeVector(cols.byteLength);
  columns.width = makeVector(cols.width);
  columns.height = makeVector(cols.height);
  return new Table(columns);
}

/** A store that re-reads and decodes each image from where it lives (tar member or file). */
export function openLazyStore(origin: DatasetOrigin, rows: Table): ImageStore {
  const sources = rows.getChild('source')!.toArray() as string[];
  const offsets = rows.getChild('offset')!.toArray() as Float64Array;
  const lengths = rows.getChild('byteLength')!.toArray() as Int32Array;
  if (origin.kind === 'tar') {
    let archive: TarArchive | undefined;
    // The archive is opened on first use: a dataset restored from the cache costs nothing until read.
    const open = (): TarArchive => (archive ??= TarArchive.open(origin.path));
    return new LazyImageStore(
      sources.length,
      (id) => open().read({ offset: offsets[id], size: lengths[id] }),
      (id) => `${origin.path}:${sources[id]}`,
      () => archive?.close(),
    );
  }
  if (origin.kind === 'dir') {
    return new LazyImageStore(
      sources.length,
      (id) => readFileSync(join(origin.root, sources[id])),
      (id) => join(origin.root, sources[id]),
    );
  }
  throw new Error(`cannot reopen images of a dataset from ${origin.kind}: it keeps its pixels in memory`);
}

/**
 * A view of a single-label dataset: the images at `positions` with their labels and classes unchanged,
 * sharing the parent's image store (what the long tail and Pro-tuning's train/test splits are).
 */
export function datasetView(ds: Dataset, positions: readonly number[], name: string, fingerprint: string): Dataset {
  const labels = ds.rows.getChild('label')!.toArray() as Int32Array;
  const newLabels = Int32Array.from(positions, (p) => labels[p]);
  const rows = subsetRows(ds.rows, positions, { label: newLabels, className: Array.from(newLabels, (l) => ds.classNames[l]) }, `view "${name}" of "${ds.name}"`);
  return { name, classNames: ds.classNames, fingerprint, multiLabel: false, rows, images: ds.images, skipped: [], origin: { kind: 'view', parent: ds.fingerprint } };
}

/**
 * Each class's row positions in a seeded order that does not depend on row order: by the hash of
 * `salt`, `seed` and the image's source (ties by position). Taking a prefix per class picks the same images
 * whatever else the dataset holds.
 */
export function seededClassOrder(ds: Dataset, salt: string, seed: number): number[][] {
  const labels = ds.rows.getChild('label')!.toArray() as Int32Array;
  const sources = ds.rows.getChild('source')!.toArray() as string[];
  const byClass: { pos: number; key: string }[][] = ds.classNames.map(() => []);
  labels.forEach((l, pos) => byClass[l].push({ pos, key: createHash('sha256').update(`${salt}\0${seed}\0${sources[pos]}`).digest('hex') }));
  return byClass.map((g) => g.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.pos - b.pos)).map((x) => x.pos));
}
