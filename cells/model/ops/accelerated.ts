// The optional accelerated kernels the fast ops use when they exist. Only names and hooks live here, so
// ops/ stays free of Node imports (it must load in a browser): cells/model/native registers the kernels
// under these names on the wasm backend in Node, and installs the Adam loops. Also the one helper both
// sides use to hand out a tensor's buffer without an op (referenceHandle).
import * as tf from '@tensorflow/tfjs';

/** Attention products per (batch, head) on [B, T, H, Dh] / [B, H, T, S] layouts (native/kernels.ts). */
export const HEAD_MATMUL = 'PromptscopeHeadMatMul';
/** x [N, I] · w [I, O] + b [O] in one pass (the bias is the product's starting value). */
export const AFFINE = 'PromptscopeAffine';
/** x [N, D], gamma, beta [D]; attrs { eps } → [y [N, D], xhat [N, D], rstd [N]]. */
export const LAYER_NORM = 'PromptscopeLayerNorm';
/** dy, xhat [N, D], rstd [N], gamma [D] → dx [N, D]. */
export const LAYER_NORM_GRAD = 'PromptscopeLayerNormGrad';
/** x [N, D] (and optional weights w [N, D]) → [D]: Σ over rows of x (·w). */
export const COLUMN_SUMS = 'PromptscopeColumnSums';
/** x → activation(x); attrs { kind: 'gelu' | 'quick_gelu' }. */
export const ACTIVATION = 'PromptscopeActivation';
/** dy, x → dx; attrs { kind }. */
export const ACTIVATION_GRAD = 'PromptscopeActivationGrad';

/** One Adam/AdamW step in place: hyper = [b1, b2, eps, lr, 1-b1^t, 1-b2^t, 1-lr·wd] (see bench/support/adam.ts). */
export type AdamKernel = (params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, hyper: Float64Array) => void;

let adamKernel: AdamKernel | undefined;

/** Installed by cells/model/native (undefined: the JavaScript loop). */
export function setAdamKernel(kernel: AdamKernel | undefined): void {
  adamKernel = kernel;
}

export function getAdamKernel(): AdamKernel | undefined {
  return adamKernel;
}

/**
 * One Adam/AdamW step of one variable in place, in the backend's memory, from its gradient tensor; m and
 * v are the variable's moments. Returns false where it cannot (another backend): the caller copies.
 */
export type VariableAdamKernel = (variable: tf.Variable, grad: tf.Tensor, m: Float32Array, v: Float32Array, hyper: Float64Array) => boolean;

let variableAdamKernel: VariableAdamKernel | undefined;

export function setVariableAdamKernel(kernel: VariableAdamKernel | undefined): void {
  variableAdamKernel = kernel;
}

export function getVariableAdamKernel(): VariableAdamKernel | undefined {
  return variableAdamKernel;
}

/**
 * x's buffer as a new tensor of `shape` (default: x's own) without a kernel call or a tape node: what
 * wasm's Reshape and Identity kernels do (a reference-counted handle on the same bytes), minus the engine's
 * bookkeeping (~12 µs an op, forward and backward; bench/step-ops.ts). wasm only (its backend counts the
 * references); callers use it where no tape must see the handle: inside a gradOp, or for the engine's
 * copies of saved tensors.
 */
export function referenceHandle<R extends tf.Tensor>(x: R, shape: number[] = x.shape): R {
  const engine = tf.engine() as unknown as {
    backend: { incRef(id: object): void };
    makeTensorFromTensorInfo(info: tf.TensorInfo): R;
  };
  engine.backend.incRef(x.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape, dtype: x.dtype });
}
