// Image decoding to plain interleaved uint8 pixels: JPEG (own libjpeg-exact decoder, jpeg-js for progressive
// files), PNG (pngjs), PPM/PGM (own parser).
//
// Grayscale images stay 1-channel (MNIST-sized stores stay small); `toRGB` and the CLIP preprocessing
// replicate the gray value into R=G=B, which is what PIL's convert('RGB') does for mode L.

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeJpegExact, UnsupportedJpeg } from './jpeg.ts';

export interface DecodedImage {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB), interleaved row-major HWC. */
  channels: 1 | 3;
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'ppm';

/** Sniffs the format from the first bytes, falling back to the file extension. */
export function sniffFormat(bytes: Uint8Array, name = ''): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x36)) return 'ppm';
  const ext = name.toLowerCase().split('.').pop();
  if (ext === 'jpg' || ext === 'jpeg') return 'jpeg';
  if (ext === 'png') return 'png';
  if (ext === 'ppm' || ext === 'pgm' || ext === 'pnm') return 'ppm';
  return undefined;
}

/** File names the loaders treat as images. */
export function isImageName(name: string): boolean {
  return /\.(jpe?g|png|ppm|pgm|pnm)$/i.test(name);
}

/** Decodes image bytes; every failure is an Error whose message starts with `name`. */
export function decodeImage(bytes: Uint8Array, name: string): DecodedImage {
  const format = sniffFormat(bytes, name);
  try {
    switch (format) {
      case 'jpeg':
        return decodeJpeg(bytes);
      case 'png':
        return decodePng(bytes);
      case 'ppm':
        return decodePnm(bytes);
      default:
        throw new Error('unknown image format (expected JPEG, PNG, PPM or PGM)');
    }
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    throw new Error(`${name}: cannot decode image: ${message}`);
  }
}

function decodeJpeg(bytes: Uint8Array): DecodedImage {
  // Baseline JPEGs (nearly all datasets) go through our libjpeg-exact decoder, so pixels equal PIL's.
  try {
    return decodeJpegExact(bytes);
  } catch (err) {
    if (!(err instanceof UnsupportedJpeg)) throw err;
  }
  // Progressive / arithmetic / CMYK: jpeg-js (pixels may differ from PIL's by a few levels).
  // tolerantDecoding=false so that truncated files fail instead of decoding to gray blocks.
  const out = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
  if (!(out.width > 0 && out.height > 0)) throw new Error('JPEG has no image data');
  if (out.data.length !== out.width * out.height * 3) throw new Error('JPEG decoded to an unexpected size');
  return { width: out.width, height: out.height, channels: 3, data: out.data };
}

function decodePng(bytes: Uint8Array): DecodedImage {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const { width, height } = png;
  const rgba = png.data; // pngjs always gives 8-bit RGBA
  const n = width * height;
  const gray = png.colorType === 0 || png.colorType === 4;
  const hasAlpha = png.alpha || png.colorType === 4 || png.colorType === 6;
  const channels: 1 | 3 = gray ? 1 : 3;
  const data = new Uint8Array(n * channels);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const a = hasAlpha ? rgba[j + 3] : 255;
    if (a === 255) {
      if (channels === 1) data[i] = rgba[j];
      else {
        data[i * 3] = rgba[j];
        data[i * 3 + 1] = rgba[j + 1];
        data[i * 3 + 2] = rgba[j + 2];
      }
    } else {
      for (let c = 0; c < channels; c++) data[i * channels + c] = overWhite(rgba[j + c], a);
    }
  }
  return { width, height, channels, data };
}

/**
 * Alpha-composites one channel over opaque white the way PIL's Image.alpha_composite does (7-bit fixed
 * point), which is what HF CLIPImageProcessor's convert_to_rgb does with transparent images.
 */
function overWhite(value: number, alpha: number): number {
  const coef1 = alpha * 128;
  const coef2 = 255 * 128 - coef1;
  const tmp = value * coef1 + 255 * coef2 + (0x80 << 7);
  return ((tmp >> 8) + tmp) >> 8 >> 7;
}

/** Binary PPM (P6) and PGM (P5), maxval up to 65535; comments allowed in the header. */
function decodePnm(bytes: Uint8Array): DecodedImage {
  let pos = 2;
  const magic = bytes[1];
  const fields: number[] = [];
  while (fields.length < 3) {
    // skip whitespace and comments
    while (pos < bytes.length) {
      const b = bytes[pos];
      if (b === 0x23) {
        while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
      } else if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c) pos++;
      else break;
    }
    let value = 0;
    let digits = 0;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) {
      value = value * 10 + (bytes[pos] - 0x30);
      pos++;
      digits++;
    }
    if (digits === 0) throw new Error('bad PPM/PGM header');
    fields.push(value);
  }
  pos++; // exactly one whitespace byte separates the header from the raster
  const [width, height, maxval] = fields;
  if (width === 0 || height === 0 || maxval === 0 || maxval > 65535) throw new Error(`bad PPM/PGM header (${width}x${height}, maxval ${maxval})`);
  const channels: 1 | 3 = magic === 0x36 ? 3 : 1;
  const n = width * height * channels;
  const wide = maxval > 255;
  const need = n * (wide ? 2 : 1);
  if (bytes.length - pos < need) throw new Error(`truncated PPM/PGM raster (${bytes.length - pos} of ${need} bytes)`);
  const data = new Uint8Array(n);
  if (!wide && maxval === 255) data.set(bytes.subarray(pos, pos + n));
  else if (!wide) for (let i = 0; i < n; i++) data[i] = Math.round((bytes[pos + i] * 255) / maxval);
  else for (let i = 0; i < n; i++) data[i] = Math.round(((bytes[pos + 2 * i] * 256 + bytes[pos + 2 * i + 1]) * 255) / maxval);
  return { width, height, channels, data };
}

/** Gray → RGB by replication; RGB images are returned as they are. */
export function toRGB(image: DecodedImage): DecodedImage {
  if (image.channels === 3) return image;
  const n = image.width * image.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = image.data[i];
    data[3 * i] = v;
    data[3 * i + 1] = v;
    data[3 * i + 2] = v;
  }
  return { width: image.width, height: image.height, channels: 3, data };
}
