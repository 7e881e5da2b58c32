// Visual reprogramming's prompt designs and method (pixel-prompts.ts, visual-reprogramming.ts) on the tiny
// fixture CLIP and real MNIST digits: masks, where gradients go, frozen weights, the per-epoch remapping
// hook of the shared loop, the registry and the stage's cache key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { CLIP_MEAN, CLIP_STD } from '../../cells/data/preprocess.ts';
import { frameMask, makePixelPrompt, paddingMask, defaultFrameSize, defaultInnerSize } from '../../cells/prompts/pixel-prompts.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt, trainLoop, taskData } from '../../cells/prompts/train.ts';
import { OPTIM_DEFAULTS } from '../../cells/prompts/optim.ts';
import { resolveConfig, listTrainers } from '../../cells/prompts/registry.ts';
import { frequencyMapping, mappingMatrix } from '../../cells/prompts/label-mapping.ts';
import { VisualReprogrammingTrainer, VISUAL_REPROGRAMMING_DEFAULTS, zeroShotTransfer, type VisualReprogrammingConfig } from '../../cells/prompts/visual-reprogramming.ts';
import { sourceLabelNames } from '../../cells/prompts/source-labels.ts';
import { fixtureModel, mnistSmall, testCell, MNIST_NAMES } from './helpers.ts';

await initBackend('wasm');
const SOURCE = [...MNIST_NAMES, 'cat', 'dog', 'ship', 'truck'];
const small = (o: Partial<VisualReprogrammingConfig>): VisualReprogrammingConfig =>
  ({ ...VISUAL_REPROGRAMMING_DEFAULTS, sourceLabels: SOURCE, sourceTemplates: ['a photo of a {}.'], ...o });

test('masks and default sizes: Bahng\'s 30 px on 224 and ILM-VP\'s 128 on 224, scaled to the input', () => {
  assert.equal(defaultFrameSize(224), 30);
  assert.equal(defaultFrameSize(32), 4);
  assert.equal(defaultInnerSize(224), 128);
  assert.equal(defaultInnerSize(32), 18);
  // A p-pixel ring on S×S has S² − (S − 2p)² pixels: 32² − 24² = 448.
  assert.equal(frameMask(32, 4).reduce((a, b) => a + b, 0), 448);
  // Padding mask: everything outside the 18×18 inner square: 1024 − 324 = 700.
  assert.equal(paddingMask(32, 18).reduce((a, b) => a + b, 0), 700);
  assert.throws(() => frameMask(32, 16), /leaves an interior/);
  assert.throws(() => paddingMask(32, 32), /inner size 32/);
});

test('padding prompt: border = sigmoid(P) in [0,1] then normalised, interior = the resized image; gradient only on the border', () => {
  const S = 32, inner = 18;
  const p = makePixelPrompt('padding', { imageSize: S, innerSize: inner, seed: 1 });
  // A constant mid-grey image (0.3 in [0,1]) normalised: resizing a constant keeps it, so the interior is exact.
  const px = tf.tidy(() => tf.fill([2, 3, S, S], 0.3).sub(tf.tensor4d([...CLIP_MEAN], [1, 3, 1, 1])).div(tf.tensor4d([...CLIP_STD], [1, 3, 1, 1])) as tf.Tensor4D);
  const out = p.apply(px);
  const v = out.arraySync() as number[][][][];
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(v[0][c][0][0] - (0.5 - CLIP_MEAN[c]) / CLIP_STD[c]) < 1e-5, 'border at P = 0 is sigmoid(0) = 0.5, normalised');
    assert.ok(Math.abs(v[1][c][16][16] - (0.3 - CLIP_MEAN[c]) / CLIP_STD[c]) < 1e-5, 'interior is the image');
  }
  const weights = tf.variable(tf.randomNormal([2, 3, S, S], 0, 1, 'float32', 7));
  const { grads } = tf.variableGrads(() => p.apply(px).mul(weights).sum() as tf.Scalar, [p.variable, weights]);
  const g = grads[p.variable.name].dataSync();
  const mask = paddingMask(S, inner);
  let inside = 0, border = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) {
    if (mask[i]) border += Math.abs(g[c * S * S + i]) > 0 ? 1 : 0;
    else inside += Math.abs(g[c * S * S + i]);
  }
  assert.equal(inside, 0, 'no gradient reaches the prompt inside the image');
  assert.equal(border, 3 * 700, 'every border value gets a gradient');
  tf.dispose([px, out, weights, ...Object.values(grads)]);
  p.dispose();
});

test('frame prompt: added on the border only, the interior of the image unchanged', () => {
  const S = 32;
  const p = makePixelPrompt('frame', { imageSize: S, seed: 3 });
  const px = tf.randomNormal([1, 3, S, S], 0, 1, 'float32', 2) as tf.Tensor4D;
  const diff = tf.tidy(() => p.apply(px).sub(px).abs().dataSync());
  const mask = frameMask(S, 4);
  for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) {
    if (!mask[i]) assert.equal(diff[c * S * S + i], 0);
  }
  assert.ok(Array.from(diff).reduce((a, b) => a + b, 0) > 100, 'the border moved (N(0,1) init on 3·448 values)');
  tf.dispose(px);
  p.dispose();
});

