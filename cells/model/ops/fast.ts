// The fast formulation of every building block. Same math as `plain.ts` (tested against it in
// test/ops/), rewritten so that forward *and* backward reach each backend's fast kernels:
//
// - tfjs-wasm has one fast matmul: a plain 2-D product without transpose flags (XNNPACK). tfjs's own
//   matmul gradients carry transpose flags and fall into a naive kernel that is ~20× slower, so every
//   matmul here has a custom gradient that transposes explicitly and multiplies plainly.
// - Batched products (attention scores and context) are a single depthwise convolution on wasm
//   (XNNPACK, ~3× the batched kernel). wasm has no depthwise-conv gradient kernels, so that product's
//   gradient is itself written as two more depthwise products.
// - LayerNorm, GELU and quick-GELU carry closed-form gradients: fewer, larger kernels than autograd.
// - No conv2d patch embedding and no gather gradient (both missing on wasm): patches are a reshape and a
//   matmul; a trainable embedding's gradient is a scatter-add.
// - Where Promptscope's native kernels are registered for the active backend (wasm in Node, named in
//   ./accelerated.ts, installed by cells/model/native), products take transpose flags directly and
//   attention, affine layers, LayerNorm, activations and bias gradients each run as one fused kernel.
import * as tf from '@tensorflow/tfjs';
import type { AttentionWeights, AttentionMask } from './types.ts';
import { causalMask } from './plain.ts';
import { AFFINE, HEAD_MATMUL, LAYER_NORM, LAYER_NORM_GRAD, COLUMN_SUMS, ACTIVATION, ACTIVATION_GRAD, referenceHandle } from './accelerated.ts';
import { gradOp, native } from './grad-op.ts';
import { maskedSoftmax } from './chains.ts';

type T = tf.Tensor;

/**
 * Formulation switches, measured by bench/train.ts (kept switchable so the bench can re-check them on
 * other machines). weightGradViaDyT: dW = (dyᵀ·x)ᵀ instead of xᵀ·dy — same product, but XNNPACK runs it
 * with the long reduction on a wider output, measured faster on wasm. nativeViews: on the native path,
 * linear layers, LayerNorm, the attention projections and residual adds run as single nodes over
 * reference views instead of between reshape ops (same kernels, same bytes; bench/step-ops.ts).
 * frozenCache: a frozen weight's constant scaling (attention's q) is computed once, not every step.
 */
export const tuning = { weightGradViaDyT: true, fusedQkv: false, nativeViews: true, frozenCache: true };

function run(kernel: string, inputs: Record<string, T>, attrs: Record<string, unknown> = {}): T | T[] {
  return tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as T | T[];
}

/** x's buffer under another shape without an op (referenceHandle); only on the native path, inside a gradOp. */
const view = (x: T, shape: number[]): T => referenceHandle(x, shape);

/** dX = dy·Wᵀ for dy [n,out], W [in,out]; flagless on tfjs-wasm's own kernels. */
function inputGrad(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return native() ? tf.matMul(dy, w, false, true) : tf.matMul(dy, w.transpose());
}

/** dW = xᵀ·dy for x [n,in], dy [n,out]; flagless on tfjs-wasm's own kernels. */
function weightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (native()) return tf.matMul(x, dy, true, false);
  return tuning.weightGradViaDyT ? tf.matMul(dy.transpose(), x).transpose() : tf.matMul(x.transpose(), dy);
}

/** Σ over rows of a 2-D tensor (bias gradients). */
/** Σ over the rows of x [N, d] (each row weighted by w [N, d] when given): the native column sums where
 * registered, without tfjs's transposed reduction; else a plain sum. */
export function columnSums(x: T, w?: T): T {
  if (native()) return run(COLUMN_SUMS, w ? { x, w } : { x }) as T;
  return (w ? x.mul(w) : x).sum(0);
}

function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}

