// Training in worker processes, so that independent prompt trainings (a protocol's methods, datasets,
// shots and seeds) run side by side, one per core. A batch-8 prompt step is too small for two BLAS threads
// to help one training much, but two trainings on two cores take about the time of one.
//
// Used only when the executor runs a batch's units side by side (`InProcessExecutor({ workers })`, which
// the CLI and the notebook kernel create; the stage context says how many): a single training stays in
// this process, without a worker's start-up. A worker reloads the model from its checkpoint directory and
// checks the fingerprint, and runs the same trainer and loop as train.ts with this process's BLAS thread
// count, so the trained prompt is byte-identical to an in-process run; checkpoints go to the same stage
// work directory (a killed run resumes either way).
//
// Processes, not worker threads: threads share one OpenBLAS, whose threaded products round differently when
// two threads call it at once (measured: UPT prompts differed in 2 of 8 runs with two BLAS threads, never
// with one), and a training must not depend on what else ran beside it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../exec/index.ts';
import type { BackendPreference } from '../model/index.ts';
import { mainThreadBlasThreads } from '../model/native/index.ts';
import type { OptimConfig } from './optim.ts';
import type { PromptState } from './trainer.ts';
import type { CurvePoint } from './optimizer.ts';

// What goes between this thread and a worker (train-worker.ts).
/** A training split, whole: the rows a batch picks are cut from these arrays. */
export interface WorkerSplit {
  count: number;
  labels: Int32Array;
  input: 'features' | 'pixels';
  /** [count, dim] when input is 'features'. */
  features?: Float32Array;
  dim: number;
  /** [count, 3, S, S] when input is 'pixels'. */
  pixels?: Float32Array;
  imageSize: number;
}

export interface TrainJob {
  type: 'train';
  id: number;
  backend: BackendPreference;
  /** The model's checkpoint directory and the fingerprint it must reload to. */
  modelDir: string;
  fingerprint: string;
  method: string;
  config: Record<string, unknown>;
  optim: OptimConfig;
  epochs: number;
  seed: number;
  from?: PromptState;
  task: { name: string; classNames: string[] };
  split: WorkerSplit;
  checkpoint: string;
  label: string;
}

export type TrainWorkerRequest = TrainJob | { type: 'cancel'; id: number };

export interface TrainWorkerResult {
  state: PromptState;
  curve: CurvePoint[];
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
  trainableParameters: number;
  backend: string;
}

export type TrainWorkerReply =
  | { type: 'progress'; id: number; fraction: number; message: string }
  | { type: 'done'; id: number; result: TrainWorkerResult }
  /** `name` keeps the error's class across the thread (CancelledError, TrainingDivergedError). */
  | { type: 'error'; id: number; name: string; message: string };


/** The backend a worker can reproduce this thread's results on (webgpu's device stays with this thread). */
export function workerBackend(): BackendPreference | undefined {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu' ? b : undefined;
}

/** Whether a worker keeps this process alive: only while it has a job, so an idle pool never does. */
function hold(w: ChildProcess, on: boolean): void {
  const channel = w.channel as { ref(): void; unref(): void } | undefined;
  if (on) {
    w.ref();
    channel?.ref();
  } else {
    w.unref();
    channel?.unref();
  }
}

type Waiting = { resolve: (r: TrainWorkerResult) => void; reject: (e: Error) => void; progress: (fraction: number, message: string) => void };

class TrainPool {
  private readonly idle: ChildProcess[] = [];
  private readonly queue: Array<(w: ChildProcess) => void> = [];
  private readonly waiting = new Map<number, Waiting>();
  private readonly workers: ChildProcess[] = [];
  /** The worker each job in flight runs on. */
  private readonly owner = new Map<number, ChildProcess>();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {}

  private start(): ChildProcess {
    // OpenBLAS rounds differently with another thread count: the worker asks for this process's.
    const env = { ...process.env, PROMPTSCOPE_BLAS_THREADS: String(mainThreadBlasThreads()) };
    const w = fork(fileURLToPath(new URL('../util/ts-worker.mjs', import.meta.url)), [new URL('./train-worker.ts', import.meta.url).href], { env, serialization: 'advanced' });
    w.on('message', (msg: TrainWorkerReply) => {
      const job = this.waiting.get(msg.id);
      if (!job) return;
      if (msg.type === 'progress') return job.progress(msg.fraction, msg.message);
      this.waiting.delete(msg.id);
      this.release(w);
      if (msg.type === 'done') job.resolve(msg.result);
      else job.reject(msg.name === 'CancelledError' ? new CancelledError(msg.message) : Object.assign(new Error(msg.message), { name: msg.name }));
    });
    const crashed = (why: string) => {
      // Every job on this worker fails with the reason; the worker is replaced on the next request.
      for (const list of [this.workers, this.idle]) {
        const i = list.indexOf(w);
        if (i >= 0) list.splice(i, 1);
      }
      for (const [id, job] of this.waiting) if (this.owner.get(id) === w) { this.waiting.delete(id); job.reject(new Error(`training worker ${why}`)); }
      const next = this.queue.shift();
      if (next && !this.closed) next(this.start());
    };
    w.on('error', (e) => crashed(`crashed: ${e.message}`));
    w.on('exit', (code, signal) => { if (!this.closed) crashed(signal ? `was killed (${signal})` : `exited with code ${code}`); });
    this.workers.push(w);
    return w;
  }

  // A worker holds the process open only while it has a job: an idle pool never keeps it alive.
  private acquire(): Promise<ChildProcess> {
    const w = this.idle.pop() ?? (this.workers.length < this.size ? this.start() : undefined);
    if (w) {
      hold(w, true);
      return Promise.resolve(w);
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(w: ChildProcess): void {
    if (!this.workers.includes(w)) return;
    if (this.closed) {
      w.kill();
      return;
    }
    const next = this.queue.shift();
    if (next) next(w);
    else {
      hold(w, false);
      this.idle.push(w);
    }
  }

  async train(job: Omit<TrainJob, 'type' | 'id'>, progress: Waiting['progress'], signal: AbortSignal): Promise<TrainWorkerResult> {
    const w = await this.acquire();
    const id = this.nextId++;
    const onAbort = () => w.send({ type: 'cancel', id });
    signal.addEventListener('abort', onAbort);
    try {
      return await new Promise<TrainWorkerResult>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject, progress });
        this.owner.set(id, w);
        w.send({ ...job, type: 'train', id } satisfies TrainJob);
        if (signal.aborted) onAbort();
      });
    } finally {
      this.owner.delete(id);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Idle workers end now, busy ones when their job is done. */
  close(): void {
    this.closed = true;
    for (const w of this.idle.splice(0)) w.kill();
  }
}

let pool: TrainPool | undefined;

/** The shared pool of `size` workers (a new size replaces it once the old one's jobs are done). */
export function trainPool(size: number): TrainPool {
  if (pool?.size !== size) {
    pool?.close();
    pool = new TrainPool(size);
  }
  return pool;
}
