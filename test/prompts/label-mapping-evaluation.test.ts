// Changing only the evaluation set must not re-train visual reprogramming (issue #18, item 1): its training
// stage is keyed on the rows it trains and validates on (PromptTask.trainKey), and `evaluationTask` swaps
// the test subset of a task (another size, another dataset with the same classes) with the pool and the
// K-shot split left as they are. Changing the mapping still re-trains. Tiny fixture CLIP, real MNIST digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../cells/model/backend.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { evaluatePrompt } from '../../cells/prompts/evaluate.ts';
import { evaluationTask } from '../../cells/prompts/evaluation-sets.ts';
import { fixtureModel, mnistSmall, testCell, MNIST_NAMES } from './helpers.ts';
import type { StageRecord } from '../../cells/exec/types.ts';

await initBackend('wasm');
const config = (mapping: string) => ({ design: 'frame', mapping, sourceLabels: [...MNIST_NAMES, 'cat', 'dog'], sourceTemplates: ['a photo of a {}.'] });
const train = { method: 'visual-reprogramming', epochs: 1, optim: { lr: 1, warmupEpochs: 0, batchSize: 10 } };
const computed = (records: StageRecord[], stage: string) => records.filter((r) => r.stage === stage && !r.hit).length;

test('another evaluation set (its size, another dataset with the classes) reuses the trained prompt; another mapping re-trains', async () => {
  const model = await fixtureModel();
  const source = await mnistSmall();
  const opts = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 };
  const cell = testCell();
  await cell.run(async () => {
    const own = await fewShotTask(model, source, opts);
    const trained = await trainPrompt(model, own, { ...train, config: config('random') });
    await evaluatePrompt(model, own, trained);
    assert.equal(computed(cell.records, 'trainPrompt'), 1);
    assert.equal(own.test.count, 40);

    // 7 held-out images per class, none from the pool: the same training rows, another test subset.
    const heldOut = await evaluationTask(model, source, opts, { kind: 'held-out', perClass: 7 });
    assert.equal(heldOut.test.count, 70);
    assert.equal(heldOut.trainKey, own.trainKey);
    assert.notEqual(heldOut.key, own.key);
    assert.notEqual(heldOut.testKey, own.testKey);
    assert.deepEqual([...heldOut.train.labels], [...own.train.labels]);
    const again = await trainPrompt(model, heldOut, { ...train, config: config('random') });
    assert.equal(computed(cell.records, 'trainPrompt'), 1, 'a new evaluation set trains nothing');
    assert.deepEqual(again.state.prompt.data, trained.state.prompt.data);
    const before = computed(cell.records, 'evaluatePrompt');
    const ev = await evaluatePrompt(model, heldOut, again);
    assert.equal(ev.n, 70);
    assert.equal(computed(cell.records, 'evaluatePrompt'), before + 1, 'the new evaluation set is evaluated');

    // A dataset given as the evaluation set (a corrupted copy or another folder with the same class names;
    // here the same file, which is enough for the key).
    const other = await evaluationTask(model, source, opts, { kind: 'dataset', dataset: source.train, perClass: 3 });
    assert.equal(other.test.count, 30);
    assert.equal(other.trainKey, own.trainKey);
    await trainPrompt(model, other, { ...train, config: config('random') });
    assert.equal(computed(cell.records, 'trainPrompt'), 1);

    // The mapping is part of what is trained: changing it re-trains, on either evaluation set.
    await trainPrompt(model, heldOut, { ...train, config: config('identity') });
    assert.equal(computed(cell.records, 'trainPrompt'), 2);
    // So do other training rows (another seed draws other shots).
    const seed2 = await evaluationTask(model, source, { ...opts, seed: 2 }, { kind: 'held-out', perClass: 7 });
    assert.notEqual(seed2.trainKey, own.trainKey);
    await trainPrompt(model, seed2, { ...train, config: config('random') });
    assert.equal(computed(cell.records, 'trainPrompt'), 3);
  });
});

test('held-out evaluation images never include the pool; bad evaluation sets are clear errors', async () => {
  const model = await fixtureModel();
  const source = await mnistSmall();
  const opts = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 };
  const cell = testCell();
  await cell.run(async () => {
    const own = await fewShotTask(model, source, opts);
    const heldOut = await evaluationTask(model, source, opts, { kind: 'held-out', perClass: 50 });
    await own.loadFeatures();
    // No evaluation image is a training image: compare their frozen features (an image's features are its identity here).
    const P = own.dim;
    const seen = new Set<string>();
    for (let i = 0; i < own.train.count; i++) seen.add(Array.from(own.train.features.subarray(i * P, (i + 1) * P)).join(','));
    for (let i = 0; i < heldOut.test.count; i++) assert.ok(!seen.has(Array.from(heldOut.test.features.subarray(i * P, (i + 1) * P)).join(',')), `held-out image ${i} is a training image`);
    await assert.rejects(evaluationTask(model, source, opts, { kind: 'held-out', perClass: 0 }), /perClass must be a whole number/);
    const renamed = { ...source.train, classNames: source.train.classNames.map((n) => (n === 'seven' ? 'sept' : n)) };
    await assert.rejects(evaluationTask(model, source, opts, { kind: 'dataset', dataset: renamed, perClass: 2 }), /lacks the task's classes "seven"/);
  });
});