/** a[m,k] · b[k,n] for 2-D tensors, with a gradient made of flagless 2-D products. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return gradOp([a, b], (save) => {
    save([a, b]);
    return tf.matMul(a, b);
  }, (dy, [sa, sb]) => [
    () => inputGrad(dy as tf.Tensor2D, sb as tf.Tensor2D),
    () => weightGrad(sa as tf.Tensor2D, dy as tf.Tensor2D),
  ]) as tf.Tensor2D;
}

/**
 * The native path of a linear layer on any x [..., in] (rows = every leading position) as one node whose
 * output has `outShape` (its size = rows·out): the 2-D views live inside the node, so neither the forward
 * nor the backward pass runs reshape ops. The same kernels on the same bytes as affine2d between reshapes.
 */
function affineRows(x: T, w: tf.Tensor2D, b: tf.Tensor1D | undefined, outShape: number[]): T {
  const [inDim, outDim] = w.shape;
  const rows = x.size / inDim;
  const inputs = b ? [x, w, b] : [x, w];
  return gradOp(inputs, (save) => {
    const x2 = view(x, [rows, inDim]) as tf.Tensor2D;
    save([x2, w]);
    return view(b ? run(AFFINE, { x: x2, w, b }) as T : tf.matMul(x2, w), outShape);
  }, (dy, [sx, sw]) => {
    const dy2 = () => view(dy, [rows, outDim]) as tf.Tensor2D;
    const grads = [
      () => view(inputGrad(dy2(), sw as tf.Tensor2D), x.shape),
      () => weightGrad(sx as tf.Tensor2D, dy2()),
    ];
    return b ? [...grads, () => columnSums(dy2())] : grads;
  });
}

/**
 * a + b for two tensors of the same shape (residual connections) as one node whose gradient is dy for
 * both, by reference: tfjs's Add gradient reshapes dy for each input (two ops per add) to the same effect.
 */
export function addSame(a: T, b: T): T {
  if (!tuning.nativeViews || !native() || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]) || a.dtype !== b.dtype) return tf.add(a, b);
  return gradOp([a, b], () => tf.add(a, b), (dy) => [() => view(dy, a.shape), () => view(dy, b.shape)]);
}

/** x[n,in] · W[in,out] + b[out] as one node (bias gradient = column sums). */
function affine2d(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return gradOp([x, w, b], (save) => {
    save([x, w]);
    return native() ? run(AFFINE, { x, w, b }) as T : tf.matMul(x, w).add(b);
  }, (dy, [sx, sw]) => [
    () => inputGrad(dy as tf.Tensor2D, sw as tf.Tensor2D),
    () => weightGrad(sx as tf.Tensor2D, dy as tf.Tensor2D),
    () => columnSums(dy),
  ]) as tf.Tensor2D;
}

export function linear(x: T, kernel: tf.Tensor2D, bias?: tf.Tensor1D): T {
  const [inDim, outDim] = kernel.shape;
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(`linear: input's last axis is ${x.shape[x.rank - 1]} but the kernel is [${kernel.shape}] ([in, out])`);
  }
  if (tuning.nativeViews && native()) return affineRows(x, kernel, bias, [...x.shape.slice(0, -1), outDim]);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, inDim]) as tf.Tensor2D;
    const y = bias ? affine2d(x2, kernel, bias) : matMul2d(x2, kernel);
    return y.reshape([...lead, outDim]);
  });
}

/**
 * Depthwise product on layouts chosen for XNNPACK's depthwise convolution: for every group g,
 * out[:, g, :] = input[:, :, g]ᵀ · filter[:, g, :], i.e. input [k, m, G], filter [k, G, n] → [m, G, n].
 * One depthwiseConv2d with a k×1 kernel computes all G products at once.
 */
export function groupProduct(input: tf.Tensor3D, filter: tf.Tensor3D): tf.Tensor3D {
  return gradOp([input, filter], (save) => {
    save([input, filter]);
    return groupProductForward(input, filter);
  }, (dy, [si, sf]) => [
    // dInput[k,m,g] = Σn filter[k,g,n]·dy[m,g,n]: a group product contracting n.
    () => groupProduct(sf.transpose([2, 0, 1]), dy.transpose([2, 1, 0])).transpose([0, 2, 1]),
    // dFilter[k,g,n] = Σm input[k,m,g]·dy[m,g,n]: contracting m.
    () => groupProduct(si.transpose([1, 0, 2]), dy as tf.Tensor3D),
  ]) as tf.Tensor3D;
}

