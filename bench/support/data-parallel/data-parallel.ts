// Data-parallel training across worker_threads. The main thread only splits batches and collects
// losses; each worker holds the model, and gradients are averaged through shared memory (see
// worker-runtime.ts). Also runs any other exported function of the worker module on every worker, e.g.
// frozen-feature extraction over shards.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ArrayField, Batch, DataParallelOptions, FromWorker, ToWorker } from './types.ts';

export type { ArrayField, Batch, DataParallelOptions, DataParallelWorkerModule, TrainerSetup, LossAndGrads } from './types.ts';

/**
 * Worker count when the caller gives none: PROMPTSCOPE_WORKERS if set, else the cores this process may
 * use (each worker runs single-threaded wasm, so one per core).
 */
export function defaultWorkerCount(): number {
  const env = process.env.PROMPTSCOPE_WORKERS;
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`PROMPTSCOPE_WORKERS="${env}" must be a positive integer`);
    return n;
  }
  return Math.max(1, availableParallelism());
}

/** Number of rows (axis 0) of a batch; all fields must agree. */
export function batchRows(batch: Batch): number {
  let rows: number | undefined;
  for (const [name, f] of Object.entries(batch)) {
    const size = f.shape.reduce((a, b) => a * b, 1);
    if (size !== f.data.length) throw new Error(`batch field "${name}": shape [${f.shape}] does not match ${f.data.length} values`);
    if (rows !== undefined && f.shape[0] !== rows) {
      throw new Error(`batch field "${name}" has ${f.shape[0]} rows, other fields ${rows}`);
    }
    rows = f.shape[0];
  }
  if (rows === undefined) throw new Error('empty batch: no fields');
  return rows;
}

/** Splits a batch into n contiguous shards along axis 0, sizes differing by at most one row. */
export function splitBatch(batch: Batch, n: number): Batch[] {
  const rows = batchRows(batch);
  const shards: Batch[] = [];
  let start = 0;
  for (let w = 0; w < n; w++) {
    const count = Math.floor(rows / n) + (w < rows % n ? 1 : 0);
    const shard: Batch = {};
    for (const [name, f] of Object.entries(batch)) {
      const rowSize = f.shape.slice(1).reduce((a, b) => a * b, 1);
      shard[name] = { data: f.data.slice(start * rowSize, (start + count) * rowSize), shape: [count, ...f.shape.slice(1)] } as ArrayField;
    }
    shards.push(shard);
    start += count;
  }
  return shards;
}

export interface DataParallel {
  readonly workers: number;
  /** Backend each worker runs. */
  readonly backend: string;
  /** Names and sizes of the trainable variables (from worker 0). */
  readonly variables: { name: string; size: number }[];
  /**
   * One training step on `batch`: the batch-mean loss; every worker applied the same averaged update.
   * `learningRate` overrides the optimizer's for this step (schedules).
   */
  step(batch: Batch, options?: { learningRate?: number }): Promise<number>;
  /** Calls an exported function of the worker module on every worker, worker i getting `args[i]`. */
  map<R>(method: string, args: unknown[][]): Promise<R[]>;
  /** Current parameter values held by worker `w` (for checkpoints and for checking they agree). */
  parameters(w?: number): Promise<Float32Array[]>;
  close(): Promise<void>;
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }

export async function createDataParallel<Config>(opts: DataParallelOptions<Config>): Promise<DataParallel> {
  const n = opts.workers ?? defaultWorkerCount();
  if (!Number.isInteger(n) || n < 1) throw new Error(`createDataParallel: workers must be a positive integer, got ${n}`);
  const moduleUrl = opts.workerModule.href;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let stepNo = 0;
  let closed = false;

  const threads = Array.from({ length: n }, () => new Worker(new URL('./bootstrap.mjs', import.meta.url)));
  const readies = threads.map((t, i) => new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
    t.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') resolve(msg);
      else if (msg.type === 'done') { pending.get(msg.id)?.resolve(msg.result); pending.delete(msg.id); }
      else {
        const err = new Error(`data-parallel worker ${i} (${moduleUrl}): ${msg.message}`);
        err.stack = msg.stack;
        if (msg.id === -1) reject(err);
        pending.get(msg.id)?.reject(err);
        pending.delete(msg.id);
      }
    });
    t.on('error', (e) => {
      const err = new Error(`data-parallel worker ${i} (${moduleUrl}) crashed: ${e.message}`);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    t.on('exit', (code) => {
      if (!closed && code !== 0) reject(new Error(`data-parallel worker ${i} exited with code ${code}`));
    });
  }));
  const send = (i: number, msg: ToWorker) => threads[i].postMessage(msg);
  threads.forEach((_, i) => send(i, { type: 'setup', module: moduleUrl, init: opts.init, backend: opts.backend ?? 'wasm', index: i }));
  let ready: Extract<FromWorker, { type: 'ready' }>[];
  try {
    ready = await Promise.all(readies);
  } catch (e) {
    closed = true;
    await Promise.all(threads.map((t) => t.terminate()));
    throw e;
  }
  const sizes = ready[0].sizes;
  for (const r of ready) {
    if (r.sizes.join() !== sizes.join()) throw new Error(`data-parallel workers built different models (${r.sizes.length} vs ${sizes.length} variables); setup(config) must be deterministic`);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  // Control words, one gradient slot per worker, and the shared parameter vector (sharded Adam).
  const shared = new SharedArrayBuffer(16 + 4 * (n + 1) * total);
  threads.forEach((_, i) => send(i, { type: 'bind', shared, workers: n }));

  const request = <R>(i: number, make: (id: number) => ToWorker): Promise<R> => new Promise<R>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    send(i, make(id));
  });

  const api: DataParallel = {
    workers: n,
    backend: ready[0].backend,
    variables: ready[0].names.map((name, i) => ({ name, size: sizes[i] })),
    async step(batch, options) {
      if (closed) throw new Error('DataParallel.step after close()');
      const rows = batchRows(batch);
      const shards = splitBatch(batch, n);
      stepNo++;
      // Every worker must take part in every step (the barrier counts them), even with an empty shard.
      try {
        const losses = await Promise.all(shards.map((shard, i) => request<number>(i, (id) => ({
          type: 'step', id, step: stepNo, batch: shard, weight: batchRows(shard) / rows, learningRate: options?.learningRate,
        }))));
        return losses.reduce((a, b) => a + b, 0);
      } catch (e) {
        // A failed step leaves the workers' parameters out of step with each other: stop them all.
        await api.close();
        throw e;
      }
    },
    map<R>(method: string, args: unknown[][]) {
      if (args.length !== n) throw new Error(`DataParallel.map: ${args.length} argument lists for ${n} workers`);
      return Promise.all(args.map((a, i) => request<R>(i, (id) => ({ type: 'call', id, method, args: a }))));
    },
    parameters(w = 0) {
      return request<Float32Array[]>(w, (id) => ({ type: 'parameters', id }));
    },
    async close() {
      closed = true;
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
  return api;
}
