// Promptscope's differentiable building blocks. The CLIP towers and every prompt learner use only these,
// so that forward and backward stay on each backend's fast kernels (see bench/README.md for why and how
// much). Shapes: kernels are [in, out]; x is [..., in].
import * as tf from '@tensorflow/tfjs';
import * as impl from './plain.ts';
import * as fast from './fast.ts';
import * as chains from './chains.ts';
import type { ActivationName } from './types.ts';

export type { AttentionWeights, AttentionMask, ActivationName } from './types.ts';

export const linear = fast.linear;
export const layerNorm = fast.layerNorm;
export const gelu = fast.gelu;
export const quickGelu = fast.quickGelu;
export const multiHeadAttention = fast.multiHeadAttention;
export const patchEmbed = fast.patchEmbed;
export const repeatBatch = fast.repeatBatch;
export const addSame = fast.addSame;
export const columnSums = fast.columnSums;
export const embeddingLookup = impl.embeddingLookup;
export const embeddingTrainable = fast.embeddingTrainable;
export const softmaxCrossEntropy = chains.softmaxCrossEntropy;
export const l2Normalize = chains.l2Normalize;
/** Visual prompts after [CLS] as one node, or null where that does not apply (callers then tile and concat). */
export const insertPrompts = chains.insertPrompts;
export const causalMask = impl.causalMask;

export function activation(name: ActivationName): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu': return gelu;
    case 'quick_gelu': return quickGelu;
    case 'relu': return (x) => tf.relu(x);
    default: throw new Error(`activation: unknown hidden_act "${String(name)}"; expected gelu, quick_gelu or relu`);
  }
}