function groupProductForward(input: tf.Tensor3D, filter: tf.Tensor3D): tf.Tensor3D {
  const [k, m, g] = input.shape;
  const [k2, g2, n] = filter.shape;
  if (k !== k2 || g !== g2) throw new Error(`groupProduct: shapes [${input.shape}] and [${filter.shape}] do not match`);
  if (onWasm()) {
    const out = tf.depthwiseConv2d(input.reshape([1, k, m, g]) as tf.Tensor4D, filter.reshape([k, 1, g, n]) as tf.Tensor4D, 1, 'valid');
    return out.reshape([m, g, n]);
  }
  // Elsewhere the batched matmul is the better kernel: [g,m,k]·[g,k,n].
  return tf.matMul(input.transpose([2, 1, 0]), filter.transpose([1, 0, 2])).transpose([1, 0, 2]) as tf.Tensor3D;
}

/** Batched product C[g] = A[g]·B[g] (A [G,m,k], B [G,k,n]) through the fast group product. */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => groupProduct(a.transpose([2, 1, 0]), b.transpose([1, 0, 2])).transpose([1, 0, 2]));
}

export const layerNorm: (x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number) => T = (x, gamma, beta, eps) =>
  // The native kernels take any leading shape (rows = every leading position): no reshapes around them.
  tuning.nativeViews && native() ? layerNorm2d(eps)(x, gamma, beta) : tf.tidy(() => {
    const d = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    const y = layerNorm2d(eps)(x.reshape([-1, d]), gamma, beta);
    return y.reshape([...lead, d]);
  });

function layerNorm2d(eps: number): (x: T, gamma: T, beta: T) => T {
  if (native()) {
    return (x, gamma, beta) => gradOp([x, gamma, beta], (save) => {
      const [y, xhat, rstd] = run(LAYER_NORM, { x, gamma, beta }, { eps }) as T[];
      save([xhat, rstd, gamma]);
      // xhat and rstd are kernel outputs kept only for the gradient; the tape holds its own references.
      tf.dispose([xhat, rstd]);
      return y;
    }, (dy, [xhat, rstd, g]) => [
      () => run(LAYER_NORM_GRAD, { dy, xhat, rstd, gamma: g }) as T,
      () => columnSums(dy, xhat),
      () => columnSums(dy),
    ]);
  }
  return (x, gamma, beta) => gradOp([x, gamma, beta], (save) => {
    const mean = x.mean(-1, true);
    const xc = x.sub(mean);
    const rstd = tf.rsqrt(xc.square().mean(-1, true).add(eps));
    const xhat = xc.mul(rstd);
    save([xhat, rstd, gamma]);
    return xhat.mul(gamma).add(beta);
  }, (dy, [xhat, rstd, g]) => [
    () => {
      // dx = rstd · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ: the closed form, 2 reductions.
      const gh = dy.mul(g);
      return gh.sub(gh.mean(-1, true)).sub(xhat.mul(gh.mul(xhat).mean(-1, true))).mul(rstd);
    },
    () => columnSums(dy, xhat),
    () => columnSums(dy),
  ]);
}

/**
 * x [1, ...] repeated n times along axis 0 (prompts shared by a batch or by every class). The gradient is
 * the sum over the copies in one reduction; tfjs's Tile gradient slices and adds every copy separately.
 */
export function repeatBatch(x: T, n: number): T {
  if (x.shape[0] !== 1) throw new Error(`repeatBatch: axis 0 must have size 1, got [${x.shape}]`);
  return gradOp([x], () => tf.tile(x, [n, ...x.shape.slice(1).map(() => 1)]), (dy) => [
    () => columnSums(dy.reshape([n, -1])).reshape(x.shape),
  ]);
}

/** Exact GELU 0.5·x·(1+erf(x/√2)); gradient Φ(x) + x·φ(x). */
export function gelu(x: T): T {
  if (native()) return nativeActivation(x, 'gelu');
  return gradOp([x], (save) => {
    const cdf = tf.erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5);
    save([x, cdf]);
    return x.mul(cdf);
  }, (dy, [sx, cdf]) => [() => {
    const pdf = sx.square().mul(-0.5).exp().mul(1 / Math.sqrt(2 * Math.PI));
    return dy.mul(cdf.add(sx.mul(pdf)));
  }]);
}

