// UPT's comparison as the paper reports it, and its claims checked on whatever was run: the per-dataset
// table (mean ± std and 95 % CI over seeds at the largest K each dataset ran) with the average row, whether
// UPT at least matches the better of CoOp and VPT on average, and whether the gains correlate with the two
// variances the way UPT's plots say. Input: the few-shot protocol's rows (protocol.ts).
import { tableFromArrays, type Table } from 'apache-arrow';
import { pearson, signVerdict, type Correlation } from './correlation.ts';
import type { ProtocolRow } from './protocol.ts';
import { seedStat as stat, type SeedStat as Stat } from './stats.ts';
import type { GainPoint, VarianceStats } from './variance.ts';

/** The largest K with rows for every method on `dataset` (the K its table row reports). */
function reportedShots(rows: ProtocolRow[], dataset: string, methods: string[]): number | undefined {
  const ks = [...new Set(rows.filter((r) => r.dataset === dataset && r.method !== 'zero-shot').map((r) => r.shots))].sort((a, b) => b - a);
  return ks.find((k) => methods.every((m) => rows.some((r) => r.dataset === dataset && r.method === m && r.shots === k)));
}

const seedsOf = (rows: ProtocolRow[], dataset: string, method: string, shots: number) =>
  rows.filter((r) => r.dataset === dataset && r.method === method && (method === 'zero-shot' || r.shots === shots));

/**
 * The paper's table: one row per dataset at its largest K run (16 unless a bundled subset is too small),
 * each method's mean, std and 95 % CI half-width over seeds (fractions), and an "average" row: per seed, the
 * mean over datasets; then mean ± std and CI of those per-seed averages (datasets enter each seed's average
 * once, so the seeds stay the unit of replication).
 */
export function paperTable(rows: ProtocolRow[], methods: string[]): Table {
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  const missing = datasets.filter((d) => !rows.some((r) => r.dataset === d && r.method === 'zero-shot'));
  if (missing.length) throw new Error(`paperTable: no zero-shot row for ${missing.join(', ')}; run fewShotProtocol with zero-shot (its default), the table's reference row`);
  const all = ['zero-shot', ...methods];
  const cols: Record<string, unknown[]> = { dataset: [], shots: [] };
  for (const m of all) for (const s of ['mean', 'std', 'ci95', 'n']) cols[`${m} ${s}`] = [];
  const used: { dataset: string; shots: number }[] = [];
  const push = (dataset: string, shots: number | null, stats: Stat[]) => {
    cols.dataset.push(dataset);
    cols.shots.push(shots);
    all.forEach((m, i) => {
      cols[`${m} mean`].push(stats[i].mean);
      cols[`${m} std`].push(stats[i].std);
      cols[`${m} ci95`].push(stats[i].ci95);
      cols[`${m} n`].push(stats[i].n);
    });
  };
  for (const dataset of datasets) {
    const k = reportedShots(rows, dataset, methods);
    if (k === undefined) continue;
    used.push({ dataset, shots: k });
    push(dataset, k, all.map((m) => stat(seedsOf(rows, dataset, m, k).map((r) => r.top1))));
  }
  if (!used.length) throw new Error(`paperTable: no dataset has rows for every method (${methods.join(', ')})`);
  const seeds = [...new Set(rows.filter((r) => r.method !== 'zero-shot').map((r) => r.seed))].sort((a, b) => a - b);
  const averages = all.map((m) => {
    // zero-shot has one row per dataset (no seed): its average is one number.
    if (m === 'zero-shot') return stat([used.reduce((a, u) => a + seedsOf(rows, u.dataset, m, u.shots)[0].top1, 0) / used.length]);
    return stat(seeds.flatMap((seed) => {
      const per = used.map((u) => seedsOf(rows, u.dataset, m, u.shots).find((r) => r.seed === seed)?.top1);
      return per.every((x) => x !== undefined) ? [per.reduce((a, b) => a + b!, 0) / per.length] : [];
    }));
  });
  push('average', null, averages);
  return tableFromArrays(Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, k === 'dataset' ? (v as string[]) : Float64Array.from(v as number[], (x) => x ?? NaN)]))) as unknown as Table;
}

/**
 * `paperTable`'s result as the Markdown table the README shows: one row per method (zero-shot first), one
 * column per dataset (with the K it reports) and the average, top-1 in % with one decimal, "± std" where
 * more than one seed ran. Notebooks emit it as a cell so `bench/readme-figures.ts` can put a run's table
 * in the README without anyone copying numbers by hand.
 */
export function paperTableMarkdown(table: Table): string {
  const names = table.schema.fields.map((f) => f.name);
  if (!names.includes('dataset') || !names.includes('shots')) throw new Error('paperTableMarkdown: expects paperTable\'s result (columns dataset, shots, "<method> mean", ...)');
  const methods = names.filter((n) => n.endsWith(' mean')).map((n) => n.slice(0, -' mean'.length));
  const rows = table.toArray() as Record<string, unknown>[];
  const pct = (x: number) => (x * 100).toFixed(1);
  const cell = (r: Record<string, unknown>, m: string) => {
    const mean = Number(r[`${m} mean`]);
    const std = Number(r[`${m} std`]);
    if (!Number.isFinite(mean)) return '—';
    return Number(r[`${m} n`]) > 1 && Number.isFinite(std) ? `${pct(mean)} ± ${pct(std)}` : pct(mean);
  };
  const head = rows.map((r) => (r.dataset === 'average' ? 'average' : `${String(r.dataset)} (K = ${Number(r.shots)})`));
  return [
    `| | ${head.join(' | ')} |`,
    `|---|${head.map(() => '---:').join('|')}|`,
    ...methods.map((m) => `| ${m} | ${rows.map((r) => cell(r, m)).join(' | ')} |`),
  ].join('\n');
}

