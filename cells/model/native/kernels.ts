// tfjs kernels on the wasm backend that call the native addon on the tensors' bytes in the wasm heap.
//
// - BatchMatMul: cblas_sgemm, transpose flags included (they are free in BLAS; tfjs-wasm's flagged path
//   is its slowest). Shapes it does not handle (non-float32, partial batch broadcasting) go to the
//   original kernel.
// - HeadMatMul (new): the attention products per (batch, head) read straight from the [B, T, H, Dh]
//   layout the projections produce, and from/to dense [B, H, T, S] scores, so attention needs no
//   transposes. ops/fast.ts uses it when it is registered for the active backend.
// - Affine (new): x·W + b as one product whose starting value is the bias (no separate add).
// - LayerNorm (+ gradient), GELU / quick-GELU (+ gradients), column sums (bias and LayerNorm-parameter
//   gradients): one pass each instead of a chain of small kernels. Registered under new names; ops/fast.ts
//   uses them when they are registered for the active backend.
// - GatherV2 along axis 0 (embedding lookups): row copies inside the heap. tfjs-wasm's kernel took 3 ms
//   for 768 rows of the 49408-row token table (it walks the table, not the rows).
// - Tile: block copies inside the heap (tfjs-wasm's kernel indexes every element on its own: ~0.8 ms for
//   a few thousand elements).
// - Adam: native/adam.c becomes bench/support/adam.ts's update loop (same arithmetic, bit for bit).
// - Identity: shares the input's buffer (reference count) instead of copying it, as tfjs's cpu backend
//   does. tfjs clones every tensor a gradient saves; on wasm each clone was a full copy.
// - Conv2DBackpropFilter and the depthwise gradients (which tfjs-wasm lacks), Conv2DBackpropInput (4-17×
//   faster than XNNPACK's) and the Conv2D calls XNNPACK gets wrong: im2col + sgemm / direct loops of
//   conv.c, in place of the JS versions conv-kernels.ts registers when wasm starts. Conv2D and FusedConv2D
//   (bias + ReLU) on conv-direct.c's AVX2 kernel where it applies, XNNPACK's elsewhere.
import * as tf from '@tensorflow/tfjs';
import { nativeAddon, type NativeAddon } from './index.ts';
import { MISSING_CONV_KERNELS, REPLACED_CONV_KERNELS, nativeConvKernel, nativeForwardConv, registerConvFallbacks, roundingAwareConv2D } from './conv-kernels.ts';
import {
  AFFINE, HEAD_MATMUL, LAYER_NORM, LAYER_NORM_GRAD, COLUMN_SUMS, ACTIVATION, ACTIVATION_GRAD, referenceHandle, setAdamKernel, setVariableAdamKernel,
} from '../ops/accelerated.ts';

export { AFFINE, HEAD_MATMUL, LAYER_NORM, LAYER_NORM_GRAD, COLUMN_SUMS, ACTIVATION, ACTIVATION_GRAD };

/** The slice of tfjs-wasm's backend these kernels use. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(id: object): void;
  refCount(id: object): number;
  disposeData(id: object): boolean;
}

/**
 * Attributes of HeadMatMul. Each operand is a stack of matrices in one of two layouts:
 * 'heads' [B, R, H, C] (matrix (b,h) is R×C with row stride H·C), or 'dense' [B, H, R, C].
 * out = alpha · op(a) · op(b) per (b, h); the output is 'heads' [B, m, H, n] or 'dense' [B, H, m, n].
 */
export interface HeadMatMulAttrs {
  transposeA: boolean; transposeB: boolean;
  aLayout: 'heads' | 'dense'; bLayout: 'heads' | 'dense'; outLayout: 'heads' | 'dense';
  alpha: number;
}

const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
const params = new Float64Array(21);

/** The wasm memory, read after every makeOutput: allocating may grow (and replace) it. */
function heap(backend: WasmBackend): ArrayBuffer {
  return backend.wasm.HEAPU8.buffer as ArrayBuffer;
}

