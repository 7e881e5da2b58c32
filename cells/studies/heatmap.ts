// The transfer matrix as a Vega-Lite heatmap: sources on rows, targets on columns, a diverging colour
// scale centred at 0 (red: the source prompt hurts, blue: it helps), mean gain and ± std over seeds on
// hover, and rows and columns each ordered by hierarchical clustering of their gain profiles, so blocks of
// tasks that help each other sit together.
import { vegaLite, type VegaLiteChart } from '../plots/vegalite.ts';
import type { MultiSourceTransfer, TransferMatrix } from './transfer.ts';

/**
 * Leaf order of average-linkage agglomerative clustering on a symmetric distance matrix. Ties merge the
 * pair with the smallest indices first and a merged cluster lists its older (lower-index) part first, so
 * the order is deterministic.
 */
export function clusterOrder(distance: readonly (readonly number[])[]): number[] {
  const n = distance.length;
  if (n <= 2) return Array.from({ length: n }, (_, i) => i);
  for (const row of distance) if (row.length !== n) throw new Error(`clusterOrder: distance matrix is not square (${n} rows, a row of ${row.length})`);
  let clusters = Array.from({ length: n }, (_, i) => ({ leaves: [i], min: i }));
  // Average linkage over the original pairwise distances (UPGMA); NaN distances (no shared data) count as the largest.
  let maxD = 0;
  for (const row of distance) for (const d of row) if (Number.isFinite(d)) maxD = Math.max(maxD, d);
  const dist = (i: number, j: number) => (Number.isFinite(distance[i][j]) ? distance[i][j] : maxD * 2 + 1);
  const link = (a: number[], b: number[]) => {
    let s = 0;
    for (const i of a) for (const j of b) s += dist(i, j);
    return s / (a.length * b.length);
  };
  while (clusters.length > 1) {
    let best = { a: 0, b: 1, d: Infinity };
    for (let a = 0; a < clusters.length; a++) {
      for (let b = a + 1; b < clusters.length; b++) {
        const d = link(clusters[a].leaves, clusters[b].leaves);
        if (d < best.d - 1e-15) best = { a, b, d };
      }
    }
    const A = clusters[best.a], B = clusters[best.b];
    const [first, second] = A.min <= B.min ? [A, B] : [B, A];
    const merged = { leaves: [...first.leaves, ...second.leaves], min: Math.min(A.min, B.min) };
    clusters = clusters.filter((_, i) => i !== best.a && i !== best.b);
    clusters.push(merged);
    clusters.sort((x, y) => x.min - y.min);
  }
  return clusters[0].leaves;
}

/** RMS difference of two profiles over the entries both have (NaN when they share none). */
function profileDistance(a: readonly number[], b: readonly number[]): number {
  let s = 0, n = 0;
  for (let k = 0; k < a.length; k++) {
    if (Number.isFinite(a[k]) && Number.isFinite(b[k])) {
      s += (a[k] - b[k]) ** 2;
      n++;
    }
  }
  return n ? Math.sqrt(s / n) : NaN;
}

/** Gains as a dense [source][target] grid over `matrix.tasks` (NaN where a cell is absent, e.g. the diagonal). */
export function gainGrid(matrix: TransferMatrix): number[][] {
  const idx = new Map(matrix.tasks.map((t, i) => [t, i]));
  const grid = matrix.tasks.map(() => matrix.tasks.map(() => NaN));
  for (const c of matrix.cells) grid[idx.get(c.source)!][idx.get(c.target)!] = c.gain.mean;
  return grid;
}

/** Row (source) and column (target) orders by clustering their gain profiles. */
export function matrixOrder(matrix: TransferMatrix): { sources: string[]; targets: string[] } {
  const g = gainGrid(matrix);
  const n = g.length;
  const rows = g.map((r) => g.map((s) => profileDistance(r, s)));
  const colsOf = Array.from({ length: n }, (_, j) => g.map((r) => r[j]));
  const cols = colsOf.map((a) => colsOf.map((b) => profileDistance(a, b)));
  return {
    sources: clusterOrder(rows).map((i) => matrix.tasks[i]),
    targets: clusterOrder(cols).map((i) => matrix.tasks[i]),
  };
}

export interface HeatmapOptions {
  title?: string;
  /** Pixel size of one matrix cell. Default 44. */
  cellSize?: number;
  /** Print the gain (percentage points) in each cell. Default true. */
  labels?: boolean;
  /** Order rows and columns by clustering (default) or keep the task order. */
  order?: 'cluster' | 'tasks';
}

