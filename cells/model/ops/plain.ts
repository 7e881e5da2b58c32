// The plain autograd formulation of every building block: written the obvious way, with tfjs's own
// gradients. It is the reference the fast paths (`fast.ts`) are tested against, and the "before" column of
// bench/train.ts. Model code should import from `./index.ts`, never from here.
import * as tf from '@tensorflow/tfjs';
import type { AttentionWeights, AttentionMask } from './types.ts';

export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const [inDim, outDim] = kernel.shape;
    const lead = x.shape.slice(0, -1);
    const y = tf.matMul(x.reshape([-1, inDim]), kernel);
    return (bias ? y.add(bias) : y).reshape([...lead, outDim]);
  });
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).div(variance.add(eps).sqrt()).mul(gamma).add(beta);
  });
}

export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)));
}

export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.sigmoid(x.mul(1.702))));
}

/** x [1, ...] repeated n times along axis 0 (tfjs's Tile and its gradient). */
export function repeatBatch(x: tf.Tensor, n: number): tf.Tensor {
  return tf.tile(x, [n, ...x.shape.slice(1).map(() => 1)]);
}

/** a + b of the same shape (residual connections): tfjs's Add and its gradient. */
export function addSame(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(a, b);
}

/** Additive causal mask [T,T]: 0 on and below the diagonal, a large negative number above it. */
export function causalMask(t: number): tf.Tensor2D {
  // Written from JavaScript: one upload instead of the half-dozen kernels of a band-part construction,
  // which every text layer of every step paid.
  const values = new Float32Array(t * t);
  for (let i = 0; i < t; i++) values.fill(-1e9, i * t + i + 1, (i + 1) * t);
  return tf.tensor2d(values, [t, t]);
}

export function multiHeadAttention(
  x: tf.Tensor, w: AttentionWeights, heads: number, mask?: AttentionMask,
): tf.Tensor {
  return tf.tidy(() => {
    const [b, t, d] = x.shape as [number, number, number];
    const dh = d / heads;
    const split = (y: tf.Tensor) => y.reshape([b, t, heads, dh]).transpose([0, 2, 1, 3]);
    const q = split(linear(x, w.qKernel, w.qBias));
    const k = split(linear(x, w.kKernel, w.kBias));
    const v = split(linear(x, w.vKernel, w.vBias));
    let scores = tf.matMul(q, k, false, true).mul(dh ** -0.5);
    if (mask === 'causal') scores = scores.add(causalMask(t));
    else if (mask) scores = scores.add(mask);
    const ctx = tf.matMul(tf.softmax(scores, -1), v).transpose([0, 2, 1, 3]).reshape([b, t, d]);
    return linear(ctx, w.oKernel, w.oBias);
  });
}

export function patchEmbed(pixels: tf.Tensor, kernel: tf.Tensor2D, patch: number): tf.Tensor {
  return tf.tidy(() => {
    const [b, c, h, wd] = pixels.shape as [number, number, number, number];
    const gh = h / patch, gw = wd / patch;
    const patches = pixels.reshape([b, c, gh, patch, gw, patch]).transpose([0, 2, 4, 1, 3, 5])
      .reshape([b * gh * gw, c * patch * patch]);
    return tf.matMul(patches, kernel).reshape([b, gh * gw, kernel.shape[1]]);
  });
}

export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.gather(table, ids.flatten()).reshape([...ids.shape, table.shape[1]]));
}

/** Trainable lookup as one-hot × table: the gradient reaches the table through a matmul. */
export function embeddingTrainable(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(ids.flatten().toInt(), table.shape[0]).toFloat();
    return tf.matMul(oneHot, table).reshape([...ids.shape, table.shape[1]]);
  });
}

export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D | tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const targets = labels.rank === 1 ? tf.oneHot(labels.toInt(), logits.shape[1]).toFloat() : labels;
    return tf.logSoftmax(logits, -1).mul(targets).sum(-1).mean().neg() as tf.Scalar;
  });
}

export function l2Normalize(x: tf.Tensor, axis = -1): tf.Tensor {
  return tf.tidy(() => x.div(tf.maximum(x.square().sum(axis, true).sqrt(), 1e-12)));
}