/** x·σ(1.702x); gradient s + 1.702·x·s·(1−s). */
export function quickGelu(x: T): T {
  if (native()) return nativeActivation(x, 'quick_gelu');
  return gradOp([x], (save) => {
    const s = tf.sigmoid(x.mul(1.702));
    save([x, s]);
    return x.mul(s);
  }, (dy, [sx, s]) => [() => dy.mul(s.add(sx.mul(s).mul(tf.sub(1, s)).mul(1.702)))]);
}

/** One fused kernel forward, one backward (recomputing the activation's derivative from x). */
function nativeActivation(x: T, kind: 'gelu' | 'quick_gelu'): T {
  return gradOp([x], (save) => {
    save([x]);
    return run(ACTIVATION, { x }, { kind }) as T;
  }, (dy, [sx]) => [() => run(ACTIVATION_GRAD, { dy, x: sx }, { kind }) as T]);
}

/** A frozen weight times a constant, kept per weight (see `frozenScaled`). */
interface ScaledWeight { dataId: object; scale: number; value: T }
const scaledWeights = new Map<tf.Variable, ScaledWeight>();

/**
 * w·scale, computed once while w is a frozen (non-trainable) variable and its buffer unchanged, instead
 * of one Multiply op (and its scalar upload) per layer per step: the same kernel on the same bytes, so
 * the same values. A trainable weight, or `tuning.frozenCache` off, gets the op every call (its gradient
 * must reach w); a variable assigned a new value gets a new product; entries of disposed variables are
 * freed when another is made.
 */
function frozenScaled(w: T, scale: number): T {
  if (!tuning.frozenCache || !(w instanceof tf.Variable) || w.trainable) return w.mul(scale);
  const hit = scaledWeights.get(w);
  if (hit && hit.dataId === w.dataId && hit.scale === scale && !hit.value.isDisposed) return hit.value;
  if (hit) hit.value.dispose();
  for (const [v, e] of scaledWeights) {
    if (v.isDisposed) {
      e.value.dispose();
      scaledWeights.delete(v);
    }
  }
  const value = tf.keep(w.mul(scale));
  scaledWeights.set(w, { dataId: w.dataId, scale, value });
  return value;
}

/**
 * HF CLIP attention. The projections run as one [B·T, D]×[D, 3D] product; the per-head products run as
 * group products laid out [T, B, H, ·] so that the softmax needs no transpose of its own.
 */
export function multiHeadAttention(x: T, w: AttentionWeights, heads: number, mask?: AttentionMask): T {
  return tf.tidy(() => {
    const [b, t, d] = x.shape as [number, number, number];
    if (d % heads !== 0) throw new Error(`multiHeadAttention: width ${d} is not divisible by ${heads} heads`);
    const dh = d / heads;
    const onNative = native(), views = onNative && tuning.nativeViews;
    // HF scales q after its bias by head_dim^-0.5; folding the scale into the (small) q weights is the
    // same product and saves an element-wise pass over the activations.
    const scale = dh ** -0.5;
    let q: T, k: T, v: T; // each [B, T, H, Dh]
    if (tuning.fusedQkv) {
      const x2 = x.reshape([b * t, d]) as tf.Tensor2D;
      const kernel = tf.concat([w.qKernel.mul(scale), w.kKernel, w.vKernel], 1) as tf.Tensor2D;
      const bias = tf.concat([w.qBias.mul(scale), w.kBias, w.vBias]) as tf.Tensor1D;
      // [B, T, 3, H, Dh] with (3, H) merged: 4-D transposes stay cheap, 5-D ones do not.
      const qkv = affine2d(x2, kernel, bias).reshape([b, t, 3 * heads, dh]);
      [q, k, v] = tf.split(qkv, 3, 2);
    } else if (views) {
      // The projections write [B, T, H, Dh] directly (same products, no reshape ops).
      const heads4 = [b, t, heads, dh];
      q = affineRows(x, frozenScaled(w.qKernel, scale) as tf.Tensor2D, frozenScaled(w.qBias, scale) as tf.Tensor1D, heads4);
      k = affineRows(x, w.kKernel, w.kBias, heads4);
      v = affineRows(x, w.vKernel, w.vBias, heads4);
    } else {
      const x2 = x.reshape([b * t, d]) as tf.Tensor2D;
      const heads4 = (y: T) => y.reshape([b, t, heads, dh]);
      q = heads4(affine2d(x2, frozenScaled(w.qKernel, scale) as tf.Tensor2D, frozenScaled(w.qBias, scale) as tf.Tensor1D));
      k = heads4(affine2d(x2, w.kKernel, w.kBias));
      v = heads4(affine2d(x2, w.vKernel, w.vBias));
    }
    if (views) return affineRows(headAttention(q, k, v, mask), w.oKernel, w.oBias, [b, t, d]);
    const ctx = onNative ? headAttention(q, k, v, mask).reshape([b * t, d]) : groupAttention(q, k, v, mask);
    return affine2d(ctx as tf.Tensor2D, w.oKernel, w.oBias).reshape([b, t, d]);
  });
}

