// MVLPT on the prompt learners, with real (short) training on mini-CLIP and real images:
// (i) a multitask source prompt initialises the target prompt and changes what the target learns;
// (ii) joint tuning over a group reports each task against its single-task baseline.
// As the issue asks, the tests assert the pipeline (what was trained on what, paired comparisons, logits
// that differ), not the direction of the gain; the sign and size are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { makeTrainer, taskData } from '../../cells/prompts/train.ts';
import type { TrainedPrompt } from '../../cells/prompts/train.ts';
import { defaultTaskSuite } from '../../cells/studies/tasks.ts';
import {
  jointTuning, multitaskPrompt, promptTaskFor, transferGain, trainOnTask, resolveMethod, type PromptMethod,
} from '../../cells/studies/multitask.ts';
import { miniClip, studyCell } from './helpers.ts';

const OPTIM = { lr: 0.01, batchSize: 8 };
const METHODS: PromptMethod[] = [
  { method: 'coop', config: { nCtx: 4 }, epochs: 3, optim: OPTIM },
  { method: 'vpt', config: { tokens: 2, depth: 'shallow' }, epochs: 2, optim: OPTIM },
  { method: 'upt', config: { n: 2 }, epochs: 2, optim: OPTIM },
];

const differs = (a: TrainedPrompt, b: TrainedPrompt) =>
  Object.keys(a.state).some((k) => a.state[k].data.some((v, i) => v !== b.state[k].data[i]));

test('multitask source prompt → target init changes the target prompt and its accuracy is reported (CoOp, VPT, UPT)', async (t) => {
  await initBackend('wasm');
  const model = await miniClip();
  const cell = studyCell();
  const [vehicles, footwear, signs] = await cell.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing', 'GTSRB speed limits'] }));
  const sources = [vehicles, footwear];
  for (const m of METHODS) {
    const setting = { shots: 2, seed: 1, testPerClass: 8 };
    cell.mark();
    const g = await cell.run(() => transferGain(model, sources, signs, m, { shots: 2, seeds: [1], testPerClass: 8 }));
    assert.equal(cell.misses('multitaskPrompt').length, 1, `${m.method}: one multitask source prompt`);
    assert.equal(cell.misses('transferCell').length, 1);
    assert.equal(cell.misses('transferBaseline').length, 1);
    // The source prompt was trained on the union of both sources' shots (pooled sampling, K × classes each).
    const source = await cell.run(() => multitaskPrompt(model, sources, m, setting));
    assert.deepEqual([...source.classNames].sort(), [...vehicles.classNames, ...footwear.classNames].sort());
    const r = resolveMethod(m, 2);
    const pooled = 2 * vehicles.classNames.length + 2 * footwear.classNames.length;
    const perEpoch = pooled >= r.optim.batchSize ? Math.floor(pooled / r.optim.batchSize) : Math.ceil(pooled / r.optim.batchSize);
    assert.equal(source.steps, perEpoch * r.epochs);
    // Paired runs: same K, seed, epochs; only the initialisation differs.
    const fromSource = await cell.run(() => trainOnTask(model, signs, m, setting, source));
    const fromDefault = await cell.run(() => trainOnTask(model, signs, m, setting));
    assert.equal(fromSource.steps, fromDefault.steps, 'same budget');
    assert.equal(fromSource.epochs, fromDefault.epochs);
    assert.ok(differs(fromSource, fromDefault), `${m.method}: the source init leaves the target prompt unchanged`);
    // ... and therefore what the target predicts: its test logits differ.
    const ptask = await cell.run(async () => {
      const t = await promptTaskFor(model, signs, setting);
      await t.loadFeatures();
      return t;
    });
    const logitsOf = (p: TrainedPrompt) => {
      const tr = makeTrainer(model, ptask, p.method, p.config, p.seed, p.state);
      const { batch } = taskData(ptask, tr.input, 'test').batch(Array.from({ length: ptask.test.count }, (_, i) => i));
      const out = tf.tidy(() => tr.logits(batch).dataSync() as Float32Array);
      batch.features?.dispose();
      batch.pixels?.dispose();
      tr.dispose();
      return out;
    };
    const a = logitsOf(fromSource), b = logitsOf(fromDefault);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    assert.ok(maxDiff > 1e-4, `${m.method}: logits identical (max |Δ| ${maxDiff})`);
    const p = g.perSeed[0];
    assert.equal(g.gain.mean, p.sourceInit - p.defaultInit);
    assert.ok(p.sourceInit >= 0 && p.sourceInit <= 1 && p.defaultInit >= 0 && p.defaultInit <= 1);
    t.diagnostic(`${m.method}: target ${signs.name} from {${sources.map((s) => s.name).join(', ')}}: source init ${(100 * p.sourceInit).toFixed(1)}%, ` +
      `default init ${(100 * p.defaultInit).toFixed(1)}%, gain ${p.gain >= 0 ? '+' : ''}${(100 * p.gain).toFixed(1)} pp (${p.gain > 0 ? 'positive' : p.gain < 0 ? 'negative' : 'zero'}); max |Δlogit| ${maxDiff.toFixed(3)}`);
  }
});

test('joint multitask tuning reports every task against its single-task baseline', async (t) => {
  await initBackend('wasm');
  const model = await miniClip();
  const cell = studyCell();
  const group = await cell.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing', 'GTSRB speed limits'] }));
  const m = METHODS[0];
  cell.mark();
  const j = await cell.run(() => jointTuning(model, group, m, { shots: 2, seeds: [1, 2], testPerClass: 8 }));
  assert.equal(cell.misses('multitaskPrompt').length, 2, 'one joint prompt per seed, shared by the group');
  assert.equal(cell.misses('transferBaseline').length, 6, 'one single-task baseline per task and seed');
  assert.equal(j.runs.length, 6);
  assert.equal(j.table.numRows, 6);
  assert.deepEqual(j.summary.map((s) => s.task), group.map((g) => g.name));
  for (const s of j.summary) {
    assert.equal(s.joint.n, 2);
    assert.ok(Math.abs(s.delta.mean - (s.joint.mean - s.single.mean)) < 1e-12);
    t.diagnostic(`${s.task}: joint ${(100 * s.joint.mean).toFixed(1)} ± ${(100 * s.joint.std).toFixed(1)}%, single ${(100 * s.single.mean).toFixed(1)} ± ${(100 * s.single.std).toFixed(1)}%`);
  }
  // Listing the group in another order is the same experiment: all from the cache.
  cell.mark();
  await cell.run(() => jointTuning(model, [...group].reverse(), m, { shots: 2, seeds: [1, 2], testPerClass: 8 }));
  assert.equal(cell.misses().length, 0);
});

test('methods whose state is tied to one label space are refused with a reason', async () => {
  await initBackend('wasm');
  const model = await miniClip();
  const cell = studyCell();
  const [vehicles, footwear] = await cell.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing'] }));
  await assert.rejects(cell.run(() => multitaskPrompt(model, [vehicles, footwear], { method: 'coop', config: { classSpecific: true } }, { shots: 1, seed: 1 })), /class-specific CoOp/);
  await assert.rejects(cell.run(() => multitaskPrompt(model, [vehicles, footwear], { method: 'linear-probe' }, { shots: 1, seed: 1 })), /linear-probe learns one weight row per class/);
  await assert.rejects(cell.run(() => multitaskPrompt(model, [vehicles, vehicles], { method: 'coop' }, { shots: 1, seed: 1 })), /listed twice/);
});
