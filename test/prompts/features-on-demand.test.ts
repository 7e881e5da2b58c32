// A few-shot task computes its frozen image features only for a reader (issue #22): a pixel-trained learner
// (VPT here) trains and evaluates without the imageFeatures stage, while a feature-trained one (CoOp) gets
// the keys, features and trained prompt it got when `fewShotTask` extracted features up front — the task
// built the old way, from the computed stage (`taskFromPool` over `imageFeatures`), is the reference.
// Tiny fixture CLIP, real MNIST digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyOf } from '../../cells/exec/index.ts';
import { initBackend } from '../../cells/model/backend.ts';
import { fewShotRows, fewShotTask, imageFeatures, promptPool, taskFromPool } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { evaluatePrompt, zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { evaluationTask } from '../../cells/prompts/evaluation-sets.ts';
import { fixtureModel, mnistSmall, testCell } from './helpers.ts';

await initBackend('wasm');
const model = await fixtureModel();
const source = await mnistSmall();
const opts = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 };
const quick = { epochs: 1, optim: { batchSize: 8, warmupEpochs: 0 } };

test('a pixel-trained learner trains and evaluates without running the imageFeatures stage', async () => {
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, source, opts);
    assert.equal(task.featuresLoaded, false);
    assert.throws(() => task.train.features, /computed on demand; await task\.loadFeatures\(\)/);
    // Code that walks a value's own properties (a run's output writer, the kernel's views) never calls the getter.
    const walk = (v: unknown, depth: number): void => {
      if (depth < 3 && v && typeof v === 'object' && !ArrayBuffer.isView(v)) for (const x of Object.values(v)) walk(x, depth + 1);
    };
    assert.doesNotThrow(() => walk(task, 0));
    const trained = await trainPrompt(model, task, { ...quick, method: 'vpt', config: { tokens: 2, depth: 'shallow' } });
    await evaluatePrompt(model, task, trained);
    assert.equal(task.featuresLoaded, false, 'VPT read no features');
  });
  const stages = cell.records.map((r) => r.stage);
  assert.deepEqual(stages, ['promptPool', 'fewShotSplit', 'trainPrompt', 'evaluatePrompt']);
  // The same task as an evaluation set of its own (`evaluationTask`, kind 'task'): the same keys, nothing extracted.
  cell.records.length = 0;
  await cell.run(async () => {
    const own = await fewShotTask(model, source, opts);
    const same = await evaluationTask(model, source, opts, { kind: 'task' });
    assert.deepEqual([same.key, same.testKey, same.trainKey], [own.key, own.testKey, own.trainKey]);
    assert.equal(same.featuresLoaded, false);
  });
  assert.ok(!cell.records.some((r) => r.stage === 'imageFeatures'));
});

test('a feature-trained learner gets the same keys, features and trained prompt as with features extracted up front', async () => {
  // Up front, in a cache of its own: the stages fewShotTask ran before, and the task over their results.
  const eagerCell = testCell();
  const eager = await eagerCell.run(async () => {
    const pool = await promptPool(source, opts);
    const feats = await imageFeatures(model, source, pool);
    const split = await fewShotRows(pool, source.classNames.length, opts.shots, opts.seed);
    const task = taskFromPool(model, source, pool, feats, split, opts);
    const keys = { key: keyOf({ pool: keyOf(pool), features: keyOf(feats), split: keyOf(split) }), testKey: keyOf({ pool: keyOf(pool), features: keyOf(feats) }) };
    const trained = await trainPrompt(model, task, { ...quick, method: 'coop', config: { nCtx: 2 } });
    const zs = await zeroShotPrompt(model, task);
    return { task, keys, trained, zs };
  });
  assert.equal(eager.task.key, eager.keys.key);
  assert.equal(eager.task.testKey, eager.keys.testKey);

  const lazyCell = testCell();
  const lazy = await lazyCell.run(async () => {
    const task = await fewShotTask(model, source, opts);
    // Known before anything ran.
    assert.equal(task.key, eager.keys.key);
    assert.equal(task.testKey, eager.keys.testKey);
    assert.equal(task.trainKey, eager.task.trainKey);
    const trained = await trainPrompt(model, task, { ...quick, method: 'coop', config: { nCtx: 2 } });
    assert.equal(task.featuresLoaded, true, 'CoOp read the features');
    const zs = await zeroShotPrompt(model, task);
    return { task, trained, zs };
  });
  const keyOfStage = (records: typeof lazyCell.records, stage: string) => records.filter((r) => r.stage === stage).map((r) => r.key);
  for (const stage of ['imageFeatures', 'trainPrompt', 'zeroShotPrompt']) {
    assert.deepEqual(keyOfStage(lazyCell.records, stage), keyOfStage(eagerCell.records, stage), `${stage}: same cache key`);
    assert.equal(keyOfStage(lazyCell.records, stage).length, 1);
  }
  for (const side of ['train', 'val', 'test'] as const) assert.deepEqual(lazy.task[side].features, eager.task[side].features, `${side} features`);
  assert.deepEqual(lazy.trained.state, eager.trained.state, 'the trained context, bit for bit');
  assert.deepEqual(lazy.trained.curve.map((c) => c.loss), eager.trained.curve.map((c) => c.loss));
  assert.equal(lazy.zs.top1, eager.zs.top1);
});
