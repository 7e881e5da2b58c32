// The in-process executor: the one place where a stage is run in this process. Stages (features, training,
// studies) only *describe* work — a spec, a codec and a compute function (types.ts) — and this runs it:
// look the key up, take the key's lock (against other processes on the same cache), compute, store
// atomically, report progress, honour cancellation. A cluster executor implements the same interface.
import { availableParallelism } from 'node:os';
import { runBatch } from './batch.ts';
import type { BatchOptions, BatchResult, CellContext, Executor, StageContext, StageJob, StageOutcome, WorkUnit } from './types.ts';

export interface InProcessOptions {
  /**
   * Units of a batch (a protocol's trainings, a study's cells) run side by side, this many at once, each
   * training in a worker process (default 0: one unit at a time, everything in this thread).
   */
  workers?: number;
}

/**
 * Training workers for a machine with this many cores: one per core up to 4 (each worker holds a copy of
 * the frozen model), none on one core.
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return cores >= 2 ? Math.min(cores, 4) : 0;
}

/**
 * Runs everything in this process, with the cache's per-key lock against other processes: one stage at a
 * time, or a batch's units side by side when `workers` is set (their trainings then run in worker processes).
 */
export class InProcessExecutor implements Executor {
  readonly name = 'in-process';
  readonly workers: number;

  constructor(options: InProcessOptions = {}) {
    const w = options.workers ?? 0;
    if (!(Number.isInteger(w) && w >= 0)) throw new Error(`workers must be a whole number ≥ 0, got ${w}`);
    this.workers = w;
  }

  async runStage<T>(job: StageJob<T>, cell: CellContext): Promise<StageOutcome<T>> {
    const { spec, key, codec } = job;
    const started = Date.now();
    // Outside the key's lock a damaged entry is only a miss; the lock holder reports and repairs it, so two
    // processes never race to remove an entry that one of them has just stored again.
    const cached = await cell.cache.read(key, codec, { repair: false });
    if (cached.found) {
      await cell.cache.clearLeftoverWork(key, cell.signal);
      return { value: cached.value, hit: true };
    }
    return cell.cache.withLock(key, async () => {
      // Another process may have finished it while we waited for the lock.
      const again = await cell.cache.read(key, codec, { repair: true });
      if (again.found) {
        await cell.cache.clearWork(key);
        return { value: again.value, hit: true };
      }
      cell.signal.throwIfAborted();
      const ctx: StageContext = {
        key,
        signal: cell.signal,
        progress: (fraction, message) => cell.progress({ fraction, message: message ? `${spec.name}: ${message}` : spec.name }),
        workDir: () => cell.cache.workDir(key),
        log: cell.log,
        workers: cell.workers,
      };
      const value = await job.compute(ctx);
      // A cancelled computation may have returned early: never store what it produced.
      cell.signal.throwIfAborted();
      await cell.cache.store(
        { key, stage: spec.name, version: spec.version, params: spec.params ?? null, inputs: job.inputKeys, elapsedMs: Date.now() - started },
        (dir) => codec.encode(value, dir),
      );
      await cell.cache.clearWork(key);
      return { value, hit: false };
    }, cell.signal);
  }

  runAll<T>(units: readonly WorkUnit<T>[], cell: CellContext, options: BatchOptions = {}): Promise<BatchResult<T>> {
    return runBatch(units, cell, options, Math.max(1, this.workers), this.workers > 1);
  }
}

export const inProcess = new InProcessExecutor();
