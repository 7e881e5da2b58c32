// The comparison chart of the quickstart: accuracy vs shots per method (mean over seeds with a 95% CI
// band), zero-shot as a horizontal rule, one panel per dataset. Input: the protocol's summary table
// or its plain rows.
import type { Table } from 'apache-arrow';
import type { VegaLiteChart } from '../plots/vegalite.ts';

export interface SummaryRow {
  dataset: string;
  method: string;
  shots: number;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

function rowsOf(results: Table | SummaryRow[] | { summary: Table }): SummaryRow[] {
  const t = 'summary' in results && !Array.isArray(results) && !('numRows' in results) ? results.summary : results;
  if (Array.isArray(t)) return t;
  return (t as Table).toArray().map((r) => {
    const o = r.toJSON() as Record<string, unknown>;
    return { dataset: String(o.dataset), method: String(o.method), shots: Number(o.shots), mean: Number(o.mean), lo: Number(o.lo), hi: Number(o.hi), n: Number(o.n) };
  });
}

/** Vega-Lite spec: top-1 vs K per method, CI bands, zero-shot rule; faceted by dataset when there are several. */
export function comparisonChart(results: Table | SummaryRow[] | { summary: Table }): VegaLiteChart {
  // The band is the t interval over seeds drawn inside an accuracy's range: with 3 seeds and a collapsing
  // run it can reach below 0 % or above 100 %, which would stretch the axis past anything attainable.
  const rows = rowsOf(results).map((r) => ({ ...r, bandLo: Math.max(0, r.lo), bandHi: Math.min(1, r.hi) }));
  const trained = rows.filter((r) => r.method !== 'zero-shot');
  const zero = rows.filter((r) => r.method === 'zero-shot');
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  // Ticks at the K actually run (a log axis would otherwise label 1.2, 1.6, …).
  const ks = [...new Set(trained.map((r) => r.shots))].sort((a, b) => a - b);
  const xAxis = { values: ks, format: 'd' };
  const layers: Record<string, unknown>[] = [
    {
      data: { values: trained },
      mark: { type: 'errorband', opacity: 0.2 },
      encoding: {
        x: { field: 'shots', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'shots per class (K)', axis: xAxis },
        y: { field: 'bandLo', type: 'quantitative', title: 'top-1 accuracy', axis: { format: '.0%' } },
        y2: { field: 'bandHi' },
        color: { field: 'method', type: 'nominal' },
      },
    },
    {
      data: { values: trained },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'shots', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: xAxis },
        y: { field: 'mean', type: 'quantitative' },
        color: { field: 'method', type: 'nominal', title: 'method' },
        tooltip: [{ field: 'method' }, { field: 'shots' }, { field: 'mean', format: '.1%' }, { field: 'lo', format: '.1%' }, { field: 'hi', format: '.1%' }, { field: 'n', title: 'seeds' }],
      },
    },
  ];
  if (zero.length) {
    layers.push({
      data: { values: zero },
      // Zero-shot accuracy as a dashed horizontal rule (hover for its value).
      mark: { type: 'rule', strokeDash: [6, 4], color: 'black' },
      encoding: { y: { field: 'mean', type: 'quantitative' }, tooltip: [{ field: 'mean', format: '.1%', title: 'zero-shot' }] },
    });
  }
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title: 'Few-shot accuracy by method' };
  if (datasets.length <= 1) return { kind: 'vega-lite', spec: { ...base, width: 360, height: 240, layer: layers } };
  // Facets need one data source: tag each row with its layer role instead of per-layer data.
  const values = rows.map((r) => ({ ...r, role: r.method === 'zero-shot' ? 'zero' : 'trained' }));
  const strip = (l: Record<string, unknown>, role: string) => {
    const { data: _data, ...rest } = l;
    return { ...rest, transform: [{ filter: `datum.role === '${role}'` }] };
  };
  return {
    kind: 'vega-lite',
    spec: {
      ...base,
      data: { values },
      facet: { field: 'dataset', type: 'nominal', title: null },
      columns: Math.min(4, datasets.length),
      spec: { width: 220, height: 180, layer: [strip(layers[0], 'trained'), strip(layers[1], 'trained'), ...(zero.length ? [strip(layers[2], 'zero')] : [])] },
      resolve: { scale: { y: 'independent' } },
    },
  };
}
