// A corrupted copy of a dataset as a fingerprinted view: the same rows (ids, labels, sources), every image
// passed through one CIFAR-10-C corruption at one severity (corruptions.ts). Pixels are corrupted when first
// read and kept, so a view costs nothing until used and the same image is never corrupted twice. Noise is
// seeded per image from (seed, the image's id), so an image's noise does not depend on which other images
// are read or in what order.
import { createHash } from 'node:crypto';
import type { Dataset, ImageStore } from './dataset.ts';
import type { DecodedImage } from './images.ts';
import { checkCorruption, corruptImage, type CorruptionName, type Severity } from './corruptions.ts';
import { mixSeed } from '../util/random.ts';

/** Bumped whenever a corruption's pixels change, so cached results of the old pixels are not reused. */
const CORRUPTION_VERSION = 1;

export interface CorruptionSpec {
  corruption: CorruptionName;
  severity: Severity;
  /** Noise seed (default 0); the other corruptions are deterministic. */
  seed?: number;
}

class CorruptedStore implements ImageStore {
  private memo = new Map<number, DecodedImage>();
  constructor(private parent: ImageStore, private spec: Required<CorruptionSpec>) {}
  get count(): number {
    return this.parent.count;
  }
  get(id: number): DecodedImage {
    let img = this.memo.get(id);
    if (!img) {
      img = corruptImage(this.parent.get(id), this.spec.corruption, this.spec.severity, mixSeed(this.spec.seed, id));
      this.memo.set(id, img);
    }
    return img;
  }
  batch(ids: ArrayLike<number>): DecodedImage[] {
    return Array.from(ids, (id) => this.get(id));
  }
  close(): void {
    this.memo.clear();
  }
}

/** `dataset` with every image corrupted; its fingerprint names the parent, the corruption, severity and seed. */
export function corruptedDataset(dataset: Dataset, spec: CorruptionSpec): Dataset {
  const seed = spec.seed ?? 0;
  checkCorruption(spec.corruption, spec.severity);
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new Error(`corruptedDataset: seed must be an integer in [0, 2^32), got ${seed}`);
  if (dataset.multiLabel) throw new Error(`corruptedDataset: "${dataset.name}" is multi-label; corruption views are for single-label sets`);
  const name = `${dataset.name}-${spec.corruption}-${spec.severity}`;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ view: 'corrupted', version: CORRUPTION_VERSION, parent: dataset.fingerprint, corruption: spec.corruption, severity: spec.severity, seed }))
    .digest('hex');
  return {
    name,
    classNames: dataset.classNames,
    fingerprint,
    multiLabel: false,
    rows: dataset.rows,
    images: new CorruptedStore(dataset.images, { corruption: spec.corruption, severity: spec.severity, seed }),
    skipped: [],
    origin: { kind: 'view', parent: dataset.fingerprint },
  };
}
