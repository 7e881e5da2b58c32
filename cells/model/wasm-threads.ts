// XNNPACK's thread pool for tfjs-backend-wasm in Node. tfjs 4.22 disables wasm threads in Node; four
// things stand in the way, and we work around each one, only while the backend starts:
//  1. the WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false in Node → set it;
//  2. Emscripten starts its pthread workers from a `blob:` URL, which worker_threads cannot load → the
//     worker script (shipped as a string in the package) is written to a temp file and used instead;
//  3. each pthread is told to load the main script from a Blob → it gets the package's own
//     wasm-out/tfjs-backend-wasm-threaded-simd.js path;
//  4. the C++ side uses half the logical cores (it assumes SMT), so 2 vCPUs would give 1 thread → it is
//     shown twice the cores while it starts, and the count asked for is passed explicitly.
// Only XNNPACK kernels (matmul, convolutions) run in parallel this way; for training, data-parallel
// workers (data-parallel.ts) use the cores better (bench/README.md). Opt-in, for in-process work.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Must run before the wasm backend is first started. */
export async function prepareWasmThreads(threads: number): Promise<void> {
  if (!Number.isInteger(threads) || threads < 2) throw new Error(`wasm threads: need an integer ≥ 2, got ${threads}`);
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const outDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
  const { wasmWorkerContents } = require(join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const tempDir = mkdtempSync(join(tmpdir(), 'promptscope-wasm-'));
  // Pthreads may start later than the backend, so the file stays until the process exits.
  process.once('exit', () => rmSync(tempDir, { recursive: true, force: true }));
  const workerFile = join(tempDir, 'pthread-worker.cjs');
  // The string holds the script with its "\n" escapes already decoded; tfjs re-escapes it the same way.
  writeFileSync(workerFile, wasmWorkerContents.replace(/\n/g, '\\n'));
  const mainScript = join(outDir, 'tfjs-backend-wasm-threaded-simd.js');

  const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
  const Base = workerThreads.Worker;
  class PthreadWorker extends Base {
    constructor(url: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      super(String(url).startsWith('blob:') ? workerFile : url, options);
      // XNNPACK's pool threads live as long as the process and idle between kernels; they must not keep
      // it alive once the main thread is done (Emscripten re-refs running pthreads: ignored).
      this.unref();
    }
    override ref(): void {}
    override postMessage(message: unknown, transfer?: readonly import('node:worker_threads').TransferListItem[]): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') message = { ...m, urlOrBlob: mainScript };
      super.postMessage(message, transfer);
    }
  }
  // Emscripten reads require('worker_threads').Worker when the module is instantiated (at setBackend).
  (workerThreads as { Worker: typeof Base }).Worker = PthreadWorker;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const os = require('node:os') as typeof import('node:os');
  const cpus = os.cpus;
  pending = () => {
    (workerThreads as { Worker: typeof Base }).Worker = Base;
    os.cpus = cpus;
  };
  os.cpus = () => { const c = cpus(); return [...c, ...c]; };
}

let pending: (() => void) | undefined;

/** Undo the start-up patches once the backend is up (the pthread pool keeps its own Worker class). */
export function finishWasmThreads(): void {
  pending?.();
  pending = undefined;
}
