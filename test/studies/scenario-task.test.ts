// scenarioTask (cells/studies/scenario-task.ts): a scenario becomes a task that trains on every image of its
// training view (a long tail keeps its per-class counts, not K shots) and tests on its whole test view; a
// corruption scenario shares the generic one's training images and features and differs only in its test set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { initBackend } from '../../cells/model/backend.ts';
import { load } from '../../cells/model/index.ts';
import { corruptionScenario, genericScenario, imbalanceScenario } from '../../cells/studies/scenarios.ts';
import { scenarioTask } from '../../cells/studies/scenario-task.ts';
import { testCell } from '../prompts/helpers.ts';

await initBackend('wasm');
const model = await load('mini-clip');
const mnist = await bundledDataset('mnist');

const counts = (labels: Int32Array, classes: number) => Array.from({ length: classes }, (_, c) => labels.filter((l) => l === c).length);

test('scenarioTask trains on the whole training view, tests on the whole test view, and keys by both', async () => {
  const cell = testCell();
  await cell.run(async () => {
    const lt = imbalanceScenario(mnist, { nMax: 8, ratio: 4, testPerClass: 3 });
    const ltTask = await scenarioTask(model, lt);
    // Python: [int(8 * 0.25 ** (i / 9.0)) for i in range(10)]
    assert.deepEqual(counts(ltTask.train.labels, 10), [8, 6, 5, 5, 4, 3, 3, 2, 2, 2]);
    assert.equal(ltTask.val.count, 0, 'no validation rows: every training image trains');
    assert.deepEqual(counts(ltTask.test.labels, 10), new Array(10).fill(3));

    const opts = { trainPerClass: 2, testPerClass: 3 };
    const clean = await scenarioTask(model, genericScenario(mnist, opts));
    const noisy = await scenarioTask(model, corruptionScenario(mnist, { ...opts, corruption: 'gaussian_noise', severity: 5 }));
    assert.equal(clean.train.count, 20);
    assert.deepEqual(noisy.train.features, clean.train.features, 'same training images, same features');
    assert.deepEqual(noisy.test.labels, clean.test.labels, 'same test images');
    assert.notDeepEqual(noisy.test.features, clean.test.features, 'the corrupted test images give other features');
    assert.notDeepEqual(noisy.test.pixels([0]), clean.test.pixels([0]));
    assert.deepEqual(noisy.train.pixels([0, 1]), clean.train.pixels([0, 1]));
    assert.equal(new Set([clean.key, noisy.key, ltTask.key]).size, 3, 'each scenario its own task key');
    assert.notEqual(clean.testKey, noisy.testKey);
  });
});
