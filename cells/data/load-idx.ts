// IDX loader (MNIST, Fashion-MNIST): an images file [N, H, W] and a labels file [N], plain or gzipped.

import { assembleDataset, type Candidate } from './assemble.ts';
import type { Dataset, LoadOptions } from './dataset.ts';
import { readIdx } from './idx.ts';
import { nameFromPath } from './root.ts';
import { basename } from 'node:path';

export interface IdxOptions extends LoadOptions {
  images: string;
  labels: string;
  /** Display names indexed by label; the labels file must stay inside this list. */
  classNames: string[];
}

export async function loadIdx(opts: IdxOptions): Promise<Dataset> {
  const images = readIdx(opts.images);
  const labels = readIdx(opts.labels);
  if (images.shape.length !== 3) throw new Error(`${opts.images}: expected an IDX image file [N, H, W], got shape [${images.shape.join(', ')}]`);
  if (labels.shape.length !== 1) throw new Error(`${opts.labels}: expected an IDX label file [N], got shape [${labels.shape.join(', ')}]`);
  const [n, height, width] = images.shape;
  if (labels.shape[0] !== n) throw new Error(`${opts.labels}: ${labels.shape[0]} labels for ${n} images in ${opts.images}`);
  const per = height * width;
  const base = basename(opts.images);
  const candidates: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    candidates.push({
      source: `${base}#${i}`,
      label: labels.data[i],
      offset: images.dataOffset + i * per,
      where: `${opts.images}[${i}] (label from ${opts.labels})`,
      read: () => images.data.subarray(i * per, (i + 1) * per),
      raw: { width, height, channels: 1 },
    });
  }
  return assembleDataset({
    name: opts.name ?? nameFromPath(opts.images).replace(/-images-idx3-ubyte(\.gz)?$/, ''),
    classNames: opts.classNames,
    multiLabel: false,
    split: opts.split ?? 'all',
    candidates,
    origin: { kind: 'idx', images: opts.images },
    onError: opts.onError ?? 'error',
    denseLimitBytes: Infinity, // raw 8-bit pixels: always held in memory (60k MNIST = 47 MB)
    classWhere: opts.classNames.map((c, k) => `${opts.labels} (class ${k} "${c}")`),
  });
}