/** Adds an attention mask to scores laid out [B, H, T, S] ('causal' or broadcastable to that shape). */
function addMask(scores: T, mask: AttentionMask | undefined): T {
  if (!mask) return scores;
  if (mask === 'causal') return scores.add(causalMask(scores.shape[2]!));
  if (mask.rank > 4) throw new Error(`multiHeadAttention: mask rank ${mask.rank} > 4; expected broadcastable to [B, heads, T, T]`);
  return scores.add(mask);
}

/**
 * Attention products where the native HeadMatMul kernel exists (wasm in Node with BLAS): the products
 * read q, k, v [B, T, H, Dh] in place and write the context in the same layout; scores are [B, H, T, S].
 */
function headAttention(q: T, k: T, v: T, mask: AttentionMask | undefined): T {
  const scores = headMatMul(q, k, { transposeA: false, transposeB: true, aLayout: 'heads', bLayout: 'heads', outLayout: 'dense' });
  const probs = (mask === undefined || mask === 'causal' ? maskedSoftmax(scores, mask) : null) ?? tf.softmax(addMask(scores, mask), -1);
  // [B, T, H, Dh]: the output projection reads it as [B·T, D] rows.
  return headMatMul(probs, v, { transposeA: false, transposeB: false, aLayout: 'dense', bLayout: 'heads', outLayout: 'heads' });
}

type Layout = 'heads' | 'dense';
interface HeadProduct { transposeA: boolean; transposeB: boolean; aLayout: Layout; bLayout: Layout; outLayout: Layout }

/**
 * out = op(a)·op(b) per (batch, head) through the HeadMatMul kernel. Gradients are HeadMatMuls too:
 * for out = a·b, dA = dOut·bᵀ and dB = aᵀ·dOut, with the transposes and layouts folded into the call.
 */
function headMatMul(a: T, b: T, p: HeadProduct): T {
  const call = (x: T, y: T, q: HeadProduct) => tf.engine().runKernel(HEAD_MATMUL, { a: x, b: y }, { ...q, alpha: 1 } as unknown as tf.NamedAttrMap) as T;
  return gradOp([a, b], (save) => {
    save([a, b]);
    return call(a, b, p);
  }, (dy, [sa, sb]) => [
    // dA = dy·op(b)ᵀ, stored in a's layout; if a was used transposed, dA = op(b)·dyᵀ.
    () => p.transposeA
      ? call(sb, dy, { transposeA: p.transposeB, transposeB: true, aLayout: p.bLayout, bLayout: p.outLayout, outLayout: p.aLayout })
      : call(dy, sb, { transposeA: false, transposeB: !p.transposeB, aLayout: p.outLayout, bLayout: p.bLayout, outLayout: p.aLayout }),
    // dB = op(a)ᵀ·dy; if b was used transposed, dB = dyᵀ·op(a).
    () => p.transposeB
      ? call(dy, sa, { transposeA: true, transposeB: p.transposeA, aLayout: p.outLayout, bLayout: p.aLayout, outLayout: p.bLayout })
      : call(sa, dy, { transposeA: !p.transposeA, transposeB: false, aLayout: p.aLayout, bLayout: p.outLayout, outLayout: p.bLayout }),
  ]);
}

