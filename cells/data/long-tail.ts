// Class imbalance as the long-tailed CIFAR literature builds it (Cui et al. 2019, "Class-Balanced Loss";
// Cao et al. 2019, LDAM): class c of C keeps n_c = ⌊n_max · ρ^(−c/(C−1))⌋ images, so class 0 keeps n_max,
// the last class n_max/ρ, and the counts fall exponentially in between; ρ is the imbalance ratio. The
// images kept per class are chosen by a seeded hash of their source (the same on every machine), and a
// longer tail is a subset of a shorter one's for the same seed.
import { createHash } from 'node:crypto';
import type { Dataset } from './dataset.ts';
import { datasetView, seededClassOrder } from './assemble.ts';

/** Images per class of an exponential long tail: class 0 first (the head), n_c = ⌊nMax · ratio^(−c/(C−1))⌋. */
export function longTailCounts(nMax: number, classes: number, ratio: number): number[] {
  if (!(Number.isInteger(nMax) && nMax >= 1)) throw new Error(`longTailCounts: nMax must be a positive integer, got ${nMax}`);
  if (!(Number.isInteger(classes) && classes >= 2)) throw new Error(`longTailCounts: needs at least 2 classes, got ${classes}`);
  if (!(Number.isFinite(ratio) && ratio >= 1)) throw new Error(`longTailCounts: the imbalance ratio is n_max / n_min and must be ≥ 1, got ${ratio}`);
  const counts = Array.from({ length: classes }, (_, c) => Math.floor(nMax * Math.pow(1 / ratio, c / (classes - 1))));
  if (counts[classes - 1] < 1) throw new Error(`longTailCounts: ratio ${ratio} leaves the last class ${counts[classes - 1]} images from nMax ${nMax}; raise nMax or lower the ratio`);
  return counts;
}

export interface LongTailOptions {
  /** Images of the head class (class 0). */
  nMax: number;
  /** Imbalance ratio n_max / n_min (the literature's ρ: 10, 50, 100). */
  ratio: number;
  /** Which images are kept (default 0). */
  seed?: number;
}

/** A long-tailed subsample of a single-label dataset; a class with fewer images than its count is an error. */
export function longTailDataset(dataset: Dataset, opts: LongTailOptions): Dataset {
  if (dataset.multiLabel) throw new Error(`longTailDataset: "${dataset.name}" is multi-label`);
  const seed = opts.seed ?? 0;
  const C = dataset.classNames.length;
  const counts = longTailCounts(opts.nMax, C, opts.ratio);
  const order = seededClassOrder(dataset, 'long-tail', seed);
  const keep: number[] = [];
  order.forEach((positions, c) => {
    if (positions.length < counts[c]) throw new Error(`longTailDataset(${dataset.name}): class ${c} ("${dataset.classNames[c]}") has ${positions.length} images, the tail asks for ${counts[c]}; lower nMax`);
    keep.push(...positions.slice(0, counts[c]));
  });
  keep.sort((a, b) => a - b);
  const fingerprint = createHash('sha256').update(JSON.stringify({ view: 'long-tail', parent: dataset.fingerprint, nMax: opts.nMax, ratio: opts.ratio, seed })).digest('hex');
  return datasetView(dataset, keep, `${dataset.name}-lt${opts.ratio}`, fingerprint);
}
