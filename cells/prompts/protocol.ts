// The few-shot protocol (CoOp's): methods × K shots × seeds on each dataset, trained and evaluated on the
// same splits, summarised as mean ± std with a 95% CI in tidy Arrow tables.
import { seedStat } from './stats.ts';
import { tableFromArrays, type Table } from 'apache-arrow';
import { cellLog, runAll, type WorkUnit } from '../exec/index.ts';
import { backboneOf, type ModelLike } from '../model/index.ts';
import { evaluatePrompt, zeroShotPrompt } from './evaluate.ts';
import { fewShotTask, type FewShotOptions, type TaskSource } from './task.ts';
import { trainPrompt, trainPromptSpec, type TrainOptions } from './train.ts';
import { epochsForShots } from './optim.ts';

export interface MethodSpec {
  method: string;
  config?: Record<string, unknown>;
  /** Label in tables and charts (default: the method name). */
  label?: string;
  epochs?: number;
  optim?: TrainOptions['optim'];
}

export interface ProtocolOptions {
  methods: MethodSpec[];
  /** Shots per class (default CoOp's 1, 2, 4, 8, 16). */
  shots?: number[];
  /** Seeds (default 1, 2, 3). */
  seeds?: number[];
  /** Pool and test-subset sizes (see task.ts); the test size may depend on the dataset. */
  poolPerClass?: number;
  testPerClass?: number | ((source: TaskSource) => number);
  /** Add zero-shot rows (default true). */
  zeroShot?: boolean;
  templates?: string[];
  onResult?(row: ProtocolRow): void;
}

export interface ProtocolRow {
  dataset: string;
  method: string;
  shots: number;
  seed: number;
  top1: number;
  backend: string;
}

export interface ProtocolResult {
  /** One row per (dataset, method, K, seed). */
  runs: Table;
  /** One row per (dataset, method, K): mean, std (sample), n, 95% CI half-width and bounds. */
  summary: Table;
  rows: ProtocolRow[];
  /**
   * One line per trained run that ended below zero-shot or near chance (see `runWarning`), also written to
   * the cell's log as it happens. Empty when every run is healthy.
   */
  warnings: string[];
}

/** A trained run counts as "below zero-shot" when it is more than this under the zero-shot top-1. */
export const BELOW_ZERO_SHOT = 0.01;
/** …and as "near chance" when its top-1 is less than this above chance (1 / classes). */
export const NEAR_CHANCE = 0.05;

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/**
 * The warning line for one trained run, or null when it is healthy. Near chance comes first (a collapsed
 * run is also below zero-shot); `zeroShot` is undefined when the protocol ran without zero-shot rows.
 */
export function runWarning(row: ProtocolRow, nClasses: number, zeroShot: number | undefined, sgd = true): string | null {
  const chance = 1 / nClasses;
  const what = `${row.method} on ${row.dataset} (${row.shots}-shot, seed ${row.seed}): top-1 ${pct(row.top1)}`;
  if (row.top1 < chance + NEAR_CHANCE) {
    return `warning: ${what} is within ${NEAR_CHANCE * 100} points of chance (${pct(chance)}): training collapsed or learned nothing. ` +
      (sgd ? 'Try a lower learning rate (optim.lr), the papers\' recipe (lr 0.002, batch 32, one warm-up epoch) or more shots.' : 'Try more shots.');
  }
  if (zeroShot !== undefined && row.top1 < zeroShot - BELOW_ZERO_SHOT) {
    return `warning: ${what} is ${((zeroShot - row.top1) * 100).toFixed(1)} points below zero-shot (${pct(zeroShot)}): ` +
      (sgd ? 'it overfit the few shots. Try a lower learning rate (optim.lr), fewer epochs or more shots.'
        : 'a probe learns the classes from the shots alone, without the class names. Try more shots.');
  }
  return null;
}