/** Attention products as XNNPACK depthwise convolutions (group products), laid out [T, B, H, ·]. */
function groupAttention(q: T, k: T, v: T, mask: AttentionMask | undefined): T {
  const [b, t, heads, dh] = q.shape as [number, number, number, number];
  const d = heads * dh;
  const g = b * heads;
  // scores[s_q, (b,h), s_k] = Σ_dh q[b,s_q,h,dh]·k[b,s_k,h,dh]
  const qIn = q.transpose([3, 1, 0, 2]).reshape([dh, t, g]) as tf.Tensor3D;
  const kF = k.transpose([3, 0, 2, 1]).reshape([dh, g, t]) as tf.Tensor3D;
  let scores = groupProduct(qIn, kF).reshape([t, b, heads, t]);
  if (mask === 'causal') scores = scores.add(causalMask(t).reshape([t, 1, 1, t]));
  else if (mask) {
    if (mask.rank > 4) throw new Error(`multiHeadAttention: mask rank ${mask.rank} > 4; expected broadcastable to [B, heads, T, T]`);
    const m4 = mask.reshape([...new Array(4 - mask.rank).fill(1), ...mask.shape]);
    scores = scores.add(m4.transpose([2, 0, 1, 3]));
  }
  const probs = tf.softmax(scores, -1); // [T_q, B, H, T_k]
  // ctx[s_q, (b,h), dh] = Σ_{s_k} probs[s_q,b,h,s_k]·v[b,s_k,h,dh]
  const pIn = probs.transpose([3, 0, 1, 2]).reshape([t, t, g]) as tf.Tensor3D;
  const vF = v.transpose([1, 0, 2, 3]).reshape([t, g, dh]) as tf.Tensor3D;
  return groupProduct(pIn, vF).reshape([t, b, d]).transpose([1, 0, 2]).reshape([b * t, d]);
}

export function patchEmbed(pixels: T, kernel: tf.Tensor2D, patch: number): T {
  return tf.tidy(() => {
    if (pixels.rank !== 4) throw new Error(`patchEmbed: pixels must be [B, C, H, W], got [${pixels.shape}]`);
    const [b, c, h, wd] = pixels.shape as [number, number, number, number];
    if (h % patch || wd % patch) throw new Error(`patchEmbed: image ${h}×${wd} is not a multiple of patch ${patch}`);
    if (kernel.shape[0] !== c * patch * patch) {
      throw new Error(`patchEmbed: kernel is [${kernel.shape}], expected [${c * patch * patch}, D] for ${c} channels and patch ${patch}`);
    }
    const gh = h / patch, gw = wd / patch;
    // Two 4-D transposes instead of one 6-D: [B·C·gh, P, gw, P] → [B·C·gh, gw, P, P], then
    // [B, C, gh·gw, P·P] → [B, gh·gw, C, P·P].
    const rows = pixels.reshape([b * c * gh, patch, gw, patch]).transpose([0, 2, 1, 3]);
    const patches = rows.reshape([b, c, gh * gw, patch * patch]).transpose([0, 2, 1, 3])
      .reshape([b * gh * gw, c * patch * patch]) as tf.Tensor2D;
    return matMul2d(patches, kernel).reshape([b, gh * gw, kernel.shape[1]]);
  });
}

/** Trainable lookup: a gather forward, a scatter-add (summing repeated ids) backward. */
export function embeddingTrainable(table: tf.Tensor2D, ids: T): T {
  return tf.tidy(() => {
    const flat = ids.flatten().toInt();
    return gatherRows(table, flat).reshape([...ids.shape, table.shape[1]]);
  });
}

function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const shape = table.shape;
  return gradOp([table, ids], (save) => {
    save([ids]);
    return tf.gather(table, ids);
  }, (dy, [sids]) => [
    // Scatter-add: repeated ids sum their rows, as a gather's gradient must.
    () => tf.scatterND(sids.reshape([-1, 1]), dy, shape),
    () => tf.zerosLike(sids).toFloat(),
  ]) as tf.Tensor2D;
}
