// A chart as an input: the selection is the value, --set/setInput validate it against the chart's data,
// and a pick re-runs only the cells that read it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Inputs, coerceInput } from '../../cells/engine/inputs.ts';
import { notebookOf, startSession, runs } from './helpers.ts';

const chart = (extra: Record<string, unknown> = {}) => ({
  kind: 'vega-lite',
  spec: {
    data: { values: [{ className: 'cat', spread: 0.3 }, { className: 'dog', spread: 0.5 }, { className: 'cat', spread: 0.1 }, { className: 7, spread: 0.2 }] },
    mark: 'bar',
    encoding: { x: { field: 'spread', type: 'quantitative' }, y: { field: 'className', type: 'nominal' } },
    ...extra,
  },
});

test('Inputs.chart: a point selection lists the values a click can pick and adds its param', () => {
  const spec = Inputs.chart(chart(), { field: 'className', value: 'dog' });
  assert.equal(spec.kind, 'chart');
  assert.deepEqual(spec.options, ['cat', 'dog', 7]);
  assert.equal(spec.value, 'dog');
  assert.deepEqual(spec.select, { type: 'point', param: 'pick', field: 'className' });
  assert.deepEqual((spec.chart!.params as unknown[])[0], { name: 'pick', select: { type: 'point', fields: ['className'], toggle: false } });
  assert.equal((chart().spec as Record<string, unknown>).params, undefined, 'the cell\'s own chart is not modified');
});

test('view(chart): a chart declaring a selection param is an input on that param and field', () => {
  const own = chart({ params: [{ name: 'clicked', select: { type: 'point', fields: ['className'] }, value: [{ className: 'cat' }] }] });
  const spec = Inputs.chart(own);
  assert.deepEqual(spec.select, { type: 'point', param: 'clicked', field: 'className' });
  const param = (spec.chart!.params as Record<string, unknown>[])[0];
  assert.equal(param.value, undefined, 'the initial pick travels as the input value, not in the spec');
  assert.equal(spec.value, null);
});

test('Inputs.chart: interval selections brush x and yield [lo, hi]', () => {
  const spec = Inputs.chart(chart(), { select: 'interval', value: [0.1, 0.4] });
  assert.deepEqual(spec.select, { type: 'interval', param: 'pick', field: 'spread' });
  assert.deepEqual(coerceInput('r', spec, [0.2, 0.3]), [0.2, 0.3]);
  assert.throws(() => coerceInput('r', spec, [0.3, 0.2]), /input "r": \[0.3, 0.2\] is not a range of spread: lo is above hi/);
  assert.throws(() => coerceInput('r', spec, 'cat'), /expected \[lo, hi\], two numbers/);
  assert.throws(() => Inputs.chart(chart(), { select: 'interval', field: 'className' }), /must be the x field/);
});

test('Inputs.chart: bad charts and values say what is wrong', () => {
  assert.throws(() => Inputs.chart(chart()), /say which field a click picks/);
  assert.throws(() => Inputs.chart(chart(), { field: 'label' }), /no row of the chart's data has a "label" field/);
  assert.throws(() => Inputs.chart(chart(), { field: 'className', value: 'cow' }), /initial value "cow" is not a className in the chart \(\["cat","dog",7\]\)/);
  assert.throws(() => Inputs.chart({ kind: 'vega-lite', spec: { mark: 'bar', data: { url: 'x.csv' } } }, { field: 'a' }), /rows inline/);
  assert.throws(() => Inputs.chart({ kind: 'vega-lite', spec: { hconcat: [], data: { values: [{ a: 1 }] } } }, { field: 'a' }), /a single or layered chart \(not concatenated or faceted\)/);
  assert.throws(() => Inputs.chart({ nothing: 1 }, { field: 'a' }), /expected a chart/);
  const spec = Inputs.chart(chart(), { field: 'className' });
  assert.equal(coerceInput('c', spec, '7'), 7, 'text from --set picks the option in its own type');
  assert.equal(coerceInput('c', spec, null), null, 'null: nothing picked');
  assert.throws(() => coerceInput('c', spec, 'cow'), /input "c": "cow" is not a className in the chart/);
});

test('a pick re-runs the cells that read it and nothing else; a bad setting fails the input cell', async () => {
  const html = notebookOf([
    [1, `const spreads = ${JSON.stringify(chart().spec)};`],
    [2, 'const picked = view(Inputs.chart({kind: "vega-lite", spec: spreads}, {field: "className", value: "cat"}));'],
    [3, 'const rows = spreads.data.values.filter((r) => r.className === picked);'],
    [4, 'const unrelated = spreads.data.values.length;'],
  ]);
  const { session } = await startSession(html);
  assert.deepEqual(await session.value('rows'), [{ className: 'cat', spread: 0.3 }, { className: 'cat', spread: 0.1 }]);
  assert.deepEqual(session.inputs().map((i) => [i.name, i.spec.kind, i.spec.value]), [['picked', 'chart', 'cat']]);
  session.setInput('picked', 'dog');
  await session.idle();
  assert.deepEqual(runs(session), { 1: 1, 2: 2, 3: 2, 4: 1 });
  assert.deepEqual(await session.value('rows'), [{ className: 'dog', spread: 0.5 }]);
  assert.throws(() => session.setInput('picked', 'cow'), /"cow" is not a className in the chart/);
  session.dispose();

  const { NotebookSession } = await import('../../cells/engine/session.ts');
  const { parseNotebook } = await import('../../cells/engine/notebook.ts');
  const { Cache } = await import('../../cells/exec/cache.ts');
  const { tempDir } = await import('./helpers.ts');
  const bad = new NotebookSession(parseNotebook(html), { cache: new Cache(await tempDir()), settings: { picked: 'cow' } }).start();
  await bad.idle();
  assert.equal(bad.state(2).status, 'error');
  assert.match(bad.state(2).error!.message, /input "picked": "cow" is not a className in the chart/);
  bad.dispose();
});

test('a pick the redrawn chart no longer holds falls back to its initial value', async () => {
  const { session } = await startSession(notebookOf([
    [1, 'const dataset = view(Inputs.select(["pets", "farm"]));'],
    [2, 'const rows = dataset === "pets" ? [{className: "cat"}, {className: "dog"}] : [{className: "cow"}, {className: "pig"}];'],
    [3, 'const picked = view(Inputs.chart({kind: "vega-lite", spec: {mark: "bar", data: {values: rows}}}, {field: "className", value: rows[0].className}));'],
  ]));
  session.setInput('picked', 'dog');
  await session.idle();
  assert.equal(await session.value('picked'), 'dog');
  session.setInput('dataset', 'farm');
  await session.idle();
  assert.equal(session.state(3).status, 'fresh');
  assert.equal(await session.value('picked'), 'cow');
  session.dispose();
});

test('view(chart) in a cell: the chart\'s own selection param makes it an input', async () => {
  const spec = chart({ params: [{ name: 'clicked', select: { type: 'point', fields: ['className'] } }] }).spec;
  const { session } = await startSession(notebookOf([
    [1, `const picked = view({kind: "vega-lite", spec: ${JSON.stringify(spec)}});`],
    [2, 'const shown = picked === null ? "nothing" : picked;'],
  ]));
  assert.equal(await session.value('shown'), 'nothing');
  assert.deepEqual(session.inputs()[0].spec.select, { type: 'point', param: 'clicked', field: 'className' });
  session.setInput('picked', 'dog');
  await session.idle();
  assert.equal(await session.value('shown'), 'dog');
  session.dispose();
});
