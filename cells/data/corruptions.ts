// Image corruptions as CIFAR-10-C defines them (Hendrycks & Dietterich, "Benchmarking Neural Network
// Robustness to Common Corruptions and Perturbations", ICLR 2019; the CIFAR variant of their generation
// script), on 8-bit images, severities 1–5 with the published per-severity constants:
//   gaussian_noise   x/255 + N(0, c²) per value, c = 0.04, 0.06, 0.08, 0.09, 0.10
//   gaussian_blur    skimage's gaussian filter on x/255 per channel, σ = 0.4, 0.6, 0.7, 0.8, 1
//   contrast         (x − per-channel mean)·c + mean on x/255, c = 0.75, 0.5, 0.4, 0.3, 0.15
//   jpeg_compression save as JPEG at quality 80, 65, 58, 50, 40 and read back
// Each result is clipped to [0, 1], multiplied by 255 and cast with NumPy's uint8 (truncation, not rounding),
// as the script stores them. The arithmetic follows NumPy/SciPy step for step (float64, the same order of
// sums, the same noise generator), so a reference computed with NumPy agrees to the pixel; the tests hold
// it to that. Noise is seeded per image: the same (seed, image) always gives the same noisy image.
import type { DecodedImage } from './images.ts';
import { encodeJpeg } from './jpeg-encode.ts';
import { decodeJpegExact } from './jpeg.ts';
import { NumpyNormal } from '../util/numpy-normal.ts';

export const CORRUPTIONS = ['gaussian_noise', 'gaussian_blur', 'contrast', 'jpeg_compression'] as const;
export type CorruptionName = (typeof CORRUPTIONS)[number];
export type Severity = 1 | 2 | 3 | 4 | 5;

/** The published constant of each corruption per severity 1..5 (noise σ, blur σ, contrast factor, JPEG quality). */
export const CIFAR_C_CONSTANTS: Record<CorruptionName, readonly [number, number, number, number, number]> = {
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
  gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1],
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  jpeg_compression: [80, 65, 58, 50, 40],
};

export function checkCorruption(name: string, severity: number): asserts name is CorruptionName {
  if (!(CORRUPTIONS as readonly string[]).includes(name)) throw new Error(`unknown corruption "${name}"; choose one of ${CORRUPTIONS.join(', ')}`);
  if (!(Number.isInteger(severity) && severity >= 1 && severity <= 5)) throw new Error(`corruption severity must be an integer 1..5 (CIFAR-10-C's levels), got ${severity}`);
}

/** NumPy's np.uint8 of clip(v, 0, 1)·255: clipped, scaled, truncated toward zero. */
const toByte = (v: number) => Math.trunc((v < 0 ? 0 : v > 1 ? 1 : v) * 255);

function gaussianNoise(img: DecodedImage, c: number, seed: number): Uint8Array {
  const g = new NumpyNormal(seed);
  return Uint8Array.from(img.data, (v) => toByte(v / 255 + c * g.standard()));
}

/** scipy.ndimage's Gaussian weights: exp(−x²/2σ²) on [−r, r], r = int(4σ + 0.5), divided by their NumPy sum. */
export function gaussianWeights(sigma: number): Float64Array {
  const r = Math.trunc(4 * sigma + 0.5);
  const w = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp((-0.5 / (sigma * sigma)) * (i - r) * (i - r)));
  const total = numpySum(w);
  return w.map((v) => v / total);
}

/** np.sum's pairwise summation for the short vectors used here (< 128 values: 8 partial sums, then the tail). */
function numpySum(a: Float64Array): number {
  if (a.length < 8) return a.reduce((s, v) => s + v, 0);
  if (a.length > 128) throw new Error('numpySum: only short vectors are supported');
  const r = Array.from(a.subarray(0, 8));
  let i = 8;
  for (; i < a.length - (a.length % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[i + j];
  let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < a.length; i++) s += a[i];
  return s;
}

/**
 * skimage.filters.gaussian(x/255, σ, channel_axis=-1): scipy's separable correlate1d along rows (axis 0)
 * then columns (axis 1), edges by 'nearest' replication, summing symmetric pairs outward-in as scipy does.
 */
function gaussianBlur(img: DecodedImage, sigma: number): Uint8Array {
  const { width: W, height: H, channels: C } = img;
  const w = gaussianWeights(sigma);
  const r = (w.length - 1) / 2;
  const x = Float64Array.from(img.data, (v) => v / 255);
  const pass = (src: Float64Array, alongRows: boolean): Float64Array => {
    const out = new Float64Array(src.length);
    const n = alongRows ? H : W;
    const at = (y: number, xx: number, c: number) => (y * W + xx) * C + c;
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) {
      const p = alongRows ? y : xx;
      const get = (q: number) => {
        const k = q < 0 ? 0 : q >= n ? n - 1 : q;
        return src[alongRows ? at(k, xx, c) : at(y, k, c)];
      };
      let s = get(p) * w[r];
      for (let j = r; j >= 1; j--) s += (get(p - j) + get(p + j)) * w[r - j];
      out[at(y, xx, c)] = s;
    }
    return out;
  };
  return Uint8Array.from(pass(pass(x, true), false), toByte);
}

function contrast(img: DecodedImage, c: number): Uint8Array {
  const C = img.channels, n = img.width * img.height;
  const x = Float64Array.from(img.data, (v) => v / 255);
  const means = new Float64Array(C);
  for (let i = 0; i < n; i++) for (let k = 0; k < C; k++) means[k] += x[i * C + k];
  for (let k = 0; k < C; k++) means[k] /= n;
  return Uint8Array.from(x, (v, i) => toByte((v - means[i % C]) * c + means[i % C]));
}

/**
 * One image corrupted at one severity. `seed` (an integer in [0, 2^32)) seeds the noise exactly as
 * np.random.seed(seed) would; the other corruptions are deterministic and ignore it.
 */
export function corruptImage(img: DecodedImage, corruption: CorruptionName, severity: Severity, seed = 0): DecodedImage {
  checkCorruption(corruption, severity);
  if (img.data.length !== img.width * img.height * img.channels) throw new Error(`corruptImage: ${img.data.length} bytes for a ${img.width}×${img.height}×${img.channels} image`);
  const c = CIFAR_C_CONSTANTS[corruption][severity - 1];
  const { width, height, channels } = img;
  switch (corruption) {
    case 'gaussian_noise':
      return { width, height, channels, data: gaussianNoise(img, c, seed) };
    case 'gaussian_blur':
      return { width, height, channels, data: gaussianBlur(img, c) };
    case 'contrast':
      return { width, height, channels, data: contrast(img, c) };
    case 'jpeg_compression': {
      const back = decodeJpegExact(encodeJpeg(img, c));
      return { width, height, channels: back.channels, data: back.data };
    }
  }
}
