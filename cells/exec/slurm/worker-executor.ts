// The executor inside a Slurm job. The job re-runs the driver's notebook (same source, same settings) to
// reach the one stage it was submitted for, and computes and stores only that stage:
// - the target computes in this process, under the cache's lock, as in-process; stages nested inside it
//   run in-process too (they are part of its work);
// - any other stage already in the cache is read from it: the driver submits a stage only after its
//   inputs are stored, so the path to the target is all hits;
// - a light stage that misses is traced without storing it (no lock: the driver may hold that lock while it
//   waits for this very job), because the target may be nested inside it;
// - a heavy stage that misses belongs to another job: this one does not wait for it.
import { runWithContext } from '../context.ts';
import { inProcess } from '../executor.ts';
import type { BatchResult, CellContext, Executor, ProgressUpdate, StageJob, StageOutcome, WorkUnit } from '../types.ts';

/** Thrown for a heavy stage that is not this job's: the cell that asked for it stops here. */
export class NotThisJobsStage extends Error {
  constructor(stage: string) {
    super(`${stage} is computed by another job`);
    this.name = 'NotThisJobsStage';
  }
}

export type TargetOutcome = { ok: true; hit: boolean } | { ok: false; error: Error };

export class WorkerExecutor implements Executor {
  readonly name = 'slurm-worker';
  /** Settles once the target stage is stored (or found stored) or has failed. */
  readonly outcome: Promise<TargetOutcome>;
  private settle!: (o: TargetOutcome) => void;

  constructor(private readonly target: string, private readonly onProgress: (p: ProgressUpdate) => void) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
  }

  async runStage<T>(job: StageJob<T>, cell: CellContext): Promise<StageOutcome<T>> {
    if (job.key === this.target) {
      const mine: CellContext = { ...cell, progress: (p) => (cell.progress(p), this.onProgress(p)) };
      const local: StageJob<T> = { ...job, compute: (ctx) => runWithContext({ ...mine, executor: inProcess }, () => job.compute(ctx)) };
      try {
        const out = await inProcess.runStage(local, mine);
        this.settle({ ok: true, hit: out.hit });
        return out;
      } catch (err) {
        this.settle({ ok: false, error: err instanceof Error ? err : new Error(String(err)) });
        throw err;
      }
    }
    const cached = await cell.cache.read(job.key, job.codec);
    if (cached.found) return { value: cached.value, hit: true };
    if (job.spec.heavy) throw new NotThisJobsStage(job.spec.name);
    const value = await job.compute({
      key: job.key, signal: cell.signal, log: cell.log,
      progress: () => undefined,
      workDir: () => Promise.reject(new Error(`${job.spec.name} is only traced in this job: it has no work directory here`)),
    });
    return { value, hit: false };
  }

  /**
   * Every unit is tried in order; the ones that need another job's stage stop and are skipped. Any other
   * error is the job's own failure and is thrown, so its message reaches the driver.
   */
  async runAll<T>(units: readonly WorkUnit<T>[]): Promise<BatchResult<T>> {
    const results: T[] = [];
    const skipOthers = (err: unknown): T => {
      if (err instanceof NotThisJobsStage) return undefined as T;
      throw err;
    };
    for (const u of units) results.push(await u.run().catch(skipOthers));
    return { results, computed: [], timings: [] };
  }
}