function offsetOf(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset / 4;
}

function batchMatMul(blas: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WasmBackend;
    const ra = a.shape.length, rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const batchA = size(outerA), batchB = size(outerB);
    const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || k !== kb || m * n * k === 0 ||
        !(sameOuter || batchA === 1 || batchB === 1)) {
      return fallback(args);
    }
    const out = backend.makeOutput([...tf.backend_util.assertAndGetBroadcastShape(outerA, outerB), m, n], 'float32');
    if (batchA * batchB === 0) return out; // an empty batch: nothing to compute
    params.set([transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, 1, Math.max(batchA, batchB),
      offsetOf(backend, a), 0, batchA === 1 ? 0 : m * k, transposeA ? m : k,
      offsetOf(backend, b), 0, batchB === 1 ? 0 : k * n, transposeB ? k : n,
      offsetOf(backend, out), 0, m * n, n, 1, 0]);
    blas.gemm(heap(backend), params);
    return out;
  };
}

/** x [n, in] · w [in, out] + b [out]: each output row starts as b, then sgemm accumulates (beta = 1). */
function affine(blas: NativeAddon): tf.KernelFunc {
  return (args) => {
    const { x, w, b } = args.inputs as { x: tf.TensorInfo; w: tf.TensorInfo; b: tf.TensorInfo };
    const backend = args.backend as unknown as WasmBackend;
    const [n, k] = x.shape, [k2, m] = w.shape;
    if (x.shape.length !== 2 || w.shape.length !== 2 || k !== k2 || size(b.shape) !== m) {
      throw new Error(`Affine: [${x.shape}] · [${w.shape}] + [${b.shape}] do not fit`);
    }
    const out = backend.makeOutput([n, m], 'float32');
    const f32 = new Float32Array(heap(backend));
    const to = offsetOf(backend, out), bias = f32.subarray(offsetOf(backend, b), offsetOf(backend, b) + m);
    for (let r = 0; r < n; r++) f32.set(bias, to + r * m);
    if (n * m * k > 0) {
      params.set([0, 0, n, m, k, 1, 1, offsetOf(backend, x), 0, 0, k, offsetOf(backend, w), 0, 0, m, to, 0, 0, m, 1, 1]);
      blas.gemm(heap(backend), params);
    }
    return out;
  };
}

/** [off, sOuter, sInner, ld] and the stored rows×cols of one matrix, for a 4-D operand in a layout. */
function operand(shape: number[], layout: 'heads' | 'dense'): { strides: [number, number, number]; rows: number; cols: number; b: number; h: number } {
  if (shape.length !== 4) throw new Error(`HeadMatMul: operands are 4-D, got [${shape}]`);
  if (layout === 'heads') {
    const [b, r, h, c] = shape;
    return { strides: [r * h * c, c, h * c], rows: r, cols: c, b, h };
  }
  const [b, h, r, c] = shape;
  return { strides: [h * r * c, r * c, c], rows: r, cols: c, b, h };
}

function headMatMul(blas: NativeAddon): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const at = args.attrs as unknown as HeadMatMulAttrs;
    const backend = args.backend as unknown as WasmBackend;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error('HeadMatMul: float32 only');
    const A = operand(a.shape, at.aLayout), B = operand(b.shape, at.bLayout);
    const m = at.transposeA ? A.cols : A.rows, k = at.transposeA ? A.rows : A.cols;
    const kb = at.transposeB ? B.cols : B.rows, n = at.transposeB ? B.rows : B.cols;
    if (A.b !== B.b || A.h !== B.h || k !== kb) {
      throw new Error(`HeadMatMul: [${a.shape}] (${at.aLayout}) and [${b.shape}] (${at.bLayout}) do not multiply`);
    }
    const outShape = at.outLayout === 'heads' ? [A.b, m, A.h, n] : [A.b, A.h, m, n];
    const out = backend.makeOutput(outShape, 'float32');
    const C = operand(outShape, at.outLayout);
    params.set([at.transposeA ? 1 : 0, at.transposeB ? 1 : 0, m, n, k, A.b, A.h,
      offsetOf(backend, a), ...A.strides, offsetOf(backend, b), ...B.strides, offsetOf(backend, out), ...C.strides,
      at.alpha, 0]);
    blas.gemm(heap(backend), params);
    return out;
  };
}