export interface UptClaim {
  /** The K each dataset is compared at. */
  compared: { dataset: string; shots: number }[];
  /** Per method, the mean top-1 over the compared datasets (mean over seeds first). */
  average: Record<string, number>;
  /** The better of CoOp and VPT on average. */
  best: string;
  /** UPT minus the better baseline on average, with a 95 % CI over seeds (per seed: the dataset average). */
  difference: Stat & { lo: number; hi: number };
  holds: 'yes' | 'no' | 'undecided';
}

/**
 * UPT's headline: on average over datasets, UPT at least matches the better of CoOp and VPT. "yes": the
 * CI of UPT − best lies above −1 point (at least a match), "no": it lies below, "undecided" otherwise
 * (and with a single seed).
 */
export function uptClaim(rows: ProtocolRow[], labels: { coop: string; vpt: string; upt: string } = { coop: 'CoOp', vpt: 'VPT', upt: 'UPT' }): UptClaim {
  const methods = [labels.coop, labels.vpt, labels.upt];
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  const compared = datasets.flatMap((dataset) => {
    const shots = reportedShots(rows, dataset, methods);
    return shots === undefined ? [] : [{ dataset, shots }];
  });
  if (!compared.length) throw new Error(`uptClaim: no dataset has rows for all of ${methods.join(', ')}`);
  const meanOf = (m: string, only?: number) => compared.reduce((a, c) => a + stat(seedsOf(rows, c.dataset, m, c.shots).filter((r) => only === undefined || r.seed === only).map((r) => r.top1)).mean, 0) / compared.length;
  const average = Object.fromEntries(methods.map((m) => [m, meanOf(m)]));
  const best = average[labels.coop] >= average[labels.vpt] ? labels.coop : labels.vpt;
  const seeds = [...new Set(rows.filter((r) => r.method === labels.upt).map((r) => r.seed))].sort((a, b) => a - b);
  const diffs = seeds.map((s) => meanOf(labels.upt, s) - meanOf(best, s)).filter(Number.isFinite);
  const d = stat(diffs);
  const difference = { ...d, lo: d.mean - d.ci95, hi: d.mean + d.ci95 };
  const MATCH = 0.01;
  // One seed gives no interval, and a single run's difference is within seed noise: no verdict.
  const holds = diffs.length < 2 ? 'undecided' : difference.lo >= -MATCH ? 'yes' : difference.hi < -MATCH ? 'no' : 'undecided';
  return { compared, average, best, difference, holds };
}

export interface VarianceClaim {
  plot: string;
  /** The sign UPT's reading predicts. */
  expected: 'negative' | 'positive';
  correlation: Correlation;
  verdict: string;
}

/**
 * UPT's two readings as correlations over datasets: CoOp's gain falls as intra-class image variance rises
 * (expected r < 0); VPT's gain rises with inter-class text variance (expected r > 0).
 */
export function varianceClaims(stats: VarianceStats[], gains: GainPoint[]): VarianceClaim[] {
  const byName = new Map(gains.map((g) => [g.dataset, g]));
  const claim = (plot: string, expected: 'negative' | 'positive', pairs: [number, number | undefined][]): VarianceClaim => {
    const ok = pairs.filter((p): p is [number, number] => p[1] !== undefined && Number.isFinite(p[1]));
    // Two points always lie on a line (r = ±1): a correlation needs three.
    if (ok.length < 3) return { plot, expected, correlation: { n: ok.length, r: NaN, lo: -1, hi: 1 }, verdict: `cannot be checked with ${ok.length} dataset${ok.length === 1 ? '' : 's'} (a correlation needs 3)` };
    const c = pearson(ok.map((p) => p[0]), ok.map((p) => p[1]));
    const sign = expected === 'negative' ? -1 : 1;
    const v = signVerdict(c, sign);
    const verdict = !Number.isFinite(c.r) ? 'a constant variable: no correlation'
      : v === 'holds' ? `holds: r = ${c.r.toFixed(2)}, its 95 % CI excludes 0`
      : v === 'contradicted' ? `is contradicted: r = ${c.r.toFixed(2)}, the opposite sign, CI excludes 0`
      : `is not shown: r = ${c.r.toFixed(2)} (${sign * c.r > 0 ? 'the expected sign' : 'the opposite sign'}), but the 95 % CI [${c.lo.toFixed(2)}, ${c.hi.toFixed(2)}] includes 0 with ${c.n} datasets`;
    return { plot, expected, correlation: c, verdict };
  };
  return [
    claim('CoOp gain vs intra-class image variance', 'negative', stats.map((s) => [s.imageVariance, byName.get(s.dataset)?.coopGain])),
    claim('VPT gain vs inter-class text variance', 'positive', stats.map((s) => [s.textVariance, byName.get(s.dataset)?.vptGain])),
  ];
}
