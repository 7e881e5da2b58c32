// The in-process executor: the one place where a stage is run in this process. Stages (features, training,
// studies) only *describe* work — a spec, a codec and a compute function (types.ts) — and this runs it:
// look the key up, take the key's lock (against other processes on the same cache), compute, store
// atomically, report progress, honour cancellation. A cluster executor implements the same interface.
import { runBatch } from './batch.ts';
import type { BatchOptions, BatchResult, CellContext, Executor, StageContext, StageJob, StageOutcome, WorkUnit } from './types.ts';

/** Runs everything in this process, one stage at a time, with the cache's per-key lock against other processes. */
export class InProcessExecutor implements Executor {
  readonly name = 'in-process';

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
    return runBatch(units, cell, options, 1);
  }
}

export const inProcess = new InProcessExecutor();
