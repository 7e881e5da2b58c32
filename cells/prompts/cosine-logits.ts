// The prompt learners' classifier head: temperature-scaled cosine similarity between image and class text
// features, as CLIP scores zero-shot predictions.
import * as tf from '@tensorflow/tfjs';
import { linear, l2Normalize } from '../model/ops/index.ts';

/** Cosine logits: logitScale · normalise(image) · normalise(text)ᵀ → [B, C]. */
export function cosineLogits(image: tf.Tensor2D, text: tf.Tensor2D, logitScale: number): tf.Tensor2D {
  // As a linear with the text features as kernel: the ops' matmul keeps flagless gradients (fast on wasm).
  return tf.tidy(() => linear(l2Normalize(image), l2Normalize(text).transpose() as tf.Tensor2D).mul(logitScale) as tf.Tensor2D);
}
