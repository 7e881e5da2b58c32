// The heatmap and scatter specs validate against vega-lite's own JSON schema (build/vega-lite-schema.json,
// checked with ajv), compile and render to SVG; rows and columns follow the clustering; the colour
// scale is diverging and centred at 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { renderSvg } from '../../cells/plots/vegalite.ts';
import { clusterOrder, matrixOrder, multiSourceChart, transferHeatmap } from '../../cells/studies/heatmap.ts';
import { similarityScatter, type SimilarityMatrix } from '../../cells/studies/similarity.ts';
import { matrixTable, seedTable, type MultiSourceTransfer, type TransferCell, type TransferMatrix } from '../../cells/studies/transfer.ts';
import { meanStd } from '../../cells/studies/multitask.ts';

// vega-lite's "exports" hide build/, so find the package folder from its main entry.
function vegaLiteSchemaPath(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('vega-lite'));
  while (!existsSync(join(dir, 'build', 'vega-lite-schema.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('vega-lite/build/vega-lite-schema.json not found above the vega-lite entry point');
    dir = up;
  }
  return join(dir, 'build', 'vega-lite-schema.json');
}
const schema = JSON.parse(readFileSync(vegaLiteSchemaPath(), 'utf8'));
// The schema uses draft-07 and some non-standard keywords; strict mode would reject the schema itself.
const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const validate = ajv.compile(schema);

/**
 * A synthetic 4-task matrix with two blocks ({A, B} help each other, {C, D} help each other, across blocks
 * hurts), listed in an interleaved order so that clustering has to regroup them.
 */
function synthetic(): TransferMatrix {
  const tasks = ['A', 'C', 'B', 'D'];
  const block = (t: string) => (t === 'A' || t === 'B' ? 0 : 1);
  const cells: TransferCell[] = [];
  for (const s of tasks) for (const t of tasks) {
    if (s === t) continue;
    const base = block(s) === block(t) ? 0.05 : -0.04;
    const jitter = (s.charCodeAt(0) * 7 + t.charCodeAt(0) * 3) % 5 / 1000;
    const perSeed = [1, 2].map((seed) => ({ seed, sourceInit: 0.5 + base + jitter + seed / 1000, defaultInit: 0.5, gain: base + jitter + seed / 1000 }));
    cells.push({
      source: s, target: t, sourceDomain: `d${block(s)}`, targetDomain: `d${block(t)}`, perSeed, computed: true,
      gain: meanStd(perSeed.map((p) => p.gain)), sourceInit: meanStd(perSeed.map((p) => p.sourceInit)), defaultInit: meanStd(perSeed.map((p) => p.defaultInit)),
    });
  }
  return {
    method: 'coop', shots: 2, seeds: [1, 2], tasks, domains: tasks.map((t) => `d${block(t)}`), cells,
    references: tasks.map((t) => ({ target: t, defaultInit: meanStd([0.5, 0.5]) })),
    table: matrixTable(cells, 'coop', 2), seedTable: seedTable(cells, 'coop', 2), computedUnits: [], units: [], elapsedMs: 0,
  };
}

test('clusterOrder groups blocks together, deterministically', () => {
  // Points on a line: {0, 3} near 0, {1, 2} near 10.
  const pos = [0, 10, 11, 1];
  const d = pos.map((a) => pos.map((b) => Math.abs(a - b)));
  const order = clusterOrder(d);
  assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
  const at = (i: number) => order.indexOf(i);
  assert.equal(Math.abs(at(0) - at(3)), 1);
  assert.equal(Math.abs(at(1) - at(2)), 1);
  assert.deepEqual(clusterOrder(d), order);
});

test('heatmap spec: validates against the Vega-Lite schema, diverging at 0, clustered order, renders', async () => {
  const m = synthetic();
  const chart = transferHeatmap(m);
  const ok = validate(chart.spec);
  assert.ok(ok, `heatmap spec invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  const spec = chart.spec as unknown as { layer: { encoding: Record<string, any> }[]; data: { values: Record<string, unknown>[] } };
  const color = spec.layer[0].encoding.color;
  assert.equal(color.scale.domainMid, 0);
  assert.equal(color.scale.domain[0], -color.scale.domain[1], 'symmetric domain around 0');
  assert.match(color.scale.scheme, /redblue|blueorange|purplegreen|redgrey|pinkyellowgreen|brownbluegreen/);
  // Clustering puts A next to B and C next to D on both axes.
  const order = matrixOrder(m);
  for (const axis of [order.sources, order.targets]) {
    assert.equal(Math.abs(axis.indexOf('A') - axis.indexOf('B')), 1, axis.join(','));
    assert.equal(Math.abs(axis.indexOf('C') - axis.indexOf('D')), 1, axis.join(','));
  }
  assert.deepEqual(spec.layer[0].encoding.y.sort, order.sources);
  assert.deepEqual(spec.layer[0].encoding.x.sort, order.targets);
  // Values and ± std on hover.
  const tips = (spec.layer[0].encoding.tooltip as { field: string }[]).map((t) => t.field);
  for (const f of ['gain', 'gain_std', 'gain_pm']) assert.ok(tips.includes(f), `tooltip lacks ${f}`);
  assert.equal(spec.data.values.length, 12);
  assert.match(String(spec.data.values[0].gain_pm), /^[+-]\d+\.\d ± \d+\.\d pp$/);
  const svg = await renderSvg(chart);
  assert.match(svg, /^<svg/);
  // The tidy table: one row per ordered pair, with the columns a plot needs.
  assert.equal(m.table.numRows, 12);
  for (const c of ['source', 'target', 'gain', 'gain_std', 'source_init', 'default_init']) assert.ok(m.table.getChild(c), `table lacks ${c}`);
  assert.equal(m.seedTable.numRows, 24);
});

test('similarity scatter spec validates and renders', async () => {
  const m = synthetic();
  const sim: SimilarityMatrix = {
    kind: 'visual', measure: 'Fréchet distance', tasks: m.tasks,
    values: m.tasks.map((a, i) => m.tasks.map((b, j) => (i === j ? 0 : Math.abs(i - j) / 3))),
  };
  const chart = similarityScatter(m, sim);
  assert.ok(validate(chart.spec), `scatter spec invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  assert.match(String((chart.spec as { title?: unknown }).title), /Pearson r = -?\d\.\d\d \(95 % CI -?\d\.\d\d to -?\d\.\d\d\), 12 pairs/);
  assert.match(await renderSvg(chart), /^<svg/);
  // An invalid spec is caught by the same validator (the check is not vacuous).
  assert.equal(validate({ ...chart.spec, mark: 'not-a-mark' }), false);
});

test('multitask-source chart validates and compares with the mean and best single source', async () => {
  const m = synthetic();
  const multi: MultiSourceTransfer = {
    method: 'coop', shots: 2, seeds: [1], units: [], table: m.table,
    rows: m.tasks.map((t) => ({
      target: t, targetDomain: 'd', sources: m.tasks.filter((x) => x !== t), perSeed: [],
      gain: meanStd([0.02]), sourceInit: meanStd([0.52]), defaultInit: meanStd([0.5]),
    })),
  };
  const chart = multiSourceChart(multi, m);
  assert.ok(validate(chart.spec), `chart spec invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  const values = (chart.spec as unknown as { data: { values: { target: string; source: string; gain: number; from: string }[] } }).data.values;
  assert.equal(values.length, 3 * m.tasks.length);
  const bestIntoA = values.find((v) => v.target === 'A' && v.source === 'best single source')!;
  const cellsIntoA = m.cells.filter((c) => c.target === 'A');
  assert.equal(bestIntoA.gain, Math.max(...cellsIntoA.map((c) => c.gain.mean)));
  assert.equal(bestIntoA.from, 'B', 'A is helped most by its block partner');
  assert.match(await renderSvg(chart), /^<svg/);
});
