import type * as tf from '@tensorflow/tfjs';

/** One attention block's weights, kernels laid out [in, out] (HF's Linear weight transposed). */
export interface AttentionWeights {
  qKernel: tf.Tensor2D; qBias: tf.Tensor1D;
  kKernel: tf.Tensor2D; kBias: tf.Tensor1D;
  vKernel: tf.Tensor2D; vBias: tf.Tensor1D;
  oKernel: tf.Tensor2D; oBias: tf.Tensor1D;
}

/** 'causal' for the text tower, or an additive mask broadcastable to [B, heads, T, T]. */
export type AttentionMask = 'causal' | tf.Tensor;

export type ActivationName = 'gelu' | 'quick_gelu' | 'relu';
