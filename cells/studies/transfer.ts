// The transferability study: a source × target matrix of transfer gains (MVLPT's single-source transfer,
// all ordered pairs of the selected tasks) for one method, K and set of seeds.
//
// Reactive by construction: every matrix cell × seed is its own cached stage (`transferCell`, keyed by the
// method configuration, the source and target task fingerprints, K, the seed and the model), and every
// target × seed has one cached default-init reference (`transferBaseline`). The matrix itself is plain
// assembly. So adding a task to the selection computes exactly its new row and its new column (and its
// own reference), removing one computes nothing, and changing K re-runs training and evaluation stages
// only: features are keyed by the task's pool, which does not depend on K.
//
// The study describes its units (label, final stage, how to run it) and the executor runs them
// (cells/exec): before running, every unit's key is looked up in the cache, so the bar counts cells
// done / total and estimates the time left from the units that really compute. Cancelling stops the unit
// in flight; every finished unit is already in the cache.
import { Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { runAll, type BatchProgress, type UnitTiming, type WorkUnit } from '../exec/index.ts';
import type { PromptBackbone } from '../model/index.ts';
import {
  baselineSpec, defaultInitAccuracy, meanStd, resolveMethod, assertShareable, sourceInitAccuracy, transferCellSpec,
  type FewShotSetting, type MeanStd, type PromptMethod, type RunAccuracy, type SourceBudget,
} from './multitask.ts';
import type { StudyTask } from './tasks.ts';

export interface TransferStudyOptions {
  method: PromptMethod;
  shots: number;
  seeds: readonly number[];
  testPerClass?: number;
  /** Budget of the source prompts when it differs from the targets' (default: the same). */
  source?: SourceBudget;
  /** Also fill the diagonal (a task initialised from its own prompt = a longer run). Default false. */
  includeDiagonal?: boolean;
  /** Called whenever a unit (a cell × seed or a reference) finishes. */
  onProgress?(p: StudyProgress): void;
}

/** Progress of a study: the executor's batch progress over its units. */
export type StudyProgress = BatchProgress;
export type { UnitTiming };

export interface TransferCell {
  source: string;
  target: string;
  sourceDomain: string;
  targetDomain: string;
  perSeed: { seed: number; sourceInit: number; defaultInit: number; gain: number }[];
  gain: MeanStd;
  sourceInit: MeanStd;
  defaultInit: MeanStd;
  /** True when at least one seed of this cell was computed in this run (false: all from the cache). */
  computed: boolean;
}

export interface TransferMatrix {
  method: string;
  shots: number;
  seeds: number[];
  tasks: string[];
  domains: string[];
  cells: TransferCell[];
  /** Default-init accuracy per target (the reference of every gain in its column). */
  references: { target: string; defaultInit: MeanStd }[];
  /** Tidy, one row per (source, target): gain mean/std, both accuracies, seeds. */
  table: Table;
  /** Tidy, one row per (source, target, seed). */
  seedTable: Table;
  /** Which units ran: labels of the cells and references computed in this run. */
  computedUnits: string[];
  /** Every unit in run order: its label, wall time in this run and whether it was computed (false: cache hit). */
  units: UnitTiming[];
  elapsedMs: number;
}

type Unit = WorkUnit<RunAccuracy>;

/** The ordered (source, target) pairs of a study, row by row. */
export function studyPairs(tasks: readonly StudyTask[], includeDiagonal = false): [StudyTask, StudyTask][] {
  const pairs: [StudyTask, StudyTask][] = [];
  for (const s of tasks) for (const t of tasks) if (includeDiagonal || s.fingerprint !== t.fingerprint) pairs.push([s, t]);
  return pairs;
}

function checkTasks(tasks: readonly StudyTask[], what: string): void {
  const names = new Set<string>();
  for (const t of tasks) {
    if (names.has(t.name)) throw new Error(`${what}: two tasks are named "${t.name}"; task names label the results, make them unique`);
    names.add(t.name);
  }
}

/** One default-init reference per target × seed (shared by every study on the same budget). */
function referenceUnits(model: PromptBackbone, tasks: readonly StudyTask[], opts: TransferStudyOptions): Unit[] {
  const r = resolveMethod(opts.method, opts.shots);
  const units: Unit[] = [];
  for (const t of tasks) {
    for (const seed of opts.seeds) {
      const s: FewShotSetting = { shots: opts.shots, seed, testPerClass: opts.testPerClass };
      units.push({ label: `reference ${t.name} (seed ${seed})`, spec: baselineSpec(model, t, r, s), run: () => defaultInitAccuracy(model, t, opts.method, s) });
    }
  }
  return units;
}

/** Source × target transfer gains over the selected tasks (single-source, all ordered pairs). */
export async function transferMatrix(model: PromptBackbone, tasks: readonly StudyTask[], opts: TransferStudyOptions): Promise<TransferMatrix> {
  const started = Date.now();
  if (tasks.length < 2 && !opts.includeDiagonal) throw new Error('transferMatrix: select at least two tasks');
  checkTasks(tasks, 'transferMatrix');
  if (opts.seeds.length === 0) throw new Error('transferMatrix: no seeds');
  const r = resolveMethod(opts.method, opts.shots);
  assertShareable(r, 'transferMatrix');
  const setting = (seed: number): FewShotSetting => ({ shots: opts.shots, seed, testPerClass: opts.testPerClass });
  // References first: with the same source and target budget, a task's reference *is* its source prompt
  // (the same trainPrompt key), so rows then start from the cache.
  const units: Unit[] = referenceUnits(model, tasks, opts);
  const pairs = studyPairs(tasks, opts.includeDiagonal);
  for (const [s, t] of pairs) {
    for (const seed of opts.seeds) {
      units.push({
        label: `${s.name} → ${t.name} (seed ${seed})`,
        spec: transferCellSpec(model, [s], t, r, setting(seed), opts.source),
        run: () => sourceInitAccuracy(model, [s], t, opts.method, setting(seed), opts.source),
      });
    }
  }
  const { results, computed, timings } = await runAll(units, { title: 'study', unitNoun: 'cells', onProgress: opts.onProgress });
  const nSeeds = opts.seeds.length;
  const references = tasks.map((t, i) => ({ target: t.name, defaultInit: meanStd(results.slice(i * nSeeds, (i + 1) * nSeeds).map((x) => x.top1)) }));
  const refBySeed = new Map<string, number>();
  tasks.forEach((t, i) => opts.seeds.forEach((seed, k) => refBySeed.set(`${t.fingerprint}\0${seed}`, results[i * nSeeds + k].top1)));
  const computedSet = new Set(computed);
  const cells: TransferCell[] = pairs.map(([s, t], p) => {
    const base = tasks.length * nSeeds + p * nSeeds;
    const perSeed = opts.seeds.map((seed, k) => {
      const sourceInit = results[base + k].top1;
      const defaultInit = refBySeed.get(`${t.fingerprint}\0${seed}`)!;
      return { seed, sourceInit, defaultInit, gain: sourceInit - defaultInit };
    });
    return {
      source: s.name, target: t.name, sourceDomain: s.domain, targetDomain: t.domain, perSeed,
      gain: meanStd(perSeed.map((x) => x.gain)), sourceInit: meanStd(perSeed.map((x) => x.sourceInit)), defaultInit: meanStd(perSeed.map((x) => x.defaultInit)),
      computed: opts.seeds.some((seed) => computedSet.has(`${s.name} → ${t.name} (seed ${seed})`)),
    };
  });
  return {
    method: r.method, shots: opts.shots, seeds: [...opts.seeds], tasks: tasks.map((t) => t.name), domains: tasks.map((t) => t.domain),
    cells, references, table: matrixTable(cells, r.method, opts.shots), seedTable: seedTable(cells, r.method, opts.shots),
    computedUnits: computed, units: timings, elapsedMs: Date.now() - started,
  };
}

/** The matrix as a tidy Arrow table: one row per (source, target). */
export function matrixTable(cells: readonly TransferCell[], method: string, shots: number): Table {
  return new Table({
    source: vectorFromArray(cells.map((c) => c.source), new Utf8()),
    target: vectorFromArray(cells.map((c) => c.target), new Utf8()),
    source_domain: vectorFromArray(cells.map((c) => c.sourceDomain), new Utf8()),
    target_domain: vectorFromArray(cells.map((c) => c.targetDomain), new Utf8()),
    method: vectorFromArray(cells.map(() => method), new Utf8()),
    shots: vectorFromArray(cells.map(() => shots), new Int32()),
    seeds: vectorFromArray(cells.map((c) => c.gain.n), new Int32()),
    gain: vectorFromArray(cells.map((c) => c.gain.mean), new Float64()),
    gain_std: vectorFromArray(cells.map((c) => c.gain.std), new Float64()),
    source_init: vectorFromArray(cells.map((c) => c.sourceInit.mean), new Float64()),
    default_init: vectorFromArray(cells.map((c) => c.defaultInit.mean), new Float64()),
  });
}

/** One row per (source, target, seed): the paired accuracies behind each gain. */
export function seedTable(cells: readonly TransferCell[], method: string, shots: number): Table {
  const rows = cells.flatMap((c) => c.perSeed.map((p) => ({ c, p })));
  return new Table({
    source: vectorFromArray(rows.map((x) => x.c.source), new Utf8()),
    target: vectorFromArray(rows.map((x) => x.c.target), new Utf8()),
    method: vectorFromArray(rows.map(() => method), new Utf8()),
    shots: vectorFromArray(rows.map(() => shots), new Int32()),
    seed: vectorFromArray(rows.map((x) => x.p.seed), new Int32()),
    source_init: vectorFromArray(rows.map((x) => x.p.sourceInit), new Float64()),
    default_init: vectorFromArray(rows.map((x) => x.p.defaultInit), new Float64()),
    gain: vectorFromArray(rows.map((x) => x.p.gain), new Float64()),
  });
}

export interface MultiSourceRow {
  target: string;
  targetDomain: string;
  /** The other selected tasks, whose union trained the source prompt. */
  sources: string[];
  perSeed: { seed: number; sourceInit: number; defaultInit: number; gain: number }[];
  gain: MeanStd;
  sourceInit: MeanStd;
  defaultInit: MeanStd;
}

export interface MultiSourceTransfer {
  method: string;
  shots: number;
  seeds: number[];
  rows: MultiSourceRow[];
  /** Tidy: target, sources, gain, gain_std, source_init, default_init. */
  table: Table;
  units: UnitTiming[];
}

/**
 * MVLPT §(i) leave-one-out: for each selected target, one multitask prompt trained on *all the other*
 * selected tasks (pooled sampling) initialises the target's prompt; gain against the same default-init
 * reference as the matrix (shared cache entries). Each target × seed is one cached `transferCell` keyed by
 * the whole source set, so changing the selection recomputes every row (each source set changes).
 */
export async function multiSourceTransfer(model: PromptBackbone, tasks: readonly StudyTask[], opts: TransferStudyOptions): Promise<MultiSourceTransfer> {
  if (tasks.length < 3) throw new Error('multiSourceTransfer: select at least three tasks (each target needs two or more sources)');
  checkTasks(tasks, 'multiSourceTransfer');
  if (opts.seeds.length === 0) throw new Error('multiSourceTransfer: no seeds');
  const r = resolveMethod(opts.method, opts.shots);
  assertShareable(r, 'multiSourceTransfer');
  const units = referenceUnits(model, tasks, opts);
  for (const t of tasks) {
    const others = tasks.filter((x) => x.fingerprint !== t.fingerprint);
    for (const seed of opts.seeds) {
      const s: FewShotSetting = { shots: opts.shots, seed, testPerClass: opts.testPerClass };
      units.push({
        label: `all others → ${t.name} (seed ${seed})`,
        spec: transferCellSpec(model, [...others].sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1)), t, r, s, opts.source),
        run: () => sourceInitAccuracy(model, others, t, opts.method, s, opts.source),
      });
    }
  }
  const { results, timings } = await runAll(units, { title: 'study', unitNoun: 'cells', onProgress: opts.onProgress });
  const n = opts.seeds.length, T = tasks.length;
  const rows: MultiSourceRow[] = tasks.map((t, i) => {
    const perSeed = opts.seeds.map((seed, k) => {
      const sourceInit = results[T * n + i * n + k].top1;
      const defaultInit = results[i * n + k].top1;
      return { seed, sourceInit, defaultInit, gain: sourceInit - defaultInit };
    });
    return {
      target: t.name, targetDomain: t.domain, sources: tasks.filter((x) => x !== t).map((x) => x.name), perSeed,
      gain: meanStd(perSeed.map((p) => p.gain)), sourceInit: meanStd(perSeed.map((p) => p.sourceInit)), defaultInit: meanStd(perSeed.map((p) => p.defaultInit)),
    };
  });
  const table = new Table({
    target: vectorFromArray(rows.map((x) => x.target), new Utf8()),
    sources: vectorFromArray(rows.map((x) => x.sources.join(' + ')), new Utf8()),
    method: vectorFromArray(rows.map(() => r.method), new Utf8()),
    shots: vectorFromArray(rows.map(() => opts.shots), new Int32()),
    gain: vectorFromArray(rows.map((x) => x.gain.mean), new Float64()),
    gain_std: vectorFromArray(rows.map((x) => x.gain.std), new Float64()),
    source_init: vectorFromArray(rows.map((x) => x.sourceInit.mean), new Float64()),
    default_init: vectorFromArray(rows.map((x) => x.defaultInit.mean), new Float64()),
  });
  return { method: r.method, shots: opts.shots, seeds: [...opts.seeds], rows, table, units: timings };
}