test('trained through the shared loop (padding, ILM): frozen weights bit-identical, prompt interior stays 0, the mapping is recomputed every epoch', async () => {
  const model = await fixtureModel();
  const source = await mnistSmall();
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, source, { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 });
    const before = new Map([...model.weights()].map(([k, t]) => [k, Buffer.from((t.dataSync() as Float32Array).buffer.slice(0))]));
    const trainer = new VisualReprogrammingTrainer();
    const config = small({ design: 'padding', mapping: 'iterative' });
    trainer.init(model, task, config, 1);
    assert.deepEqual(trainer.variables().filter((v) => v.trainable).length, 1, 'only the prompt is trainable (the mapping is a fixed variable)');
    const seen: { epoch: number; matches: boolean }[] = [];
    const hook = trainer.beforeEpoch.bind(trainer);
    const data = taskData(task, 'pixels');
    trainer.beforeEpoch = async (epoch, d, signal) => {
      await hook(epoch, d, signal);
      // The mapping now in force = FLM of the prompted model's own source predictions at this moment.
      const pred = await trainer.sourcePredictions(d, signal);
      const expected = mappingMatrix(frequencyMapping(pred, d.labels, 10, SOURCE.length, 'iterative'));
      const actual = trainer.save().mapping.data;
      seen.push({ epoch, matches: expected.every((x, i) => x === actual[i]) });
    };
    await trainLoop(trainer, data, { epochs: 3, optim: { ...OPTIM_DEFAULTS, lr: 1, warmupEpochs: 0, batchSize: 5 }, seed: 1, signal: new AbortController().signal, progress: () => undefined, label: 'vr' });
    assert.deepEqual(seen, [0, 1, 2].map((epoch) => ({ epoch, matches: true })));
    const state = trainer.save();
    const mask = paddingMask(32, 18);
    let inside = 0, border = 0;
    state.prompt.data.forEach((x, i) => (mask[i % 1024] ? (border += Math.abs(x)) : (inside += Math.abs(x))));
    assert.equal(inside, 0);
    assert.ok(border > 0, 'the border learned something');
    // One-to-one: every column of the mapping sums to 1 and the 10 chosen source labels are distinct.
    const cols = Array.from({ length: 10 }, (_, t) => SOURCE.map((_, s) => state.mapping.data[s * 10 + t]));
    assert.ok(cols.every((c) => c.reduce((a, b) => a + b, 0) === 1));
    assert.equal(new Set(cols.map((c) => c.indexOf(1))).size, 10);
    trainer.dispose();
    for (const [k, t] of model.weights()) assert.ok(before.get(k)!.equals(Buffer.from((t.dataSync() as Float32Array).buffer.slice(0))), `weight ${k} changed`);
  });
});

test('registry, cache key (mapping, design, source labels) and a stored prompt reproduce through evaluation', async () => {
  assert.ok(listTrainers().includes('visual-reprogramming'));
  assert.throws(() => resolveConfig('visual-reprogramming', { mapp: 'semantic' }), /unknown config key "mapp"/);
  assert.equal(sourceLabelNames('imagenet1k').length, 1000);
  const model = await fixtureModel();
  const source = await mnistSmall();
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, source, { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 });
    const run = (config: Partial<VisualReprogrammingConfig>) =>
      trainPrompt(model, task, { method: 'visual-reprogramming', config: { sourceLabels: SOURCE, sourceTemplates: ['a photo of a {}.'], ...config }, epochs: 1, optim: { batchSize: 10, lr: 0.1 } });
    const count = () => cell.records.filter((r) => r.stage === 'trainPrompt' && !r.hit).length;
    const a = await run({ design: 'frame', mapping: 'frequency' });
    assert.equal(count(), 1);
    await run({ design: 'frame', mapping: 'frequency' });
    assert.equal(count(), 1, 'same settings: a cache hit');
    await run({ design: 'frame', mapping: 'random' });
    await run({ design: 'vpt', mapping: 'frequency', vptTokens: 2 });
    await run({ design: 'frame', mapping: 'frequency', sourceLabels: SOURCE.slice(0, 12) });
    assert.equal(count(), 4, 'mapping, design and source labels are each in the key');
    // The stored mapping is the FLM of the initial prompt and it survives the store (one source label per class).
    assert.deepEqual(a.state.mapping.shape, [SOURCE.length, 10]);
    const zst = await zeroShotTransfer(model, task, { sourceLabels: SOURCE, sourceTemplates: ['a photo of a {}.'] });
    assert.equal(zst.mapping.length, 10);
    assert.equal(zst.n, 40);
  });
});

test('the source labels\' text features are computed at init, never inside a training step\'s gradient tape', async () => {
  // Computed first inside the tape, 1,000 names × 7 templates kept every text activation for backprop and
  // aborted the wasm heap; at init they are computed once, outside it.
  const model = await fixtureModel();
  const t = new VisualReprogrammingTrainer();
  const before = model.calls.text;
  t.init(model, { name: 'mnist', classNames: MNIST_NAMES }, small({ design: 'frame', mapping: 'random', sourceLabels: [...SOURCE, 'tape'] }), 1);
  assert.ok(model.calls.text > before, 'init encodes the source labels');
  const atInit = model.calls.text;
  const pixels = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
  const { grads, value } = tf.variableGrads(() => t.logits({ labels: Int32Array.from([0, 1]), pixels }).sum() as tf.Scalar, t.variables().filter((v) => v.trainable));
  assert.equal(model.calls.text, atInit, 'no text encoder call inside the tape');
  tf.dispose([pixels, value, ...Object.values(grads)]);
  t.dispose();
});