export function summarize(rows: ProtocolRow[]): Table {
  const groups = new Map<string, ProtocolRow[]>();
  for (const r of rows) {
    const k = JSON.stringify([r.dataset, r.method, r.shots]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out = { dataset: [] as string[], method: [] as string[], shots: [] as number[], n: [] as number[], mean: [] as number[], std: [] as number[], ci95: [] as number[], lo: [] as number[], hi: [] as number[] };
  for (const list of groups.values()) {
    const { n, mean, std, ci95: ci } = seedStat(list.map((r) => r.top1));
    out.dataset.push(list[0].dataset);
    out.method.push(list[0].method);
    out.shots.push(list[0].shots);
    out.n.push(n);
    out.mean.push(mean);
    out.std.push(std);
    out.ci95.push(ci);
    out.lo.push(mean - ci);
    out.hi.push(mean + ci);
  }
  return tableFromArrays({
    dataset: out.dataset, method: out.method, shots: Int32Array.from(out.shots), n: Int32Array.from(out.n),
    mean: Float64Array.from(out.mean), std: Float64Array.from(out.std), ci95: Float64Array.from(out.ci95),
    lo: Float64Array.from(out.lo), hi: Float64Array.from(out.hi),
  }) as unknown as Table;
}

export function runsTable(rows: ProtocolRow[]): Table {
  return tableFromArrays({
    dataset: rows.map((r) => r.dataset), method: rows.map((r) => r.method), shots: Int32Array.from(rows.map((r) => r.shots)),
    seed: Int32Array.from(rows.map((r) => r.seed)), top1: Float64Array.from(rows.map((r) => r.top1)), backend: rows.map((r) => r.backend),
  }) as unknown as Table;
}

/**
 * The few-shot protocol on one or more datasets: every method × K × seed is its own cached training and
 * evaluation stage (a re-run after an edit recomputes only what the edit touched).
 */
export async function fewShotProtocol(modelLike: ModelLike, sources: TaskSource | TaskSource[], opts: ProtocolOptions): Promise<ProtocolResult> {
  const model = await backboneOf(modelLike);
  const list = Array.isArray(sources) ? sources : [sources];
  const shotList = opts.shots ?? [1, 2, 4, 8, 16];
  const seedList = opts.seeds ?? [1, 2, 3];
  const rows: ProtocolRow[] = [];
  const warnings: string[] = [];
  // First every task (and zero-shot), in order; then the trainings, independent of each other, as one batch
  // (one progress bar with an ETA): one at a time in this process, side by side in worker processes when the
  // executor has them (`promptscope run --workers`), as parallel jobs on a cluster. Rows and warnings keep
  // the protocol's order whichever finishes first.
  type Trained = { row: ProtocolRow; warning: string | null };
  const slots: Array<ProtocolRow | number> = [];
  const units: WorkUnit<Trained>[] = [];
  /** Images a unit's training goes through (its rough cost). */
  const sizes: number[] = [];
  for (const source of list) {
    let zeroShot: number | undefined;
    for (const shots of shotList) {
      for (const seed of seedList) {
        const testPerClass = typeof opts.testPerClass === 'function' ? opts.testPerClass(source) : opts.testPerClass;
        const fs: FewShotOptions = { shots, seed, poolPerClass: opts.poolPerClass, testPerClass };
        const task = await fewShotTask(model, source, fs);
        if ((opts.zeroShot ?? true) && shots === shotList[0] && seed === seedList[0]) {
          const z = await zeroShotPrompt(model, task, opts.templates);
          zeroShot = z.top1;
          const row: ProtocolRow = { dataset: source.name, method: 'zero-shot', shots: 0, seed: 0, top1: z.top1, backend: z.backend };
          slots.push(row);
          opts.onResult?.(row);
        }
        const zs = zeroShot;
        for (const m of opts.methods) {
          const train: TrainOptions = { method: m.method, config: m.config, epochs: m.epochs, optim: m.optim, seed };
          slots.push(units.length);
          sizes.push(task.train.count * (m.epochs ?? epochsForShots(shots)));
          units.push({
            label: `${m.label ?? m.method} on ${source.name} (${shots}-shot, seed ${seed})`,
            spec: trainPromptSpec(model, task, train),
            run: async () => {
              const trained = await trainPrompt(model, task, train);
              const ev = await evaluatePrompt(model, task, trained);
              const row: ProtocolRow = { dataset: source.name, method: m.label ?? m.method, shots, seed, top1: ev.top1, backend: ev.backend };
              opts.onResult?.(row);
              const warning = runWarning(row, task.classNames.length, zs, trained.steps > 0);
              if (warning) cellLog(warning);
              return { row, warning };
            },
          });
        }
      }
    }
  }
  // Side by side, the largest trainings start first, so that a long one (GTSRB's 43 classes) does not run
  // alone at the end while the other worker idles; rows keep the protocol's order either way.
  const order = units.map((_, i) => i).sort((a, b) => sizes[b] - sizes[a] || a - b);
  const { results: started } = await runAll(order.map((i) => units[i]), { title: 'protocol', unitNoun: 'runs' });
  const results: Trained[] = [];
  order.forEach((u, i) => (results[u] = started[i]));
  for (const slot of slots) {
    if (typeof slot !== 'number') rows.push(slot);
    else {
      rows.push(results[slot].row);
      if (results[slot].warning) warnings.push(results[slot].warning!);
    }
  }
  return { runs: runsTable(rows), summary: summarize(rows), rows, warnings };
}
