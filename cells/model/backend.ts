// Choosing and starting the TensorFlow.js backend. Every result records `currentBackend()`, so a number
// is never separated from the kernels that produced it.
//
// 'auto' tries webgpu → wasm → cpu. In Node, webgpu is tried only when asked for by name or when a real
// GPU adapter is found: Dawn on Mesa's CPU driver works (tested) but is slower than wasm here.
// PROMPTSCOPE_BACKEND (webgpu | wasm | cpu | auto) replaces an 'auto' preference; an explicit name from
// the caller wins over the environment, so tests that pin a backend stay pinned.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { prepareWasmThreads, finishWasmThreads } from './wasm-threads.ts';
import { useNativeKernels, nativeKernelsInUse } from './native/kernels.ts';
import { registerConvFallbacks } from './native/conv-kernels.ts';

export type BackendName = 'webgpu' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const names: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm', 'cpu'];

/** Where tfjs-backend-wasm's .wasm binaries live in node_modules (a directory path ending in '/'). */
export function wasmDir(): string {
  const require = createRequire(import.meta.url);
  // The package's "main" sits in dist/, next to the .wasm files.
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/';
}

export interface BackendOptions {
  /**
   * XNNPACK threads inside the wasm backend (Node: opt-in, default 1; env PROMPTSCOPE_WASM_THREADS).
   * Fixed once wasm has started in this process. For training, prefer data-parallel workers.
   */
  wasmThreads?: number;
}

let wasmReady: Promise<void> | undefined;
let wasmThreads = 1;
/** `threads` undefined: whatever this process already uses (1 if wasm has not started). */
function registerWasm(threads?: number): Promise<void> {
  if (wasmReady) {
    if (threads !== undefined && threads !== wasmThreads) {
      return Promise.reject(new Error(`initBackend: wasm already started with ${wasmThreads} thread(s); the thread count is fixed per process`));
    }
    return wasmReady;
  }
  wasmThreads = threads ?? 1;
  wasmReady = (async () => {
    if (wasmThreads > 1 && isNode) await prepareWasmThreads(wasmThreads);
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = wasmDir();
    if (!existsSync(join(dir, 'tfjs-backend-wasm-simd.wasm'))) {
      throw new Error(`initBackend: the wasm binaries are missing from ${dir}; reinstall with npm ci`);
    }
    wasm.setWasmPaths(dir);
  })();
  return wasmReady;
}

/** True when this Node process can see a GPU device node (Linux); elsewhere we let Dawn decide. */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/nvidia0')) return true;
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

const softwareAdapter = /llvmpipe|lavapipe|swiftshader|softpipe/i;

let webgpuReady: Promise<boolean> | undefined;
/**
 * Makes `navigator.gpu` exist in Node (Dawn's `webgpu` package) and registers tfjs's webgpu backend.
 * `requireHardware`: resolve false unless Dawn finds a non-software adapter. Without one and when asked
 * explicitly, fall back to Dawn's OpenGL ES backend on Mesa (llvmpipe), which needs
 * EGL_PLATFORM=surfaceless on machines without a display.
 */
function registerWebgpu(requireHardware: boolean): Promise<boolean> {
  webgpuReady ??= (async () => {
    if (isNode && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
      const dawn = await import('webgpu');
      Object.assign(globalThis, dawn.globals);
      let gpu: GPU | undefined;
      if (mayHaveGpu()) {
        const native = dawn.create([]);
        const adapter = await native.requestAdapter().catch(() => null);
        const label = adapter ? `${adapter.info?.device ?? ''} ${adapter.info?.description ?? ''}` : '';
        if (adapter && !softwareAdapter.test(label)) gpu = native;
      }
      if (!gpu) {
        if (requireHardware) return false;
        process.env.EGL_PLATFORM ??= 'surfaceless';
        const gles = dawn.create(['backend=opengles']);
        // tfjs asks for a core-profile adapter; OpenGL ES only offers the compatibility level.
        gpu = {
          requestAdapter: (o: GPURequestAdapterOptions = {}) =>
            gles.requestAdapter({ ...o, featureLevel: 'compatibility' } as GPURequestAdapterOptions),
        } as GPU;
      }
      const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GPU };
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    }
    // The backend registers itself only if navigator.gpu exists at import time.
    await import('@tensorflow/tfjs-backend-webgpu');
    return tf.findBackendFactory('webgpu') != null;
  })();
  return webgpuReady;
}

