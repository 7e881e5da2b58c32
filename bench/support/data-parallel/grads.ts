import * as tf from '@tensorflow/tfjs';
import type { LossAndGrads } from './types.ts';

/** Helper for worker modules: the loss and its gradients for `variables`, in that order. */
export function lossAndGradsOf(variables: tf.Variable[], loss: () => tf.Scalar): LossAndGrads {
  const { value, grads } = tf.variableGrads(loss, variables);
  return { loss: value, grads: variables.map((v) => grads[v.name]) };
}
