// Pixel-space visual prompts for visual reprogramming (the model never changes; the input does):
//
//   frame    (Bahng et al., "Exploring Visual Prompts for Adapting Large-Scale Models"): a learnable border
//            of p pixels added to the normalised image; p = 30 on a 224-pixel input, scaled to the model's
//            input size (round(30·S/224): 4 on mini-CLIP's 32 pixels). Initialised N(0, 1), as Bahng's.
//   padding  (ILM-VP's variant): the image, back in [0, 1], is resized (bilinear) to an inner size s,
//            zero-padded to S, and sigmoid(P)·mask is added on the border (mask = 1 outside the centred
//            s×s square); the result is normalised with CLIP's mean/std. s = round(128·S/224) by default
//            (18 on 32 pixels), ILM-VP's 128 on 224. P starts at 0 (sigmoid 0.5, mid grey), as ILM-VP's.
//
// Both are one variable P of shape [1, 3, S, S] times a fixed 0/1 mask, so the interior gets exactly zero
// gradient and weight decay keeps it at its initial zeros; `apply` takes and returns normalised
// pixel_values [B, 3, S, S] (what `taskData` batches carry).
import * as tf from '@tensorflow/tfjs';
import { CLIP_MEAN, CLIP_STD } from '../data/preprocess.ts';
import { normalArray, rng } from './random.ts';
import { variableFrom } from './state.ts';

export type PixelDesign = 'frame' | 'padding';

/** Bahng's 30 pixels on 224, scaled to an S-pixel input (at least 1). */
export function defaultFrameSize(imageSize: number): number {
  return Math.max(1, Math.round((30 * imageSize) / 224));
}

/** ILM-VP's 128-pixel image on a 224 input, scaled to an S-pixel input (at least 1). */
export function defaultInnerSize(imageSize: number): number {
  return Math.max(1, Math.round((128 * imageSize) / 224));
}

/** [S·S] 0/1 mask: 1 on the border ring of `width` pixels. */
export function frameMask(imageSize: number, width: number): Float32Array {
  if (!(Number.isInteger(width) && width >= 1 && 2 * width < imageSize)) {
    throw new Error(`frame prompt: width ${width} must be a whole number ≥ 1 that leaves an interior on a ${imageSize}-pixel input (at most ${Math.ceil(imageSize / 2) - 1})`);
  }
  const m = new Float32Array(imageSize * imageSize);
  for (let y = 0; y < imageSize; y++) {
    for (let x = 0; x < imageSize; x++) {
      const border = y < width || y >= imageSize - width || x < width || x >= imageSize - width;
      m[y * imageSize + x] = border ? 1 : 0;
    }
  }
  return m;
}

/** Where the resized image sits inside the padded input: [before, after] padding per side. */
export function paddingOffsets(imageSize: number, inner: number): [number, number] {
  if (!(Number.isInteger(inner) && inner >= 1 && inner < imageSize)) {
    throw new Error(`padding prompt: inner size ${inner} must be a whole number from 1 to ${imageSize - 1} (the input is ${imageSize} pixels)`);
  }
  const before = Math.floor((imageSize - inner) / 2);
  return [before, imageSize - inner - before];
}

/** [S·S] 0/1 mask: 1 outside the centred inner×inner square. */
export function paddingMask(imageSize: number, inner: number): Float32Array {
  const [b] = paddingOffsets(imageSize, inner);
  const m = new Float32Array(imageSize * imageSize).fill(1);
  for (let y = b; y < b + inner; y++) for (let x = b; x < b + inner; x++) m[y * imageSize + x] = 0;
  return m;
}

/** A pixel prompt: one learnable [1, 3, S, S] tensor behind a fixed mask. */
export interface PixelPrompt {
  readonly design: PixelDesign;
  readonly variable: tf.Variable;
  /** Prompted, normalised pixel_values [B, 3, S, S] from normalised pixel_values. */
  apply(pixels: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export interface PixelPromptOptions {
  imageSize: number;
  /** frame: border width in pixels (0: `defaultFrameSize`). */
  frameSize?: number;
  /** padding: the image's size inside the input (0: `defaultInnerSize`). */
  innerSize?: number;
  seed: number;
  mean?: readonly number[];
  std?: readonly number[];
}

export function makePixelPrompt(design: PixelDesign, o: PixelPromptOptions): PixelPrompt {
  const S = o.imageSize;
  const mean = tf.tensor4d(Array.from(o.mean ?? CLIP_MEAN), [1, 3, 1, 1]);
  const std = tf.tensor4d(Array.from(o.std ?? CLIP_STD), [1, 3, 1, 1]);
  const keepMean = mean, keepStd = std;
  if (design === 'frame') {
    const width = o.frameSize || defaultFrameSize(S);
    const mask = tf.tensor4d(frameMask(S, width), [1, 1, S, S]);
    // Only the border's values matter; the interior starts (and stays) at zero.
    const init = tf.tidy(() => tf.tensor4d(normalArray(3 * S * S, 1, rng(o.seed)), [1, 3, S, S]).mul(mask));
    const variable = variableFrom(init);
    return {
      design, variable,
      apply: (pixels) => tf.tidy(() => pixels.add(variable.mul(mask)) as tf.Tensor4D),
      dispose: () => tf.dispose([variable, mask, keepMean, keepStd]),
    };
  }
  if (design === 'padding') {
    const inner = o.innerSize || defaultInnerSize(S);
    const [b, a] = paddingOffsets(S, inner);
    const mask = tf.tensor4d(paddingMask(S, inner), [1, 1, S, S]);
    const variable = variableFrom(tf.zeros([1, 3, S, S]));
    return {
      design, variable,
      apply: (pixels) => tf.tidy(() => {
        const raw = pixels.mul(std).add(mean);                                    // back to [0, 1]
        const small = tf.image.resizeBilinear(raw.transpose([0, 2, 3, 1]) as tf.Tensor4D, [inner, inner], false, true);
        const padded = small.pad([[0, 0], [b, a], [b, a], [0, 0]]).transpose([0, 3, 1, 2]);
        const prompted = padded.add(tf.sigmoid(variable).mul(mask));
        return prompted.sub(mean).div(std) as tf.Tensor4D;
      }),
      dispose: () => tf.dispose([variable, mask, keepMean, keepStd]),
    };
  }
  tf.dispose([mean, std]);
  throw new Error(`pixel prompt: unknown design "${design as string}" (frame, padding)`);
}
