// The vocabulary of execution, types only: what a stage is (its spec and record), what the cell it runs
// for provides, and what an executor must do. Kept apart so that the ambient context, the keys and the
// executors can all use it without importing each other.
import type { Cache } from './cache.ts';
import type { Codec } from './codecs.ts';

export interface StageSpec {
  /** Stable identity, e.g. 'extractFeatures'. */
  name: string;
  /** Bump when the stage's code changes what it computes: old entries are then not reused. */
  version: number;
  params?: unknown;
  /** Upstream values (their keys join this key) or explicit keys. */
  inputs?: unknown[];
  /** Files whose content joins the key (read by the stage directly, not through an upstream stage). */
  files?: string[];
  /** Values to record as pins (models, datasets) in the run's provenance. */
  pins?: Pin[];
  /**
   * Worth a job of its own on a cluster executor (training, feature extraction, a notebook's own `cached`
   * code). Other stages (splits, small tables) run in the driver even there: a job's start-up would cost
   * more than they do. Not part of the key: where a stage runs never changes what it computes.
   */
  heavy?: boolean;
}

export interface Pin {
  kind: string;
  name: string;
  fingerprint: string;
}

/** One record of a stage call, collected per cell and written with a run's outputs. */
export interface StageRecord {
  stage: string;
  key: string;
  hit: boolean;
  params: unknown;
  inputs: string[];
  ms: number;
  /** Pins of inputs that are models or datasets: what a collaborator must have to reproduce. */
  pins: Pin[];
  /** Where a computed stage ran, when not in this process: the cluster node and job. */
  ranOn?: RanOn;
}

export interface RanOn {
  node: string;
  jobId: string;
  /** How many jobs it took (more than one when a job was lost with its node and resubmitted). */
  attempts: number;
}

export interface ProgressUpdate {
  fraction: number;
  message?: string;
}

/** Per-cell ambient state, set by the session (or by `runWithContext` in scripts and tests). */
export interface CellContext {
  cache: Cache;
  signal: AbortSignal;
  progress(update: ProgressUpdate): void;
  log(message: string): void;
  record(rec: StageRecord): void;
  /** Where this cell's stages run; the in-process executor when absent. */
  executor?: Executor;
  /**
   * Set inside a batch that runs units side by side in this process: how many worker processes its stages
   * may hand their computation to (training, train-pool.ts). Absent: compute in this thread.
   */
  workers?: number;
}

/** What a running stage may do: observe cancellation, report progress, keep resumable state. */
export interface StageContext {
  readonly key: string;
  readonly signal: AbortSignal;
  progress(fraction: number, message?: string): void;
  /** A stable per-key directory that survives a crash, for checkpoints a re-run resumes from. */
  workDir(): Promise<string>;
  log(message: string): void;
  /** Worker processes the stage may compute in, when it runs side by side with others (CellContext.workers). */
  readonly workers?: number;
}

/** One stage to run: its provenance, how its result is stored, and how to compute it. */
export interface StageJob<T> {
  spec: StageSpec;
  key: string;
  /** The keys of the spec's inputs, as recorded in the entry's provenance. */
  inputKeys: string[];
  codec: Codec<T>;
  compute(ctx: StageContext): Promise<T>;
}

/** A unit of a batch (a study's matrix cell): a label for progress, the stage it ends in, and how to run it. */
export interface WorkUnit<T> {
  label: string;
  /** The unit's final stage: its key tells whether the unit is already in the cache. */
  spec: StageSpec;
  run(): Promise<T>;
}

export interface BatchProgress {
  /** Units finished (cached or computed) and in all. */
  done: number;
  total: number;
  /** Units that were not in the cache when the batch started, and how many of them are finished. */
  toCompute: number;
  computed: number;
  /** Estimated seconds left, from the mean time of the units computed so far. */
  etaSeconds?: number;
  current: string;
}

export interface UnitTiming {
  label: string;
  ms: number;
  /** False: the unit's final stage was a cache hit. */
  computed: boolean;
}

export interface BatchResult<T> {
  results: T[];
  /** Labels of the units whose final stage was computed in this batch. */
  computed: string[];
  timings: UnitTiming[];
}

/**
 * Where and how stages run. Stages only describe work; an executor looks the key up, takes its lock,
 * computes, stores atomically, reports progress and honours cancellation. In-process is the one today;
 * a cluster executor implements the same two calls.
 */
export interface Executor {
  readonly name: string;
  /** Runs one stage for `cell`: a cache hit returns the stored value; a miss computes and stores it. */
  runStage<T>(job: StageJob<T>, cell: CellContext): Promise<StageOutcome<T>>;
  /** Runs independent units under one progress bar (cached units count as done at no cost). */
  runAll<T>(units: readonly WorkUnit<T>[], cell: CellContext, options?: BatchOptions): Promise<BatchResult<T>>;
}

export interface StageOutcome<T> {
  value: T;
  hit: boolean;
  ranOn?: RanOn;
}

export interface BatchOptions {
  /** How the progress line names the batch and its units, e.g. "study" and "cells". */
  title?: string;
  unitNoun?: string;
  onProgress?(p: BatchProgress): void;
}

export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}
