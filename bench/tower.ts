// A CLIP-style transformer tower (HF layout: pre-LN blocks, q/k/v/out projections, MLP) built only from
// the compute ops, for timing training steps. `ops` selects the fast formulation or the plain autograd
// one, so the bench's "before" and "after" run the same model. Not the product's CLIP (cells/model/clip.ts):
// this file exists so the bench measures the compute layer on its own.
import * as tf from '@tensorflow/tfjs';
import * as fastOps from '../cells/model/ops/index.ts';
import * as plainOps from '../cells/model/ops/plain.ts';

export type Ops = Pick<typeof fastOps, 'linear' | 'layerNorm' | 'quickGelu' | 'multiHeadAttention' | 'patchEmbed'
  | 'embeddingTrainable' | 'softmaxCrossEntropy' | 'repeatBatch' | 'addSame'>;
export const opsByName: Record<'fast' | 'plain', Ops> = { fast: fastOps, plain: plainOps };

export interface TowerConfig {
  kind: 'vision' | 'text';
  width: number;
  depth: number;
  heads: number;
  /** vision: square image side and patch; text: sequence length and vocabulary. */
  image?: number;
  patch?: number;
  seq?: number;
  vocab?: number;
  classes: number;
}

export const towers: Record<string, TowerConfig> = {
  'mini-vision': { kind: 'vision', width: 128, depth: 4, heads: 4, image: 32, patch: 4, classes: 10 },
  'mini-text': { kind: 'text', width: 128, depth: 3, heads: 4, seq: 20, vocab: 49408, classes: 10 },
  'fixture-vision': { kind: 'vision', width: 48, depth: 2, heads: 4, image: 32, patch: 8, classes: 10 },
  'fixture-text': { kind: 'text', width: 32, depth: 2, heads: 4, seq: 20, vocab: 49408, classes: 10 },
};

export type Params = Record<string, tf.Variable>;

/** Deterministic initial parameters (seeded), named like HF's state dict, kernels [in, out]. */
export function initParams(c: TowerConfig, seed = 7, trainable = true): Params {
  let s = seed;
  const p: Params = {};
  const v = (name: string, shape: number[], std: number, mean = 0) => {
    p[name] = tf.variable(tf.randomNormal(shape, mean, std, 'float32', s++), trainable, `${name}_${seed}`);
  };
  const d = c.width;
  if (c.kind === 'vision') {
    const tokens = (c.image! / c.patch!) ** 2 + 1;
    v('patch', [3 * c.patch! ** 2, d], (3 * c.patch! ** 2) ** -0.5);
    v('cls', [d], 0.5);
    v('pos', [tokens, d], 0.2);
    v('pre_ln.g', [d], 0.02, 1); v('pre_ln.b', [d], 0.02);
  } else {
    v('tok', [c.vocab!, d], 0.5);
    v('pos', [c.seq!, d], 0.2);
  }
  for (let i = 0; i < c.depth; i++) {
    for (const n of ['q', 'k', 'v', 'o']) { v(`l${i}.${n}.w`, [d, d], d ** -0.5); v(`l${i}.${n}.b`, [d], 0.02); }
    v(`l${i}.ln1.g`, [d], 0.02, 1); v(`l${i}.ln1.b`, [d], 0.02);
    v(`l${i}.ln2.g`, [d], 0.02, 1); v(`l${i}.ln2.b`, [d], 0.02);
    v(`l${i}.fc1.w`, [d, 4 * d], d ** -0.5); v(`l${i}.fc1.b`, [4 * d], 0.02);
    v(`l${i}.fc2.w`, [4 * d, d], (4 * d) ** -0.5); v(`l${i}.fc2.b`, [d], 0.02);
  }
  v('final_ln.g', [d], 0.02, 1); v('final_ln.b', [d], 0.02);
  v('head', [d, c.classes], d ** -0.5);
  return p;
}

type W2 = tf.Tensor2D; type W1 = tf.Tensor1D;

/**
 * The tower's token states: `prompts` [P, D] (optional, e.g. VPT's deep-free shallow prompts or CoOp's
 * context vectors) are inserted after the first token.
 */
export function encode(ops: Ops, c: TowerConfig, p: Params, input: tf.Tensor, prompts?: tf.Tensor2D): tf.Tensor {
  const d = c.width;
  let x: tf.Tensor;
  const b = input.shape[0];
  if (c.kind === 'vision') {
    const patches = ops.patchEmbed(input, p.patch as W2, c.patch!);
    const cls = ops.repeatBatch(p.cls.reshape([1, 1, d]), b);
    x = tf.concat([cls, patches], 1).add(p.pos);
    x = ops.layerNorm(x, p['pre_ln.g'] as W1, p['pre_ln.b'] as W1, 1e-5);
  } else {
    x = ops.embeddingTrainable(p.tok as W2, input).add(p.pos);
  }
  if (prompts) {
    const first = x.slice([0, 0, 0], [b, 1, d]);
    const rest = x.slice([0, 1, 0], [b, x.shape[1]! - 1, d]);
    x = tf.concat([first, ops.repeatBatch(prompts.expandDims(0), b), rest], 1);
  }
  const mask = c.kind === 'text' ? 'causal' as const : undefined;
  for (let i = 0; i < c.depth; i++) {
    const l = (n: string) => p[`l${i}.${n}`];
    const w = {
      qKernel: l('q.w') as W2, qBias: l('q.b') as W1, kKernel: l('k.w') as W2, kBias: l('k.b') as W1,
      vKernel: l('v.w') as W2, vBias: l('v.b') as W1, oKernel: l('o.w') as W2, oBias: l('o.b') as W1,
    };
    x = ops.addSame(x, ops.multiHeadAttention(ops.layerNorm(x, l('ln1.g') as W1, l('ln1.b') as W1, 1e-5), w, c.heads, mask));
    const h = ops.quickGelu(ops.linear(ops.layerNorm(x, l('ln2.g') as W1, l('ln2.b') as W1, 1e-5), l('fc1.w') as W2, l('fc1.b') as W1));
    x = ops.addSame(x, ops.linear(h, l('fc2.w') as W2, l('fc2.b') as W1));
  }
  return ops.layerNorm(x, p['final_ln.g'] as W1, p['final_ln.b'] as W1, 1e-5);
}

/** Pooled token (CLS for vision, last token for text) → linear head → cross-entropy. */
export function loss(ops: Ops, c: TowerConfig, p: Params, input: tf.Tensor, labels: tf.Tensor1D, prompts?: tf.Tensor2D): tf.Scalar {
  const h = encode(ops, c, p, input, prompts);
  const [b, t, d] = h.shape as [number, number, number];
  const pooled = h.slice([0, c.kind === 'vision' ? 0 : t - 1, 0], [b, 1, d]).reshape([b, d]);
  return ops.softmaxCrossEntropy(ops.linear(pooled, p.head as W2) as tf.Tensor2D, labels);
}

/** A deterministic batch: pixels [B,3,H,W] or token ids [B,seq], and labels. */
export function makeBatch(c: TowerConfig, batch: number, seed = 11): { input: tf.Tensor; labels: tf.Tensor1D } {
  const input = c.kind === 'vision'
    ? tf.randomNormal([batch, 3, c.image!, c.image!], 0, 1, 'float32', seed)
    : tf.randomUniform([batch, c.seq!], 0, c.vocab!, 'int32', seed);
  const labels = tf.randomUniform([batch], 0, c.classes, 'int32', seed + 1) as tf.Tensor1D;
  return { input, labels };
}
