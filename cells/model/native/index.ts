// Loading Promptscope's native kernels (Node only): the addon built from the *.c files here, and the
// system's CBLAS library it opens. Nothing here is required: without them tfjs's own wasm kernels run
// (slower on the CPU, bench/README.md). PROMPTSCOPE_NATIVE=off disables them; PROMPTSCOPE_BLAS names the
// CBLAS library to open instead of the usual candidates.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';

export interface NativeAddon {
  open(path: string): boolean;
  setThreads(n: number): boolean;
  /** Strided batched sgemm on a float32 heap; `params` layout documented in gemm.c. */
  gemm(heap: ArrayBuffer | Float32Array, params: Float64Array): void;
  /** Fused loops of fused.c; `params` = float offsets into the heap and sizes, as documented there. */
  layerNorm(heap: ArrayBuffer, params: Float64Array): void;
  layerNormGrad(heap: ArrayBuffer, params: Float64Array): void;
  columnSums(heap: ArrayBuffer, params: Float64Array): void;
  activation(heap: ArrayBuffer, params: Float64Array): void;
  activationGrad(heap: ArrayBuffer, params: Float64Array): void;
  /** One Adam/AdamW step in place (adam.c): hyper = [b1, b2, eps, lr, 1-b1^t, 1-b2^t, 1-lr·wd]. */
  adamUpdate(params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, hyper: Float64Array): void;
  /**
   * NHWC convolution (with bias and ReLU), its input gradient or its filter gradient (conv.c; `params` =
   * conv-kernels.ts's geometry + [biasOff, activation]). False only when asked for the direct kernel alone
   * and it does not apply.
   */
  conv2d(heap: ArrayBuffer, params: Float64Array): boolean;
  depthwiseConv2d(heap: ArrayBuffer, params: Float64Array): void;
}

export interface NativeStatus {
  /** True when the addon and a CBLAS library are loaded in this thread. */
  loaded: boolean;
  /** The CBLAS library that opened, or why the native kernels are not used. */
  detail: string;
}

/** Libraries tried in order: OpenBLAS (Debian's libopenblas0), any CBLAS behind libblas, macOS Accelerate. */
const candidates = [
  'libopenblas.so.0', 'libopenblas.so', 'libblas.so.3', 'libcblas.so.3',
  '/System/Library/Frameworks/Accelerate.framework/Accelerate',
];

let addon: NativeAddon | undefined;
let status: NativeStatus | undefined;

/** The addon with a BLAS library open, or undefined (see `nativeStatus()` for why). Once per thread. */
export function nativeAddon(): NativeAddon | undefined {
  if (status) return addon;
  const env = process.env.PROMPTSCOPE_NATIVE;
  if (env === 'off' || env === '0') {
    status = { loaded: false, detail: 'disabled by PROMPTSCOPE_NATIVE' };
    return undefined;
  }
  const file = fileURLToPath(new URL('./build/native.node', import.meta.url));
  if (!existsSync(file)) {
    status = { loaded: false, detail: 'native kernels not built (run `node cells/model/native/build.mjs`)' };
    return undefined;
  }
  let a: NativeAddon;
  try {
    a = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    // A stale or foreign build (another architecture, a truncated file): run on tfjs's kernels, say why.
    status = { loaded: false, detail: `native kernels failed to load (${(e as Error).message.split('\n')[0]}); rebuild with \`npm run build:native\`` };
    console.warn(`promptscope: ${status.detail}`);
    return undefined;
  }
  const tried = process.env.PROMPTSCOPE_BLAS ? [process.env.PROMPTSCOPE_BLAS] : candidates;
  const lib = tried.find((p) => a.open(p));
  if (!lib) {
    status = { loaded: false, detail: `no CBLAS library found (tried ${tried.join(', ')}; Debian: apt install libopenblas0-pthread)` };
    return undefined;
  }
  a.setThreads(blasThreads());
  addon = a;
  status = { loaded: true, detail: lib };
  return addon;
}

/**
 * OpenBLAS's thread count: PROMPTSCOPE_BLAS_THREADS if set; else one in a worker thread (data-parallel
 * workers are the parallelism there) and every core in the main thread (in-process training and feature
 * extraction). The count is process-wide, so the lowest request wins (module.c): after workers have run,
 * the main thread stays on one BLAS thread too. Measured in bench/README.md.
 */
function blasThreads(): number {
  return process.env.PROMPTSCOPE_BLAS_THREADS !== undefined || isMainThread ? mainThreadBlasThreads() : 1;
}

/**
 * The BLAS thread count of the main thread (PROMPTSCOPE_BLAS_THREADS, else every core). OpenBLAS's
 * rounding depends on it, so a worker that must reproduce the main thread's results bit for bit (the
 * training workers, train-pool.ts) asks for the same count.
 */
export function mainThreadBlasThreads(): number {
  const env = process.env.PROMPTSCOPE_BLAS_THREADS;
  if (env !== undefined) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`PROMPTSCOPE_BLAS_THREADS="${env}" must be a positive integer`);
    return n;
  }
  return availableParallelism();
}

export function nativeStatus(): NativeStatus {
  nativeAddon();
  return status!;
}
