// Running a batch of independent work units (a study's matrix cells) under one progress bar: cached units
// are counted up front and cost nothing, the ETA comes from the units computed so far. Both executors use
// this; they differ in how many units run at once (one in process, up to --max-jobs on a cluster, where
// each unit's heavy stages wait in their own jobs).
import { runWithContext } from './context.ts';
import { stageKey } from './keys.ts';
import type { BatchOptions, BatchResult, CellContext, UnitTiming, WorkUnit } from './types.ts';

export function formatEta(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return ` · ETA ${Math.ceil(s)}s`;
  return ` · ETA ${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
}

/**
 * `concurrency` units at a time. `inWorkers`: the units run side by side in this process, so their stages
 * learn (CellContext.workers) that they may compute in worker processes.
 */
export async function runBatch<T>(units: readonly WorkUnit<T>[], cell: CellContext, options: BatchOptions = {}, concurrency = 1, inWorkers = false): Promise<BatchResult<T>> {
  const { title = 'batch', unitNoun = 'units' } = options;
  const cachedAtStart = await Promise.all(units.map(async (u) => (await cell.cache.lookup(await stageKey(u.spec))) !== null));
  const toCompute = cachedAtStart.filter((c) => !c).length;
  const lanes = Math.max(1, Math.min(concurrency, units.length));
  let done = 0, computed = 0, timed = 0, computeMs = 0;
  const results: T[] = new Array(units.length);
  const computedLabels: string[] = [];
  const timings: UnitTiming[] = [];
  const running = new Map<number, string>();
  const report = () => {
    // Several units run at once on a cluster: the mean time per unit is divided among them.
    const perUnit = timed > 0 ? computeMs / timed / Math.max(1, Math.min(concurrency, toCompute - computed)) : undefined;
    const eta = perUnit !== undefined ? (perUnit * Math.max(0, toCompute - computed)) / 1000 : undefined;
    const current = [...running.values()].join(' | ');
    options.onProgress?.({ done, total: units.length, toCompute, computed, etaSeconds: eta, current });
    const fraction = toCompute > 0 ? computed / toCompute : done / units.length;
    cell.progress({
      fraction: Math.min(1, fraction),
      message: `${title}: ${done}/${units.length} ${unitNoun} done (${computed}/${toCompute} computed)${formatEta(eta)} — ${current}`,
    });
  };
  const runOne = async (i: number) => {
    const u = units[i];
    cell.signal.throwIfAborted();
    let missed = false;
    const child: CellContext = {
      ...cell,
      ...(inWorkers && lanes > 1 ? { workers: lanes } : {}),
      progress: (p) => {
        // Inner stages (features, training, evaluation) each run 0 → 1, so the bar advances per unit and
        // the message carries the inner stage's own progress.
        if (cachedAtStart[i]) return;
        running.set(i, `${u.label}: ${p.message ?? ''} (${Math.round(100 * p.fraction)}%)`);
        report();
      },
      record: (rec) => {
        if (rec.stage === u.spec.name && !rec.hit) missed = true;
        cell.record(rec);
      },
    };
    const t0 = Date.now();
    running.set(i, cachedAtStart[i] ? `${u.label} (cached)` : u.label);
    report();
    results[i] = await runWithContext(child, () => u.run());
    running.delete(i);
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
    report();
  };
  // Units are started in order, at most `concurrency` at a time; the first failure stops new starts.
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < units.length && failure === undefined) {
      const i = next++;
      try {
        await runOne(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure !== undefined) throw failure;
  return { results, computed: computedLabels, timings };
}
