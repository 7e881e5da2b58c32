import type * as tf from '@tensorflow/tfjs';
import type { BackendPreference } from '../../../cells/model/backend.ts';
import type { AdamConfig } from '../adam.ts';

/** One batch field, rows along axis 0. Plain typed arrays so that it crosses to workers by copy. */
export interface ArrayField {
  data: Float32Array | Int32Array | Uint8Array;
  shape: number[];
}
/** A batch: named fields that all have the same number of rows. */
export type Batch = Record<string, ArrayField>;

/**
 * What a worker module's `setup` returns: the trainable variables, in a fixed order, and the optimizer:
 * an AdamConfig runs the fused JavaScript Adam/AdamW on the averaged flat gradient (fast on wasm/cpu),
 * a tf.Optimizer is applied as usual.
 */
export interface TrainerSetup {
  variables: tf.Variable[];
  optimizer: tf.Optimizer | AdamConfig;
}

/** Loss of one shard (mean over its rows) and the gradients of that loss, aligned with `variables`. */
export interface LossAndGrads {
  loss: tf.Scalar | number;
  grads: tf.Tensor[];
}

/**
 * The contract of a data-parallel worker module (a .ts file, imported in every worker):
 *   export async function setup(config) → TrainerSetup   (same config in every worker ⇒ same initial weights)
 *   export function lossAndGrads(batch) → LossAndGrads
 * and any other exported function, callable with `DataParallel.map` (e.g. feature extraction).
 */
export interface DataParallelWorkerModule<Config = unknown> {
  setup(config: Config): TrainerSetup | Promise<TrainerSetup>;
  lossAndGrads(batch: Batch): LossAndGrads | Promise<LossAndGrads>;
}

export interface DataParallelOptions<Config> {
  /** URL of the worker module (e.g. `new URL('./my-worker.ts', import.meta.url)`). */
  workerModule: URL;
  /** Number of worker threads; default `defaultWorkerCount()`. */
  workers?: number;
  /** Passed to `setup` in every worker; must be structured-cloneable. */
  init: Config;
  /** Backend inside each worker; default 'wasm' (single-threaded, one core per worker). */
  backend?: BackendPreference;
}

// Messages between the main thread and the worker runtime.
export type ToWorker =
  | { type: 'setup'; module: string; init: unknown; backend: BackendPreference; index: number }
  | { type: 'bind'; shared: SharedArrayBuffer; workers: number }
  | { type: 'step'; id: number; step: number; batch: Batch; weight: number; learningRate?: number }
  | { type: 'call'; id: number; method: string; args: unknown[] }
  | { type: 'parameters'; id: number };

export type FromWorker =
  | { type: 'ready'; sizes: number[]; names: string[]; backend: string }
  | { type: 'done'; id: number; result: unknown }
  | { type: 'error'; id: number; message: string; stack?: string };
