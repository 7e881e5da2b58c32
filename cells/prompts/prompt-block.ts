// Pro-tuning's prompt block (Nie et al., 2022): a light convolutional module that reads an intermediate
// feature map of a frozen backbone and writes a task-specific prompt back into it, x ← x + β·Block(x),
// β a learnable scalar that starts at 0 so training starts from the frozen model exactly.
//
// The paper does not publish its block; this project's design (documented in cells/prompts/README.md):
//   x̂ = x normalised over channels per position (no parameters: ViT residual streams and CNN maps differ
//        by orders of magnitude in scale; β then only has to learn the prompt's size, not undo the input's)
//   h = ReLU(x̂ W₁ + b₁)                 1×1 conv C → m  (m = ⌈C·ratio⌉, a bottleneck)
//   h = DWConv3×3(h) + b_dw               3×3 depthwise conv on m channels (spatial context, 9·m weights)
//   h = h ⊙ σ(mean_hw(h) W_g + b_g)       channel gate (squeeze-excitation on the bottleneck)
//   Block(x) = h W₂ + b₂                  1×1 conv m → C
// The 1×1 convolutions are affine maps over [B·H·W, C] (ops' `linear`); the depthwise convolution is one tf.depthwiseConv2d
// (tfjs-wasm lacks its two gradient kernels; cells/model/native/conv-kernels.ts registers them, native or
// plain JS). It replaced nine shifted, per-channel-scaled slices, which cost 218 of a ResNet Pro-tuning
// step's 493 ms CPU against 25 ms for the one op (bench/resnet.ts). Feature maps are NHWC.
//
// W₂ must not start at zero: with β = 0, ∂L/∂β = ⟨∂L/∂x′, Block(x)⟩ is the only gradient the block gets
// at first (every block weight's gradient carries the factor β), so a zero W₂ would never move.
import * as tf from '@tensorflow/tfjs';
import { mixSeed } from '../util/random.ts';
import { rng, uniformArray } from './random.ts';
import { variableFrom } from './state.ts';
import { columnSums, layerNorm, linear } from '../model/ops/index.ts';

export interface PromptBlockShape {
  /** Channels of the feature map the block reads and writes. */
  channels: number;
  /** Bottleneck width m = ⌈channels·ratio⌉ (at least 4). */
  ratio: number;
}

/** Parameters of one block, plus its β (a scalar). */
export interface PromptBlockParams {
  w1: tf.Variable; b1: tf.Variable;
  dw: tf.Variable; bdw: tf.Variable;
  wg: tf.Variable; bg: tf.Variable;
  w2: tf.Variable; b2: tf.Variable;
  beta: tf.Variable;
}

export function bottleneckWidth(s: PromptBlockShape): number {
  if (!(Number.isInteger(s.channels) && s.channels >= 1)) throw new Error(`prompt block: channels must be a positive integer, got ${s.channels}`);
  if (!(s.ratio > 0 && s.ratio <= 4)) throw new Error(`prompt block: ratio must be in (0, 4], got ${s.ratio}`);
  return Math.max(4, Math.ceil(s.channels * s.ratio));
}

/** Trainable parameters of one block with its β: C·m + m + 9m + m + m² + m + m·C + C + 1. */
export function promptBlockParamCount(s: PromptBlockShape): number {
  const C = s.channels, m = bottleneckWidth(s);
  return C * m + m + 9 * m + m + m * m + m + m * C + C + 1;
}

/**
 * Seeded initial parameters (per seed and site) (PyTorch's default conv/linear init: uniform ±1/√fan_in for weights and
 * biases), β = 0 and a zero gate (σ(0) = ½ on every channel at the start).
 */
export function initPromptBlock(s: PromptBlockShape, seed: number, site: number): PromptBlockParams {
  const C = s.channels, m = bottleneckWidth(s);
  const rand = rng(mixSeed(seed, site, 7919));
  const u = (n: number, fanIn: number, shape: number[]) => variableFrom(tf.tensor(uniformArray(n, 1 / Math.sqrt(fanIn), rand), shape), true);
  return {
    w1: u(C * m, C, [C, m]), b1: u(m, C, [m]),
    dw: u(9 * m, 9, [9, m]), bdw: u(m, 9, [m]),
    wg: variableFrom(tf.zeros([m, m]), true), bg: variableFrom(tf.zeros([m]), true),
    w2: u(m * C, m, [m, C]), b2: u(C, m, [C]),
    beta: variableFrom(tf.zeros([]), true),
  };
}

