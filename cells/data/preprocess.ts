// CLIP image preprocessing, bit-for-bit like Hugging Face CLIPImageProcessor's slow (PIL) path:
//   convert_to_rgb → shortest-edge resize (PIL bicubic) → centre crop (floor offsets)
//   → rescale float32(u8 * (1/255)) → normalise (x - mean) / std in float32 → CHW.
//
// The resize reimplements Pillow's ImagingResample (Resample.c): separable two-pass filtering,
// horizontal pass first, each pass rounded back to uint8; bicubic kernel with a = -0.5; the kernel is
// stretched by the scale factor when downscaling (antialiasing); weights are normalised in float64 and
// then quantised to 22-bit fixed point. Reproducing the fixed point and the intermediate uint8 rounding is
// what makes the resized pixels match PIL exactly rather than within ±1.

import type { DecodedImage } from './images.ts';

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface PreprocessOptions {
  /** Shortest edge after resize (HF `size.shortest_edge`); default = crop size. */
  shortestEdge?: number;
  /** Square crop size (HF `crop_size`). */
  cropSize: number;
  mean?: readonly number[];
  std?: readonly number[];
}

const PRECISION_BITS = 32 - 8 - 2;
const ROUND_HALF = 1 << (PRECISION_BITS - 1);
const MAX_FIXED = 255 << PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per-output-pixel source window and fixed-point weights for one axis (Pillow's precompute_coeffs). */
interface Coeffs {
  ksize: number;
  /** [xmin, count] per output pixel. */
  bounds: Int32Array;
  /** outSize * ksize fixed-point weights. */
  weights: Int32Array;
}

const coeffCache = new Map<string, Coeffs>();

function coefficients(inSize: number, outSize: number): Coeffs {
  const key = `${inSize}>${outSize}`;
  const hit = coeffCache.get(key);
  if (hit) return hit;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    // C's (int) cast truncates toward zero
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x] / ww : k[x]) : 0;
      const f = v * (1 << PRECISION_BITS);
      weights[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + f) : Math.trunc(0.5 + f);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const out = { ksize, bounds, weights };
  coeffCache.set(key, out);
  return out;
}

function clip8(v: number): number {
  if (v >= MAX_FIXED) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * PIL `Image.resize((outW, outH), BICUBIC, reducing_gap=None)` on interleaved uint8 pixels with any channel
 * count. Returns the input unchanged when the size already matches (PIL copies).
 */
export function resizeBicubic(image: DecodedImage, outW: number, outH: number): DecodedImage {
  const { width: inW, height: inH, channels: C } = image;
  if (outW === inW && outH === inH) return image;
  const horiz = coefficients(inW, outW);
  const vert = coefficients(inH, outH);
  let src = image.data;
  let srcW = inW;
  let rowStart = 0;
  let rows = inH;

  if (outW !== inW) {
    // Only the source rows the vertical pass will read are filtered horizontally (as PIL does).
    const first = vert.bounds[0];
    const last = vert.bounds[(outH - 1) * 2] + vert.bounds[(outH - 1) * 2 + 1];
    rowStart = outH !== inH ? first : 0;
    rows = outH !== inH ? last - first : inH;
    const tmp = new Uint8Array(rows * outW * C);
    const { ksize, bounds, weights } = horiz;
    for (let y = 0; y < rows; y++) {
      const inRow = (y + rowStart) * inW * C;
      const outRow = y * outW * C;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2];
        const count = bounds[xx * 2 + 1];
        const kOff = xx * ksize;
        for (let c = 0; c < C; c++) {
          let ss = ROUND_HALF;
          let p = inRow + xmin * C + c;
          for (let x = 0; x < count; x++, p += C) ss += src[p] * weights[kOff + x];
          tmp[outRow + xx * C + c] = clip8(ss);
        }
      }
    }
    src = tmp;
    srcW = outW;
  }
  if (outH === inH) return { width: outW, height: outH, channels: C, data: src };

  const out = new Uint8Array(outW * outH * C);
  const { ksize, bounds, weights } = vert;
  const stride = srcW * C;
  // Row-at-a-time accumulation: sequential memory access; the sums are exact integers below 2^53, so a
  // Float64Array accumulator gives the same result as PIL's int32 arithmetic.
  const acc = new Float64Array(stride);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2] - rowStart;
    const count = bounds[yy * 2 + 1];
    const kOff = yy * ksize;
    acc.fill(ROUND_HALF);
    for (let y = 0; y < count; y++) {
      const w = weights[kOff + y];
      const rowOff = (ymin + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] += src[rowOff + i] * w;
    }
    const outRow = yy * stride;
    for (let i = 0; i < stride; i++) out[outRow + i] = clip8(acc[i]);
  }
  return { width: outW, height: outH, channels: C, data: out };
}