function layerNorm(native: NativeAddon): tf.KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
    const backend = b as unknown as WasmBackend;
    const d = x.shape[x.shape.length - 1], n = size(x.shape) / d;
    const y = backend.makeOutput(x.shape, 'float32');
    const xhat = backend.makeOutput(x.shape, 'float32');
    const rstd = backend.makeOutput([n], 'float32');
    native.layerNorm(heap(backend), Float64Array.of(n, d, offsetOf(backend, x), offsetOf(backend, gamma), offsetOf(backend, beta),
      offsetOf(backend, y), offsetOf(backend, xhat), offsetOf(backend, rstd), (attrs as { eps: number }).eps));
    return [y, xhat, rstd];
  };
}

function layerNormGrad(native: NativeAddon): tf.KernelFunc {
  return ({ inputs, backend: b }) => {
    const { dy, xhat, rstd, gamma } = inputs as Record<string, tf.TensorInfo>;
    const backend = b as unknown as WasmBackend;
    const d = dy.shape[dy.shape.length - 1], n = size(dy.shape) / d;
    const dx = backend.makeOutput(dy.shape, 'float32');
    native.layerNormGrad(heap(backend), Float64Array.of(n, d, offsetOf(backend, dy), offsetOf(backend, xhat), offsetOf(backend, rstd),
      offsetOf(backend, gamma), offsetOf(backend, dx)));
    return dx;
  };
}

function columnSums(native: NativeAddon): tf.KernelFunc {
  return ({ inputs, backend: b }) => {
    const { x, w } = inputs as Record<string, tf.TensorInfo | undefined>;
    const backend = b as unknown as WasmBackend;
    const d = x!.shape[x!.shape.length - 1], n = size(x!.shape) / d;
    const y = backend.makeOutput([d], 'float32');
    native.columnSums(heap(backend), Float64Array.of(n, d, offsetOf(backend, x!), offsetOf(backend, y), w ? offsetOf(backend, w) : -1));
    return y;
  };
}

const activationKinds: Record<string, number> = { gelu: 0, quick_gelu: 1 };

function activation(native: NativeAddon): tf.KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { x } = inputs as Record<string, tf.TensorInfo>;
    const backend = b as unknown as WasmBackend;
    const y = backend.makeOutput(x.shape, 'float32');
    native.activation(heap(backend), Float64Array.of(activationKinds[(attrs as { kind: string }).kind], size(x.shape), offsetOf(backend, x), offsetOf(backend, y)));
    return y;
  };
}

function activationGrad(native: NativeAddon): tf.KernelFunc {
  return ({ inputs, backend: b, attrs }) => {
    const { dy, x } = inputs as Record<string, tf.TensorInfo>;
    const backend = b as unknown as WasmBackend;
    const dx = backend.makeOutput(x.shape, 'float32');
    native.activationGrad(heap(backend), Float64Array.of(activationKinds[(attrs as { kind: string }).kind], size(x.shape),
      offsetOf(backend, dy), offsetOf(backend, x), offsetOf(backend, dx)));
    return dx;
  };
}

function gatherRows(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    const backend = args.backend as unknown as WasmBackend;
    if ((axis !== 0 && axis !== -x.shape.length) || batchDims !== 0 || x.shape.length < 1 ||
        x.dtype !== 'float32' || indices.dtype !== 'int32') {
      return fallback(args);
    }
    const rows = x.shape[0], row = size(x.shape.slice(1)), count = size(indices.shape);
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
    const buffer = heap(backend);
    const ids = new Int32Array(buffer, backend.dataIdMap.get(indices.dataId).memoryOffset, count);
    const f32 = new Float32Array(buffer);
    const from = offsetOf(backend, x), to = offsetOf(backend, out);
    for (let i = 0; i < count; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < rows)) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
      }
      f32.copyWithin(to + i * row, from + id * row, from + (id + 1) * row);
    }
    return out;
  };
}