export function blockVariables(p: PromptBlockParams): tf.Variable[] {
  return [p.w1, p.b1, p.dw, p.bdw, p.wg, p.bg, p.w2, p.b2, p.beta];
}

const t2 = (v: tf.Variable) => v as unknown as tf.Tensor2D;

/** 3×3 depthwise convolution, stride 1, zero padding 1; kernel [9, m]: tap dy·3 + dx, one weight per channel. */
export function depthwise3x3(h: tf.Tensor4D, kernel: tf.Tensor2D): tf.Tensor4D {
  const m = h.shape[3];
  if (kernel.shape[0] !== 9 || kernel.shape[1] !== m) throw new Error(`depthwise3x3: kernel must be [9, ${m}] for ${m} channels, got [${kernel.shape}]`);
  return tf.depthwiseConv2d(h, kernel.reshape([3, 3, m, 1]) as tf.Tensor4D, 1, 'same');
}

/** h [N, d] + b [d], the bias's gradient by column sums (tfjs's broadcast-add gradient reduces through a transpose). */
const addBias = tf.customGrad(((h: tf.Tensor, b: tf.Tensor) =>
  ({ value: tf.add(h, b), gradFunc: (dy: tf.Tensor) => [dy, columnSums(dy)] })) as unknown as Parameters<typeof tf.customGrad>[0],
) as (h: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * Block(x) for a feature map [B, H, W, C] (see the file comment). The channel normalisation is layerNorm
 * with γ = 1, β = 0 and the 1×1 convolutions are `linear` (x·W + b as one op): on the native kernels each
 * is one pass forward and back instead of a chain of elementwise ops and transposed reductions.
 */
export function promptBlock(x: tf.Tensor4D, p: PromptBlockParams): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const N = B * H * W, m = p.b1.shape[0];
    const xn = layerNorm(x.reshape([N, C]), tf.ones([C]), tf.zeros([C]), 1e-5) as tf.Tensor2D;
    const h1 = tf.relu(linear(xn, t2(p.w1), p.b1 as unknown as tf.Tensor1D)).reshape([B, H, W, m]) as tf.Tensor4D;
    const hd = addBias(depthwise3x3(h1, t2(p.dw)).reshape([N, m]) as tf.Tensor2D, p.bdw as unknown as tf.Tensor1D).reshape([B, H, W, m]) as tf.Tensor4D;
    const gate = tf.sigmoid(tf.matMul(hd.mean([1, 2]) as tf.Tensor2D, t2(p.wg)).add(p.bg)).reshape([B, 1, 1, m]);
    const h = hd.mul(gate).reshape([N, m]) as tf.Tensor2D;
    return linear(h, t2(p.w2), p.b2 as unknown as tf.Tensor1D).reshape([B, H, W, C]) as tf.Tensor4D;
  });
}

/** x + β·Block(x): the prompted feature map. */
export function promptedMap(x: tf.Tensor4D, p: PromptBlockParams): tf.Tensor4D {
  return tf.tidy(() => x.add(promptBlock(x, p).mul(p.beta)) as tf.Tensor4D);
}

/**
 * The same for ViT tokens [B, 1+P+N, D]: the last N = grid² tokens (the patches, in row-major order) are
 * the feature map [B, grid, grid, D]; the class token and any prompt tokens before them pass through.
 */
export function promptedTokens(hidden: tf.Tensor3D, grid: number, p: PromptBlockParams): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, D] = hidden.shape;
    const N = grid * grid;
    if (T <= N) throw new Error(`prompt block: ${T} tokens cannot hold a class token and ${N} patch tokens (grid ${grid})`);
    const head = hidden.slice([0, 0, 0], [B, T - N, D]);
    const patches = hidden.slice([0, T - N, 0], [B, N, D]).reshape([B, grid, grid, D]) as tf.Tensor4D;
    return tf.concat([head, promptedMap(patches, p).reshape([B, N, D])], 1) as tf.Tensor3D;
  });
}