/** HF get_resize_output_image_size(default_to_square=False): the long side is truncated, not rounded. */
export function shortestEdgeSize(width: number, height: number, shortestEdge: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((shortestEdge * long) / short);
  return width <= height ? { width: shortestEdge, height: newLong } : { width: newLong, height: shortestEdge };
}

/** HF center_crop offsets: floor((H - size) / 2). (torchvision rounds half to even instead.) */
export function cropOffsets(width: number, height: number, size: number): { top: number; left: number } {
  if (width < size || height < size) {
    throw new Error(`image ${width}x${height} is smaller than the crop ${size}x${size}; resize first`);
  }
  return { top: Math.floor((height - size) / 2), left: Math.floor((width - size) / 2) };
}

function resolve(options: PreprocessOptions | number): Required<PreprocessOptions> {
  const o = typeof options === 'number' ? { cropSize: options } : options;
  return {
    cropSize: o.cropSize,
    shortestEdge: o.shortestEdge ?? o.cropSize,
    mean: o.mean ?? CLIP_MEAN,
    std: o.std ?? CLIP_STD,
  };
}

/**
 * Preprocesses one image into `out` (3*S*S float32, CHW) starting at `outOffset`.
 * Gray images are processed as one channel and replicated (identical to converting to RGB first,
 * because every step is per-channel).
 */
export function preprocessInto(image: DecodedImage, options: PreprocessOptions | number, out: Float32Array, outOffset = 0): void {
  const { cropSize: S, shortestEdge, mean, std } = resolve(options);
  const size = shortestEdgeSize(image.width, image.height, shortestEdge);
  const resized = resizeBicubic(image, size.width, size.height);
  const { top, left } = cropOffsets(resized.width, resized.height, S);
  const C = resized.channels;
  const W = resized.width;
  const px = resized.data;
  const plane = S * S;
  // Tables of the exact float32 result for each uint8 value and channel: rescale is float32(u8 * (1/255))
  // computed in float64, then (x - float32(mean)) / float32(std) in float32. Math.fround after each
  // float64 op gives the correctly rounded float32 result for +, -, /.
  const lut = channelTables(mean, std);
  for (let c = 0; c < 3; c++) {
    const table = lut[c];
    const srcC = C === 1 ? 0 : c;
    const base = outOffset + c * plane;
    for (let y = 0; y < S; y++) {
      const row = ((y + top) * W + left) * C + srcC;
      const o = base + y * S;
      for (let x = 0; x < S; x++) out[o + x] = table[px[row + x * C]];
    }
  }
}

const lutCache = new Map<string, Float32Array[]>();

function channelTables(mean: readonly number[], std: readonly number[]): Float32Array[] {
  const key = `${mean.join(',')}/${std.join(',')}`;
  let tables = lutCache.get(key);
  if (!tables) {
    const factor = 1 / 255;
    tables = [0, 1, 2].map((c) => {
      const m = Math.fround(mean[c]);
      const s = Math.fround(std[c]);
      const t = new Float32Array(256);
      for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v * factor) - m) / s);
      return t;
    });
    lutCache.set(key, tables);
  }
  return tables;
}

export function preprocess(image: DecodedImage, options: PreprocessOptions | number): Float32Array {
  const S = resolve(options).cropSize;
  const out = new Float32Array(3 * S * S);
  preprocessInto(image, options, out, 0);
  return out;
}

/** A batch as one [N, 3, S, S] float32 buffer (what the vision tower takes as pixel_values). */
export function preprocessBatch(images: readonly DecodedImage[], options: PreprocessOptions | number): Float32Array {
  const S = resolve(options).cropSize;
  const per = 3 * S * S;
  const out = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) preprocessInto(images[i], options, out, i * per);
  return out;
}