async function trySet(name: BackendName): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Starts wasm. Its Emscripten glue installs process-wide 'uncaughtException'/'unhandledRejection'
 * handlers that rethrow, so any later unrelated error makes Node print the glue's one 300 kB line of
 * minified source instead of the error. We remove exactly the handlers it added.
 */
async function trySetWasm(): Promise<boolean> {
  type Listener = (...a: unknown[]) => void;
  const events = ['uncaughtException', 'unhandledRejection'];
  const listeners = (e: string) => process.listeners(e as 'uncaughtException') as unknown as Listener[];
  const before = isNode ? events.map((e) => new Set(listeners(e))) : [];
  const ok = await trySet('wasm');
  finishWasmThreads();
  // tfjs-wasm lacks the convolution gradients: JS versions first, native ones below when they load.
  if (ok) registerConvFallbacks();
  // The native matmul reads the wasm heap as an ArrayBuffer; with wasm threads it is shared memory.
  if (ok && isNode && wasmThreads === 1) useNativeKernels();
  if (isNode) {
    events.forEach((e, i) => {
      for (const l of listeners(e)) if (!before[i].has(l)) process.removeListener(e, l);
    });
  }
  return ok;
}

/**
 * Starts the preferred backend and returns its name. 'auto': webgpu (browser, or a real GPU in Node),
 * then wasm, then cpu. An explicitly named backend that cannot start is an error, not a silent fallback.
 */
export async function initBackend(pref: BackendPreference = 'auto', options: BackendOptions = {}): Promise<string> {
  let choice = pref;
  const env = isNode ? process.env.PROMPTSCOPE_BACKEND : undefined;
  const envThreads = isNode ? process.env.PROMPTSCOPE_WASM_THREADS : undefined;
  const threads = options.wasmThreads ?? (envThreads ? Number(envThreads) : undefined);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new Error(`initBackend: wasm threads must be a positive integer, got ${options.wasmThreads ?? `PROMPTSCOPE_WASM_THREADS="${envThreads}"`}`);
  }
  if (choice === 'auto' && env) {
    if (!names.includes(env as BackendPreference)) {
      throw new Error(`PROMPTSCOPE_BACKEND="${env}" is not a backend; use one of ${names.join(', ')}`);
    }
    choice = env as BackendPreference;
  }
  if (choice !== 'auto') {
    if (choice === 'wasm') await registerWasm(threads);
    if (choice === 'webgpu' && !(await registerWebgpu(false))) {
      throw new Error('initBackend: webgpu is not available (no navigator.gpu and no Dawn adapter)');
    }
    if (!(await (choice === 'wasm' ? trySetWasm() : trySet(choice)))) {
      throw new Error(`initBackend: backend "${choice}" failed to start` +
        (choice === 'webgpu' && isNode ? ' (without a GPU, install Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)' : ''));
    }
    await tf.ready();
    return tf.getBackend();
  }
  const hasBrowserGpu = !isNode && typeof navigator !== 'undefined' && 'gpu' in navigator;
  if ((hasBrowserGpu || (isNode && mayHaveGpu())) && (await registerWebgpu(true)) && (await trySet('webgpu'))) {
    return tf.getBackend();
  }
  if ((await registerWasm(threads).then(() => true, () => false)) && (await trySetWasm())) return tf.getBackend();
  if (await trySet('cpu')) return tf.getBackend();
  throw new Error('initBackend: no TensorFlow.js backend could start (tried webgpu, wasm, cpu)');
}

/**
 * The active backend's name, for recording with results: 'webgpu' | 'wasm' | 'cpu', and 'wasm+blas'
 * when the wasm backend runs Promptscope's native kernels (cells/model/native).
 */
export function currentBackend(): string {
  const name = tf.getBackend();
  return name === 'wasm' && nativeKernelsInUse() ? 'wasm+blas' : name;
}
