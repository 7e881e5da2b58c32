// The in-process executor: the one place where a stage is run in this process. Stages (features, training,
// studies) only *describe* work — a spec, a codec and a compute function (types.ts) — and this runs it:
// look the key up, take the key's lock (against other processes on the same cache), compute, store
// atomically, report progress, honour cancellation. A cluster executor implements the same interface.
import { runWithContext } from './context.ts';
import { stageKey } from './keys.ts';
import type { BatchOptions, BatchResult, CellContext, Executor, StageContext, StageJob, UnitTiming, WorkUnit } from './types.ts';

function formatEta(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return ` · ETA ${Math.ceil(s)}s`;
  return ` · ETA ${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
}

/** Runs everything in this process, one stage at a time, with the cache's per-key lock against other processes. */
export class InProcessExecutor implements Executor {
  readonly name = 'in-process';

  async runStage<T>(job: StageJob<T>, cell: CellContext): Promise<{ value: T; hit: boolean }> {
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

  async runAll<T>(units: readonly WorkUnit<T>[], cell: CellContext, options: BatchOptions = {}): Promise<BatchResult<T>> {
    const { title = 'batch', unitNoun = 'units' } = options;
    const cachedAtStart = await Promise.all(units.map(async (u) => (await cell.cache.lookup(await stageKey(u.spec))) !== null));
    const toCompute = cachedAtStart.filter((c) => !c).length;
    let done = 0, computed = 0, timed = 0, computeMs = 0;
    const results: T[] = [];
    const computedLabels: string[] = [];
    const timings: UnitTiming[] = [];
    const report = (current: string) => {
      const eta = timed > 0 ? (computeMs / timed) * Math.max(0, toCompute - computed) / 1000 : undefined;
      options.onProgress?.({ done, total: units.length, toCompute, computed, etaSeconds: eta, current });
      const fraction = toCompute > 0 ? computed / toCompute : done / units.length;
      cell.progress({
        fraction: Math.min(1, fraction),
        message: `${title}: ${done}/${units.length} ${unitNoun} done (${computed}/${toCompute} computed)${formatEta(eta)} — ${current}`,
      });
    };
    for (let i = 0; i < units.length; i++) {
      const u = units[i];
      cell.signal.throwIfAborted();
      let missed = false;
      const child: CellContext = {
        ...cell,
        progress: (p) => {
          // Inner stages (features, training, evaluation) each run 0 → 1, so the bar advances per unit and
          // the message carries the inner stage's own progress.
          if (!cachedAtStart[i]) report(`${u.label}: ${p.message ?? ''} (${Math.round(100 * p.fraction)}%)`);
        },
        record: (rec) => {
          if (rec.stage === u.spec.name && !rec.hit) missed = true;
          cell.record(rec);
        },
      };
      const t0 = Date.now();
      report(cachedAtStart[i] ? `${u.label} (cached)` : u.label);
      results.push(await runWithContext(child, () => u.run()));
      timings.push({ label: u.label, ms: Date.now() - t0, computed: missed });
      done++;
      if (missed) {
        computedLabels.push(u.label);
        computeMs += Date.now() - t0;
        timed++;
        computed++;
      } else if (!cachedAtStart[i]) {
        // Finished by another process meanwhile (or by an earlier unit): nothing left to compute for it.
        computed++;
      }
      report(u.label);
    }
    return { results, computed: computedLabels, timings };
  }
}

export const inProcess = new InProcessExecutor();
