// The Dataset value every loader returns, and the stores that hand out decoded pixels by row id.
//
// Pixels stay out of SQL rows: `rows` (Arrow) is the listing a SQL cell can query; `images` gives uint8
// pixels on demand. Small fixed-size sets (MNIST 28x28, CIFAR 32x32) are kept fully decoded in one
// Uint8Array; larger or variable-size images (COCO) are decoded lazily from their file or tar member.

import type { Table } from 'apache-arrow';
import type { DecodedImage } from './images.ts';
import { decodeImage } from './images.ts';

/** A file the loader left out under `{ onError: 'skip' }`, and why. */
export interface SkippedFile {
  source: string;
  reason: string;
}

/** Where the images' bytes live, so a store can be reopened after the dataset comes back from the cache. */
export type DatasetOrigin =
  | { kind: 'tar'; path: string }
  | { kind: 'dir'; root: string }
  | { kind: 'idx'; images: string }
  | { kind: 'view'; parent: string };

export interface Dataset {
  name: string;
  /** Display names, indexed by label. Chosen to read well in "a photo of a {}". */
  classNames: string[];
  /** sha256 of the listing (sources, labels, splits), the class names, every image's bytes and the decoder version. */
  fingerprint: string;
  multiLabel: boolean;
  /**
   * One row per image: id (int32, the key for `images`), label (int32, -1 when multi-label),
   * labels (list<int32>, multi-label only), className, split, source (path or tar member),
   * offset (float64, byte offset of the image in its file/archive), byteLength (int32), width, height.
   */
  rows: Table;
  images: ImageStore;
  skipped: SkippedFile[];
  origin: DatasetOrigin;
}

/** All images of a fixed size in one buffer, [N, H, W, C] row-major, indexed by row id. */
export interface DenseImages {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

export interface ImageStore {
  /** Number of ids (ids run 0..count-1). */
  readonly count: number;
  /** Present when every image has the same size and all pixels are held in memory. */
  readonly dense?: DenseImages;
  get(id: number): DecodedImage;
  batch(ids: ArrayLike<number>): DecodedImage[];
  close(): void;
}

/** Iterates ids in batches of decoded images (feature extraction's input loop). */
export function* imageBatches(store: ImageStore, ids: ArrayLike<number>, batchSize: number): Generator<{ ids: number[]; images: DecodedImage[] }> {
  for (let start = 0; start < ids.length; start += batchSize) {
    const chunk: number[] = [];
    for (let i = start; i < Math.min(ids.length, start + batchSize); i++) chunk.push(ids[i]);
    yield { ids: chunk, images: store.batch(chunk) };
  }
}

export class DenseImageStore implements ImageStore {
  readonly count: number;
  private readonly per: number;
  constructor(readonly dense: DenseImages) {
    this.per = dense.width * dense.height * dense.channels;
    this.count = this.per === 0 ? 0 : dense.pixels.length / this.per;
  }
  get(id: number): DecodedImage {
    if (!(id >= 0 && id < this.count)) throw new RangeError(`image id ${id} out of range 0..${this.count - 1}`);
    const { width, height, channels, pixels } = this.dense;
    return { width, height, channels, data: pixels.subarray(id * this.per, (id + 1) * this.per) };
  }
  batch(ids: ArrayLike<number>): DecodedImage[] {
    return Array.from(ids, (id) => this.get(id));
  }
  close(): void {}
}

/** Decodes on every request from bytes fetched by `read(id)` (no decoded-pixel cache: memory stays flat). */
export class LazyImageStore implements ImageStore {
  constructor(
    readonly count: number,
    private readonly read: (id: number) => Uint8Array,
    private readonly label: (id: number) => string,
    private readonly onClose: () => void = () => undefined,
  ) {}
  get(id: number): DecodedImage {
    if (!(id >= 0 && id < this.count)) throw new RangeError(`image id ${id} out of range 0..${this.count - 1}`);
    return decodeImage(this.read(id), this.label(id));
  }
  batch(ids: ArrayLike<number>): DecodedImage[] {
    return Array.from(ids, (id) => this.get(id));
  }
  close(): void {
    this.onClose();
  }
}

/** Options shared by every loader. */
export interface LoadOptions {
  /** 'error' (default): the first bad file throws, naming it. 'skip': leave it out and list it in `skipped`. */
  onError?: 'error' | 'skip';
  /** Dataset name (defaults to the file or folder name). */
  name?: string;
  /** Split label written into every row (defaults per loader, e.g. 'test'). */
  split?: string;
  /** Keep all pixels decoded in memory when images share one size and the total stays under this many bytes. */
  denseLimitBytes?: number;
}

export const DEFAULT_DENSE_LIMIT = 256 * 1024 * 1024;
