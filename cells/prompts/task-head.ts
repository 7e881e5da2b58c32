// The task head Pro-tuning and full fine-tuning train on top of a backbone: a linear classifier on the
// L2-normalised pooled image feature (the same features the linear probe reads, so the three learners
// differ only in what else trains). Zero-initialised, as the linear probe: seed-free, and the first step
// moves the head alone.
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from '../model/ops/index.ts';
import { variableFrom } from './state.ts';

export interface TaskHead {
  w: tf.Variable;
  b: tf.Variable;
}

export function createHead(dim: number, classes: number): TaskHead {
  if (!(dim >= 1 && classes >= 2)) throw new Error(`task head: needs a feature width ≥ 1 and at least 2 classes, got ${dim} and ${classes}`);
  return { w: variableFrom(tf.zeros([dim, classes]), true), b: variableFrom(tf.zeros([classes]), true) };
}

/** Logits [B, C] from pooled features [B, D] (normalised here; already-normalised cached features pass unchanged up to rounding). */
export function headLogits(features: tf.Tensor2D, head: TaskHead): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(l2Normalize(features) as tf.Tensor2D, head.w as unknown as tf.Tensor2D).add(head.b) as tf.Tensor2D);
}
