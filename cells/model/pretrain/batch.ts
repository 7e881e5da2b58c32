// Batch assembly: which images a step sees (class-balanced by domain), their augmentation, and the CLIP
// normalisation into NCHW float32.
import { CLIP_MEAN, CLIP_STD } from '../../data/preprocess.ts';
import { IMAGE_SIZE } from './data.ts';
import type { ImageSet } from './data.ts';

/** Indices of each domain in a set, so a batch can hold a fixed share of CIFAR. */
export function domainIndex(set: ImageSet): Int32Array[] {
  const lists: number[][] = [[], []];
  for (let i = 0; i < set.count; i++) lists[set.domain[i]].push(i);
  return lists.map((l) => Int32Array.from(l));
}

/** `size` image indices: round(cifarShare·size) CIFAR-10, the rest Fashion-MNIST, uniformly with replacement. */
export function sampleBatch(byDomain: Int32Array[], size: number, cifarShare: number, rand: () => number): Int32Array {
  const nc = Math.round(cifarShare * size);
  const out = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const pool = i < nc ? byDomain[0] : byDomain[1];
    out[i] = pool[Math.floor(rand() * pool.length)];
  }
  return out;
}

export interface AugmentOptions {
  /** Largest shift in pixels (edge-clamped, like a padded random crop). 0 = none. */
  maxShift: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
}

/** CLIP-normalised NCHW float32 [n, 3, 32, 32] of the chosen images, augmented with `rand` if asked. */
export function assemblePixels(set: ImageSet, ids: ArrayLike<number>, aug: AugmentOptions | undefined, rand: () => number): Float32Array {
  const S = IMAGE_SIZE;
  const per = S * S * 3;
  const out = new Float32Array(ids.length * per);
  const scale = [0, 1, 2].map((c) => 1 / (255 * CLIP_STD[c]));
  const shift = [0, 1, 2].map((c) => CLIP_MEAN[c] / CLIP_STD[c]);
  for (let b = 0; b < ids.length; b++) {
    const src = set.pixels.subarray(ids[b] * per, (ids[b] + 1) * per);
    let dx = 0, dy = 0, flip = false;
    if (aug) {
      const m = aug.maxShift;
      dx = Math.floor(rand() * (2 * m + 1)) - m;
      dy = Math.floor(rand() * (2 * m + 1)) - m;
      flip = aug.flip && rand() < 0.5;
    }
    const o = b * per;
    for (let y = 0; y < S; y++) {
      const sy = Math.min(S - 1, Math.max(0, y + dy));
      for (let x = 0; x < S; x++) {
        const xx = flip ? S - 1 - x : x;
        const sx = Math.min(S - 1, Math.max(0, xx + dx));
        const p = (sy * S + sx) * 3;
        for (let c = 0; c < 3; c++) out[o + c * S * S + y * S + x] = src[p + c] * scale[c] - shift[c];
      }
    }
  }
  return out;
}
