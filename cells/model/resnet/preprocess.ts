// Images → the ResNet's input: [B, S, S, 3] float32, (pixel/255 − mean)/std per channel with the config's
// mean and std, S = config.image_size. Gray images are replicated into R = G = B; other sizes are resized
// with the data layer's PIL-exact bicubic (square images only: the CIFAR ResNet has no crop).
import * as tf from '@tensorflow/tfjs';
import type { DecodedImage } from '../../data/images.ts';
import { resizeBicubic } from '../../data/preprocess.ts';
import type { ResNetConfig } from './config.ts';

/** Normalises interleaved uint8 RGB pixels of `count` S×S images into the model's input tensor. */
export function normalizePixels(config: ResNetConfig, pixels: Uint8Array, count: number): tf.Tensor4D {
  const s = config.image_size, per = s * s * 3;
  if (pixels.length !== count * per) {
    throw new Error(`normalizePixels: ${pixels.length} bytes is not ${count} images of ${s}×${s}×3`);
  }
  const out = new Float32Array(pixels.length);
  const scale = config.image_std.map((d) => 1 / (255 * d));
  const shift = config.image_mean.map((m, c) => m / config.image_std[c]);
  for (let i = 0; i < pixels.length; i += 3) {
    for (let c = 0; c < 3; c++) out[i + c] = pixels[i + c] * scale[c] - shift[c];
  }
  return tf.tensor4d(out, [count, s, s, 3]);
}

/** Decoded images (uint8 HWC, gray or RGB, any square size) → the normalised batch [B, S, S, 3]. */
export function preprocessResNet(config: ResNetConfig, images: readonly DecodedImage[]): tf.Tensor4D {
  const s = config.image_size, per = s * s * 3;
  const pixels = new Uint8Array(images.length * per);
  images.forEach((img, k) => {
    let im = img;
    if (im.width !== s || im.height !== s) {
      if (im.width !== im.height) throw new Error(`preprocessResNet: image ${k} is ${im.width}×${im.height}; the ResNet takes square images (crop first)`);
      im = resizeBicubic(im, s, s);
    }
    if (im.channels !== 1 && im.channels !== 3) throw new Error(`preprocessResNet: image ${k} has ${im.channels} channels; expected 1 (gray) or 3 (RGB)`);
    const base = k * per;
    for (let p = 0; p < s * s; p++) {
      for (let c = 0; c < 3; c++) pixels[base + 3 * p + c] = im.data[p * im.channels + (im.channels === 3 ? c : 0)];
    }
  });
  return normalizePixels(config, pixels, images.length);
}