/** The Vega-Lite heatmap of a transfer matrix (diverging scale centred at 0, ± std on hover). */
export function transferHeatmap(matrix: TransferMatrix, opts: HeatmapOptions = {}): VegaLiteChart {
  const order = opts.order === 'tasks' ? { sources: matrix.tasks, targets: matrix.tasks } : matrixOrder(matrix);
  const values = matrix.cells.map((c) => ({
    source: c.source,
    target: c.target,
    gain: c.gain.mean,
    gain_std: c.gain.std,
    seeds: c.gain.n,
    source_init: c.sourceInit.mean,
    default_init: c.defaultInit.mean,
    // Percentage points with the spread, as the tooltip and the cell label show it.
    label: `${c.gain.mean >= 0 ? '+' : ''}${(100 * c.gain.mean).toFixed(1)}`,
    gain_pm: `${c.gain.mean >= 0 ? '+' : ''}${(100 * c.gain.mean).toFixed(1)} ± ${(100 * c.gain.std).toFixed(1)} pp`,
  }));
  // A symmetric domain keeps 0 at the neutral middle colour even when all gains share a sign.
  const extent = Math.max(1e-6, ...values.map((v) => Math.abs(v.gain)).filter(Number.isFinite));
  const size = opts.cellSize ?? 44;
  const x = { field: 'target', type: 'nominal', sort: order.targets, title: 'target task', axis: { labelAngle: -40 } };
  const y = { field: 'source', type: 'nominal', sort: order.sources, title: 'source task (prompt initialisation)' };
  const layers: Record<string, unknown>[] = [
    {
      mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
      encoding: {
        x, y,
        color: {
          field: 'gain', type: 'quantitative', title: 'gain (acc.)',
          scale: { scheme: 'redblue', domain: [-extent, extent], domainMid: 0 },
          legend: { format: '+.0%' },
        },
        tooltip: [
          { field: 'source', type: 'nominal', title: 'source' },
          { field: 'target', type: 'nominal', title: 'target' },
          { field: 'gain_pm', type: 'nominal', title: 'gain (mean ± std)' },
          { field: 'gain', type: 'quantitative', title: 'gain', format: '+.2%' },
          { field: 'gain_std', type: 'quantitative', title: '± std', format: '.2%' },
          { field: 'source_init', type: 'quantitative', title: 'acc. from source init', format: '.1%' },
          { field: 'default_init', type: 'quantitative', title: 'acc. from default init', format: '.1%' },
          { field: 'seeds', type: 'quantitative', title: 'seeds' },
        ],
      },
    },
  ];
  if (opts.labels ?? true) {
    layers.push({
      mark: { type: 'text', fontSize: 10 },
      encoding: {
        x, y,
        text: { field: 'label', type: 'nominal' },
        color: { condition: { test: `abs(datum.gain) > ${0.6 * extent}`, value: 'white' }, value: 'black' },
      },
    });
  }
  return vegaLite({
    title: opts.title ?? `Transfer gain, ${matrix.method} ${matrix.shots}-shot (${matrix.seeds.length} seed${matrix.seeds.length === 1 ? '' : 's'}): source-init − default-init accuracy`,
    width: size * order.targets.length,
    height: size * order.sources.length,
    data: { values },
    layer: layers,
    config: { axis: { labelLimit: 260 }, view: { stroke: null } },
  });
}

/**
 * MVLPT-style comparison per target: the gain from a multitask prompt over all other tasks (leave-one-out)
 * next to the mean and the best single-source gain into the same target from the matrix (same budget).
 * The best single source is picked after the fact on the same evaluation split, so it is biased upward
 * (a maximum over noisy gains); the mean is the fair comparison.
 */
export function multiSourceChart(multi: MultiSourceTransfer, matrix?: TransferMatrix, opts: { width?: number; height?: number } = {}): VegaLiteChart {
  const values: Record<string, unknown>[] = [];
  for (const r of multi.rows) {
    values.push({ target: r.target, source: 'all other tasks (one multitask prompt)', gain: r.gain.mean, gain_std: r.gain.std, from: r.sources.join(' + ') });
    const into = matrix?.cells.filter((c) => c.target === r.target && c.source !== c.target) ?? [];
    if (into.length) {
      const mean = into.reduce((a, c) => a + c.gain.mean, 0) / into.length;
      const best = into.reduce((a, c) => (c.gain.mean > a.gain.mean ? c : a));
      values.push({ target: r.target, source: 'mean single source', gain: mean, gain_std: NaN, from: `${into.length} sources` });
      values.push({ target: r.target, source: 'best single source', gain: best.gain.mean, gain_std: best.gain.std, from: best.source });
    }
  }
  const kinds = ['all other tasks (one multitask prompt)', 'mean single source', 'best single source'];
  return vegaLite({
    title: `Multitask source prompt vs single sources (${multi.method}, ${multi.shots}-shot): gain over default init`,
    width: opts.width ?? Math.max(320, 60 * multi.rows.length),
    height: opts.height ?? 240,
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'target', type: 'nominal', title: 'target task', axis: { labelAngle: -40 } },
          xOffset: { field: 'source', type: 'nominal', sort: kinds },
          y: { field: 'gain', type: 'quantitative', title: 'transfer gain (accuracy)', axis: { format: '+.0%' } },
          color: { field: 'source', type: 'nominal', sort: kinds, title: 'initialised from', scale: { range: ['#4c78a8', '#bab0ac', '#f58518'] } },
          tooltip: [
            { field: 'target', type: 'nominal' },
            { field: 'source', type: 'nominal', title: 'initialised from' },
            { field: 'from', type: 'nominal', title: 'source task(s)' },
            { field: 'gain', type: 'quantitative', format: '+.2%' },
            { field: 'gain_std', type: 'quantitative', title: '± std', format: '.2%' },
          ],
        },
      },
      { mark: { type: 'rule', color: '#666' }, encoding: { y: { datum: 0 } } },
    ],
    config: { axis: { labelLimit: 260 }, legend: { labelLimit: 320 } },
  });
}
