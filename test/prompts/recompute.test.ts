// Editing the prompt length or the method re-runs only training and evaluation: the dataset pool, the
// feature extraction and the few-shot split are cache hits, and CoOp / linear probe never call the image
// encoder (counted on the model), per the engine's stage records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, currentBackend } from '../../cells/model/backend.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { evaluatePrompt, zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { fewShotProtocol } from '../../cells/prompts/protocol.ts';
import { comparisonChart } from '../../cells/prompts/charts.ts';
import { getTrainer } from '../../cells/prompts/registry.ts';
import type { StageRecord } from '../../cells/exec/types.ts';
import { fixtureModel, mnistSmall, testCell } from './helpers.ts';

await initBackend('wasm');
const model = await fixtureModel();
const source = await mnistSmall();
const split = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 5 };

const hits = (records: StageRecord[]) => Object.fromEntries(records.map((r) => [r.stage, r.hit]));

test('editing nCtx or the method re-runs only training and evaluation; 0 image-encoder calls for CoOp and linear probe', async () => {
  const cell = testCell();
  const run = (method: string, config: Record<string, unknown>) => cell.run(async () => {
    const task = await fewShotTask(model, source, split);
    const trained = await trainPrompt(model, task, { method, config, epochs: 2, optim: { batchSize: 8 } });
    return evaluatePrompt(model, task, trained);
  });

  await run('coop', { nCtx: 4 });
  const first = hits(cell.records);
  assert.deepEqual(first, { promptPool: false, imageFeatures: false, fewShotSplit: false, trainPrompt: false, evaluatePrompt: false });
  assert.ok(model.calls.image > 0, 'the first run extracted features');

  for (const [method, config] of [['coop', { nCtx: 8 }], ['linear-probe', {}], ['coop', { nCtx: 8, position: 'front' }]] as const) {
    cell.records.length = 0;
    const imageCalls = model.calls.image;
    const textCalls = model.calls.text;
    await run(method, config);
    assert.deepEqual(hits(cell.records), { promptPool: true, imageFeatures: true, fewShotSplit: true, trainPrompt: false, evaluatePrompt: false },
      `${method} ${JSON.stringify(config)}: only training and evaluation recompute`);
    assert.equal(model.calls.image - imageCalls, 0, `${method}: the image encoder never ran`);
    if (method === 'linear-probe') assert.equal(model.calls.text - textCalls, 0, 'the linear probe never runs the text tower either');
    else assert.ok(model.calls.text > textCalls, 'CoOp trains through the text tower');
  }

  // The same edit again is a pure cache hit end to end.
  cell.records.length = 0;
  await run('coop', { nCtx: 8 });
  assert.ok(cell.records.every((r) => r.hit), `all stages hit: ${JSON.stringify(hits(cell.records))}`);

  // Changing K re-draws the split but keeps the features; zero-shot does not depend on K at all. Features are
  // read on demand: by the zero-shot stage that computes (nested in it, so recorded before it), not by a hit.
  cell.records.length = 0;
  await cell.run(async () => {
    const t2 = await fewShotTask(model, source, split);
    const z2 = await zeroShotPrompt(model, t2);
    const t4 = await fewShotTask(model, source, { ...split, shots: 4, poolPerClass: 6, valShots: 2 });
    const z4 = await zeroShotPrompt(model, t4);
    assert.equal(z4.top1, z2.top1);
  });
  const k = cell.records.map((r) => `${r.stage}:${r.hit ? 'hit' : 'miss'}`);
  assert.deepEqual(k, ['promptPool:hit', 'fewShotSplit:hit', 'imageFeatures:hit', 'zeroShotPrompt:miss', 'promptPool:hit', 'fewShotSplit:miss', 'zeroShotPrompt:hit']);
});

test('few-shot protocol: K × seeds × methods as tidy runs and a mean/std/CI summary; a re-run is all cache hits', async () => {
  const cell = testCell();
  const opts = {
    methods: [{ method: 'coop', config: { nCtx: 2 }, epochs: 1, label: 'CoOp-2' }, { method: 'linear-probe', config: { iterations: 50 } }],
    shots: [1, 2], seeds: [1, 2], poolPerClass: 6, testPerClass: 3,
  };
  const seen: string[] = [];
  const result = await cell.run(() => fewShotProtocol(model, source, { ...opts, onResult: (r) => seen.push(`${r.method}/${r.shots}/${r.seed}`) }));
  assert.equal(result.runs.numRows, 1 + 2 * 2 * 2);
  assert.equal(seen.length, 9);
  assert.deepEqual([...new Set(result.rows.map((r) => r.method))].sort(), ['CoOp-2', 'linear-probe', 'zero-shot']);
  const summary = result.summary.toArray().map((r) => r.toJSON());
  assert.equal(summary.length, 5);
  for (const row of summary.filter((r) => r.method !== 'zero-shot')) {
    const mine = result.rows.filter((r) => r.method === row.method && r.shots === row.shots).map((r) => r.top1);
    assert.equal(row.n, 2);
    assert.ok(Math.abs((row.mean as number) - (mine[0] + mine[1]) / 2) < 1e-12);
    assert.ok((row.lo as number) <= (row.mean as number) && (row.mean as number) <= (row.hi as number));
  }
  assert.equal(result.rows.every((r) => r.backend === currentBackend() && r.backend.startsWith('wasm')), true, 'the backend is recorded with every result');
  assert.equal(comparisonChart(result).kind, 'vega-lite');
  cell.records.length = 0;
  await cell.run(() => fewShotProtocol(model, source, opts));
  assert.ok(cell.records.length > 0 && cell.records.every((r) => r.hit), 'the second run recomputes nothing');
});

test("a method's version joins the training key: bumping it re-trains, the same version is a cache hit", async () => {
  const cell = testCell();
  const entry = getTrainer('linear-probe');
  const before = entry.version;
  const train = () => cell.run(async () => {
    const task = await fewShotTask(model, source, split);
    return trainPrompt(model, task, { method: 'linear-probe', config: {}, epochs: 1 });
  });
  try {
    await train();
    cell.records.length = 0;
    await train();
    assert.equal(hits(cell.records).trainPrompt, true, 'same code, same key');
    entry.version = (before ?? 1) + 1;
    cell.records.length = 0;
    await train();
    assert.equal(hits(cell.records).trainPrompt, false, 'a new version is a new key');
  } finally {
    entry.version = before;
  }
});