/**
 * Tile as copies inside the heap: one copy of the input block per axis, then that block doubled out
 * reps − 1 times with copyWithin. tfjs-wasm's Tile computes every output element's source index on its
 * own (~800 µs for [1, 4, 128] × 8 in a VPT step, five of them a step); copies are the same bytes.
 */
function tileCopies(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { reps } = args.attrs as unknown as { reps: number[] };
    const shape = x.shape, n = shape.length;
    if (!nativeTuning.copyKernels || (x.dtype !== 'float32' && x.dtype !== 'int32') || n === 0 || reps.length !== n) return fallback(args);
    const backend = args.backend as unknown as WasmBackend;
    const outShape = shape.map((d, i) => d * reps[i]);
    const out = backend.makeOutput(outShape, x.dtype);
    if (size(outShape) === 0) return out;
    // 4-byte elements moved as int32 words: copyWithin is a memmove, float bit patterns stay as they are.
    const words = new Int32Array(heap(backend));
    const outInner = new Array<number>(n).fill(1), inInner = new Array<number>(n).fill(1);
    for (let d = n - 2; d >= 0; d--) {
      outInner[d] = outInner[d + 1] * outShape[d + 1];
      inInner[d] = inInner[d + 1] * shape[d + 1];
    }
    const fill = (d: number, src: number, dst: number): void => {
      if (d === n - 1) words.copyWithin(dst, src, src + shape[d]);
      else for (let i = 0; i < shape[d]; i++) fill(d + 1, src + i * inInner[d], dst + i * outInner[d]);
      const block = shape[d] * outInner[d];
      for (let r = 1; r < reps[d]; r++) words.copyWithin(dst + r * block, dst, dst + block);
    };
    fill(0, offsetOf(backend, x), offsetOf(backend, out));
    return out;
  };
}

/**
 * Adam on a variable's own bytes in the wasm heap. Buffers are shared by reference (Identity above), so
 * if anything else still holds this variable's buffer (a clone), the variable first gets its own copy:
 * an in-place write must never change another tensor.
 */
function adamInPlace(native: NativeAddon, variable: tf.Variable, grad: tf.Tensor, m: Float32Array, v: Float32Array, hyper: Float64Array): boolean {
  if (tf.getBackend() !== 'wasm' || variable.dtype !== 'float32' || grad.dtype !== 'float32' || grad.size !== variable.size) return false;
  const backend = tf.backend() as unknown as WasmBackend;
  const view = (t: tf.Tensor) => new Float32Array(heap(backend), backend.dataIdMap.get(t.dataId).memoryOffset, t.size);
  if (backend.refCount(variable.dataId) > 1) {
    const own = tf.tensor(view(variable).slice(), variable.shape, 'float32');
    variable.assign(own);
    own.dispose();
  }
  native.adamUpdate(view(variable), view(grad), m, v, hyper);
  return true;
}

/** The slice of tfjs's engine `saveByReference` replaces (private in the typings). */
interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  backendName: string;
}

/**
 * The engine's copy of each tensor a gradient saves, without a kernel call or a tape node. tfjs clones
 * every saved tensor through `engine.clone`: one Identity kernel (by reference here) plus a tape node that
 * no gradient path can reach (the copy feeds nothing), so each costs a whole op of engine bookkeeping —
 * a third of a small prompt step's ops (bench/step-ops.ts). The handle made here shares the buffer
 * exactly as the Identity kernel above does: same bytes, so every result is unchanged. Other backends
 * keep the engine's own clone; `nativeTuning.saveByReference = false` too (bench/step-ops.ts compares).
 * `copyKernels = false` sends the layout kernels replaced by heap copies (Tile) back to tfjs-wasm's own.
 */
