// The few-shot protocol (CoOp's): methods × K shots × seeds on each dataset, trained and evaluated on the
// same splits, summarised as mean ± std with a 95% CI in tidy Arrow tables.
import { tableFromArrays, type Table } from 'apache-arrow';
import { backboneOf, type ModelLike } from '../model/index.ts';
import { evaluatePrompt, zeroShotPrompt } from './evaluate.ts';
import { fewShotTask, type FewShotOptions, type TaskSource } from './task.ts';
import { trainPrompt, type TrainOptions } from './train.ts';

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
  /** Pool and test-subset sizes (see task.ts). */
  poolPerClass?: number;
  testPerClass?: number;
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
}

/** Student-t 0.975 quantiles for small n (df = n-1); n ≥ 31 uses 1.96. */
const T975 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function summarize(rows: ProtocolRow[]): Table {
  const groups = new Map<string, ProtocolRow[]>();
  for (const r of rows) {
    const k = JSON.stringify([r.dataset, r.method, r.shots]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out = { dataset: [] as string[], method: [] as string[], shots: [] as number[], n: [] as number[], mean: [] as number[], std: [] as number[], ci95: [] as number[], lo: [] as number[], hi: [] as number[] };
  for (const list of groups.values()) {
    const n = list.length;
    const mean = list.reduce((a, r) => a + r.top1, 0) / n;
    const std = n > 1 ? Math.sqrt(list.reduce((a, r) => a + (r.top1 - mean) ** 2, 0) / (n - 1)) : 0;
    const t = n > 1 ? (n - 1 < T975.length ? T975[n - 1] : 1.96) : 0;
    const ci = n > 1 ? (t * std) / Math.sqrt(n) : 0;
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
  const push = (r: ProtocolRow) => {
    rows.push(r);
    opts.onResult?.(r);
  };
  for (const source of list) {
    for (const shots of shotList) {
      for (const seed of seedList) {
        const fs: FewShotOptions = { shots, seed, poolPerClass: opts.poolPerClass, testPerClass: opts.testPerClass };
        const task = await fewShotTask(model, source, fs);
        if ((opts.zeroShot ?? true) && shots === shotList[0] && seed === seedList[0]) {
          const z = await zeroShotPrompt(model, task, opts.templates);
          push({ dataset: source.name, method: 'zero-shot', shots: 0, seed: 0, top1: z.top1, backend: z.backend });
        }
        for (const m of opts.methods) {
          const trained = await trainPrompt(model, task, { method: m.method, config: m.config, epochs: m.epochs, optim: m.optim, seed });
          const ev = await evaluatePrompt(model, task, trained);
          push({ dataset: source.name, method: m.label ?? m.method, shots, seed, top1: ev.top1, backend: ev.backend });
        }
      }
    }
  }
  return { runs: runsTable(rows), summary: summarize(rows), rows };
}
