// Aggregation (mean ± std, t-based 95% CI), the variance explorer's statistics on features with known
// answers, and the Vega-Lite specs (validated against the vega-lite schema and compiled to Vega).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { compile } from 'vega-lite';
import { summarize, runsTable, type ProtocolRow } from '../../cells/prompts/protocol.ts';
import { seedStat } from '../../cells/prompts/stats.ts';
import { varianceOf, varianceCharts, perClassVarianceChart, gainsFromRows } from '../../cells/prompts/variance.ts';
import { comparisonChart } from '../../cells/prompts/charts.ts';

// The package's exports map hides its schema file, so it is read from node_modules directly.
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/vega-lite/build/vega-lite-schema.json', import.meta.url)), 'utf8'));
const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

function assertValidSpec(spec: Record<string, unknown>, what: string): void {
  const ok = validate(spec);
  assert.ok(ok, `${what} does not validate against the Vega-Lite schema: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  assert.ok(compile(spec as never).spec, `${what} compiles`);
}

test('summarize: mean, sample std and 95% CI (Student t) per dataset × method × K', () => {
  const rows: ProtocolRow[] = [0.5, 0.6, 0.7].map((top1, i) => ({ dataset: 'd', method: 'coop', shots: 4, seed: i + 1, top1, backend: 'cpu' }));
  rows.push({ dataset: 'd', method: 'zero-shot', shots: 0, seed: 0, top1: 0.3, backend: 'cpu' });
  const t = summarize(rows);
  assert.equal(t.numRows, 2);
  const coop = t.toArray().map((r) => r.toJSON()).find((r) => r.method === 'coop')!;
  assert.ok(Math.abs((coop.mean as number) - 0.6) < 1e-12);
  assert.ok(Math.abs((coop.std as number) - 0.1) < 1e-12);
  // t(0.975, df=2) = 4.303; half-width = 4.303 · 0.1 / √3
  assert.ok(Math.abs((coop.ci95 as number) - (4.303 * 0.1) / Math.sqrt(3)) < 1e-9);
  assert.equal(coop.n, 3);
  const zs = t.toArray().map((r) => r.toJSON()).find((r) => r.method === 'zero-shot')!;
  assert.equal(zs.std, 0);
  assert.equal(runsTable(rows).numRows, 4);
});

test('varianceOf: intra-class image variance, inter-class text spread and nearest neighbours on known points', () => {
  // 2-D, two classes: class 0 at (1,0) ± (0,0.1); class 1 at (0,1) ± (0.2,0).
  const image = Float32Array.from([1, 0.1, 1, -0.1, 0.2, 1, -0.2, 1]);
  const labels = Int32Array.from([0, 0, 1, 1]);
  const text = Float32Array.from([1, 0, 0, 1]);
  const v = varianceOf('toy', ['a', 'b'], image, labels, text, 2);
  assert.ok(Math.abs(v.perClass[0].imageVariance - 0.01) < 1e-7);
  assert.ok(Math.abs(v.perClass[1].imageVariance - 0.04) < 1e-7);
  assert.ok(Math.abs(v.imageVariance - 0.025) < 1e-7);
  // text mean (0.5, 0.5): each class is 0.5 away in squared distance.
  assert.ok(Math.abs(v.textVariance - 0.5) < 1e-12);
  assert.ok(Math.abs(v.perClass[0].textNearest - Math.SQRT2) < 1e-7);
  assert.ok(Math.abs(v.perClass[1].imageNearest - Math.SQRT2) < 1e-6);
});

test('charts: comparison (single and faceted), both variance scatters and the per-class chart are valid Vega-Lite', () => {
  const rows: ProtocolRow[] = [];
  for (const dataset of ['mnist', 'cifar10']) {
    rows.push({ dataset, method: 'zero-shot', shots: 0, seed: 0, top1: 0.2, backend: 'cpu' });
    for (const method of ['coop', 'vpt']) for (const shots of [1, 2, 4]) for (const seed of [1, 2]) {
      rows.push({ dataset, method, shots, seed, top1: 0.3 + shots * 0.05 + seed * 0.01, backend: 'cpu' });
    }
  }
  const all = summarize(rows);
  const one = summarize(rows.filter((r) => r.dataset === 'mnist'));
  const faceted = comparisonChart(all);
  assert.equal(faceted.kind, 'vega-lite');
  assertValidSpec(faceted.spec, 'faceted comparison chart');
  assert.ok('facet' in faceted.spec);
  const single = comparisonChart({ summary: one });
  assertValidSpec(single.spec, 'single comparison chart');
  const layers = single.spec.layer as { data: { values: unknown[] } }[];
  assert.equal(layers[1].data.values.length, 6, 'one point per method × K');
  // A wide interval (3 seeds, one collapsed) is drawn inside 0–100 %; the tooltip keeps the interval itself.
  const wide = comparisonChart([{ dataset: 'cifar10', method: 'CoOp', shots: 16, mean: 0.31, lo: -0.15, hi: 0.77, n: 3 }, { dataset: 'cifar10', method: 'VPT', shots: 16, mean: 0.9, lo: 0.6, hi: 1.2, n: 3 }]);
  const band = (wide.spec.layer as { data: { values: { bandLo: number; bandHi: number; lo: number }[] } }[])[0].data.values;
  assert.deepEqual(band.map((v) => [v.bandLo, v.bandHi]), [[0, 0.77], [0.6, 1]]);
  assert.equal(band[0].lo, -0.15);

  const stats = [
    varianceOf('mnist', ['a', 'b'], Float32Array.from([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), Int32Array.from([0, 0, 1, 1]), Float32Array.from([1, 0, 0, 1]), 2),
    varianceOf('cifar10', ['a', 'b'], Float32Array.from([1, 0, 0.5, 0.5, 0, 1, 0.5, 0.5]), Int32Array.from([0, 0, 1, 1]), Float32Array.from([0.8, 0.6, 0.6, 0.8]), 2),
  ];
  const charts = varianceCharts(stats, [{ dataset: 'mnist', coopGain: 0.3, vptGain: 0.1 }, { dataset: 'cifar10', coopGain: 0.1, vptGain: 0.05 }]);
  assertValidSpec(charts.coop.spec, 'CoOp-gain vs image-variance scatter');
  assertValidSpec(charts.vpt.spec, 'VPT-gain vs text-variance scatter');
  const pts = (charts.coop.spec.data as { values: { imageVariance: number; coopGain: number }[] }).values;
  assert.equal(pts.length, 2);
  assert.ok(pts[1].imageVariance > pts[0].imageVariance);
  assertValidSpec(perClassVarianceChart(stats[0]).spec, 'per-class variance chart');
});

test('gainsFromRows: mean over seeds at the largest K minus zero-shot, per dataset', () => {
  const rows: ProtocolRow[] = [
    { dataset: 'a', method: 'zero-shot', shots: 0, seed: 0, top1: 0.2, backend: 'cpu' },
    { dataset: 'a', method: 'coop', shots: 1, seed: 1, top1: 0.9, backend: 'cpu' },
    { dataset: 'a', method: 'coop', shots: 4, seed: 1, top1: 0.5, backend: 'cpu' },
    { dataset: 'a', method: 'coop', shots: 4, seed: 2, top1: 0.7, backend: 'cpu' },
    { dataset: 'a', method: 'vpt', shots: 4, seed: 1, top1: 0.3, backend: 'cpu' },
    { dataset: 'b', method: 'coop', shots: 4, seed: 1, top1: 0.3, backend: 'cpu' },
  ];
  const g = gainsFromRows(rows);
  assert.ok(Math.abs(g[0].coopGain! - 0.4) < 1e-12);
  assert.ok(Math.abs(g[0].vptGain! - 0.1) < 1e-12);
  assert.equal(g[1].coopGain, undefined, 'no zero-shot row for b: no gain');
  assert.ok(Math.abs(gainsFromRows(rows, { shots: 1 })[0].coopGain! - 0.7) < 1e-12);
});

test('seedStat: the protocol summary and the paper table share one t-table (df 14 → 2.145, past df 30 → 1.96)', () => {
  const xs = Array.from({ length: 15 }, (_, i) => i / 10);
  const s = seedStat(xs);
  // Hand: mean 0.7, sample variance Σ(i/10 − 0.7)² / 14 = 2.8 / 14 = 0.2.
  assert.ok(Math.abs(s.mean - 0.7) < 1e-12 && Math.abs(s.std - Math.sqrt(0.2)) < 1e-12);
  assert.ok(Math.abs(s.ci95 - (2.145 * Math.sqrt(0.2)) / Math.sqrt(15)) < 1e-12);
  const many = seedStat(Array.from({ length: 40 }, (_, i) => i % 2));
  assert.ok(Math.abs(many.ci95 - (1.96 * many.std) / Math.sqrt(40)) < 1e-12);
  assert.deepEqual(seedStat([]), { n: 0, mean: NaN, std: 0, ci95: 0 });
});