export const nativeTuning = { saveByReference: true, copyKernels: true };

function saveByReference(): () => void {
  const engine = tf.engine() as unknown as EngineInternals;
  const own = Object.prototype.hasOwnProperty.call(engine, 'clone') ? engine.clone : undefined;
  const original = engine.clone;
  engine.clone = function clone(this: EngineInternals, x: tf.Tensor): tf.Tensor {
    if (this.backendName !== 'wasm' || !nativeTuning.saveByReference) return original.call(this, x);
    return referenceHandle(x);
  };
  return () => {
    if (own) engine.clone = own;
    else delete (engine as Partial<EngineInternals>).clone;
  };
}

let restoreClone: (() => void) | undefined;

function identity(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  (args.backend as unknown as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** tfjs-wasm's own kernels that `useNativeKernels` replaced, to put back in `dropNativeKernels`. */
const originals = new Map<string, tf.KernelConfig>();
/** The kernels Promptscope adds under its own names (ops/accelerated.ts), and how each is made. */
const added: Array<[string, (native: NativeAddon) => tf.KernelFunc]> = [
  [AFFINE, affine], [HEAD_MATMUL, headMatMul], [LAYER_NORM, layerNorm], [LAYER_NORM_GRAD, layerNormGrad],
  [COLUMN_SUMS, columnSums], [ACTIVATION, activation], [ACTIVATION_GRAD, activationGrad],
];

function replace(name: string, make: (original: tf.KernelConfig) => tf.KernelFunc): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) throw new Error(`native kernels: wasm has no ${name} kernel to replace`);
  originals.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  // The original's setup already ran when the backend started; ours need none.
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: make(original) });
}

let installed = false;

/**
 * Installs the native kernels on the wasm backend when the addon and a BLAS library load. Call after
 * the wasm backend has started. Returns whether they are in use (idempotent).
 */
export function useNativeKernels(): boolean {
  if (installed) return true;
  const blas = nativeAddon();
  // After the backend started: the originals' setup (kept for the fallbacks) must have run.
  if (!blas || !tf.findBackend('wasm')) return false;
  replace('BatchMatMul', (o) => batchMatMul(blas, o.kernelFunc));
  replace('Identity', () => identity);
  replace('GatherV2', (o) => gatherRows(o.kernelFunc));
  replace('Tile', (o) => tileCopies(o.kernelFunc));
  registerConvFallbacks();
  for (const name of [...MISSING_CONV_KERNELS, ...REPLACED_CONV_KERNELS]) replace(name, () => nativeConvKernel(blas, name));
  replace('Conv2D', (o) => nativeForwardConv(blas, 'Conv2D', roundingAwareConv2D(nativeConvKernel(blas, 'Conv2D'), o.kernelFunc)));
  replace('FusedConv2D', (o) => nativeForwardConv(blas, 'FusedConv2D', o.kernelFunc));
  for (const [kernelName, make] of added) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: make(blas) });
  setAdamKernel((p, g, m, v, hyper) => blas.adamUpdate(p, g, m, v, hyper));
  setVariableAdamKernel((variable, grad, m, v, hyper) => adamInPlace(blas, variable, grad, m, v, hyper));
  restoreClone = saveByReference();
  installed = true;
  return true;
}

/**
 * Puts tfjs-wasm's own kernels back (the ops then take their tfjs formulations again). For benchmarks
 * that compare both in one process; `useNativeKernels()` re-installs.
 */
export function dropNativeKernels(): void {
  if (!installed) return;
  for (const [name, config] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  for (const [name] of added) tf.unregisterKernel(name, 'wasm');
  setAdamKernel(undefined);
  setVariableAdamKernel(undefined);
  restoreClone?.();
  restoreClone = undefined;
  originals.clear();
  installed = false;
}

export function nativeKernelsInUse(): boolean {
  return installed;
}
