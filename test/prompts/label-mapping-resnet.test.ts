// A supervised CNN as visual reprogramming's source (issue #18's second source): resnet-cifar10 with its own
// 10-class head as the source label set, pixel prompts on its input, mini-CLIP's text encoder for the
// semantic mapping's names. Frozen weights, where gradients go, the errors, and one check on real data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { backboneOf, load } from '../../cells/model/index.ts';
import { bundledSource, fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { resolveConfig } from '../../cells/prompts/registry.ts';
import { paddingMask } from '../../cells/prompts/pixel-prompts.ts';
import { VisualReprogrammingTrainer, zeroShotTransfer, type VisualReprogrammingConfig } from '../../cells/prompts/visual-reprogramming.ts';
import { testCell } from './helpers.ts';

await initBackend('wasm');
const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const resnet = async () => backboneOf(await load('resnet-cifar10', { type: 'resnet' }));
const cfg = (o: Record<string, unknown>) => resolveConfig('visual-reprogramming', { sourceLabels: 'model', ...o }) as unknown as VisualReprogrammingConfig;
const classes = (n: number) => ({ name: `t${n}`, classNames: Array.from({ length: n }, (_, k) => `class ${k}`) });

test('the source label set is the ResNet\'s own head; VPT, ImageNet names and a missing name encoder are clear errors', async () => {
  const model = await resnet();
  const t = new VisualReprogrammingTrainer();
  t.init(model, classes(10), cfg({ design: 'frame', mapping: 'identity' }), 1);
  assert.deepEqual(t.current.sources.map((s) => s[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.dispose();
  assert.throws(() => new VisualReprogrammingTrainer().init(model, classes(10), cfg({ design: 'vpt', mapping: 'random' }), 1), /VPT design .* is a CNN; use design 'frame' or 'padding'/);
  assert.throws(() => new VisualReprogrammingTrainer().init(model, classes(10), cfg({ sourceLabels: 'imagenet1k', mapping: 'random' }), 1), /own 10 labels; set sourceLabels: 'model'/);
  assert.throws(() => new VisualReprogrammingTrainer().init(model, classes(10), cfg({ design: 'frame', mapping: 'semantic' }), 1), /no text encoder .*set nameEncoder to a CLIP, e.g. 'mini-clip'/);
  // GTSRB's 43 classes on 10 source labels: one-to-one mappings fail saying so; one-to-many semantic works.
  const more = /one-to-one mapping needs at least as many source labels as downstream classes.*43 classes.*source label set 10/;
  for (const mapping of ['identity', 'random', 'frequency', 'iterative']) {
    assert.throws(() => new VisualReprogrammingTrainer().init(model, classes(43), cfg({ design: 'frame', mapping }), 1), more, mapping);
  }
  assert.throws(() => new VisualReprogrammingTrainer().init(model, classes(43), cfg({ design: 'frame', mapping: 'semantic', nameEncoder: 'mini-clip' }), 1), more);
  const many = new VisualReprogrammingTrainer();
  many.init(model, classes(43), cfg({ design: 'frame', mapping: 'semantic', semanticPerClass: 3, nameEncoder: 'mini-clip' }), 1);
  many.dispose();
  // A CLIP has no head of its own.
  const clip = await backboneOf(await load('mini-clip'));
  assert.throws(() => new VisualReprogrammingTrainer().init(clip, classes(10), cfg({ mapping: 'random' }), 1), /'model' means a supervised classifier's own head/);
});

test('training on the ResNet: its weights stay bit-identical, gradients reach only the prompt; semantic names via mini-CLIP', async () => {
  const model = await resnet();
  const before = new Map([...model.weights()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, await bundledSource('cifar10'), { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 });
    const trained = await trainPrompt(model, task, {
      method: 'visual-reprogramming', epochs: 2, config: { design: 'padding', mapping: 'semantic', sourceLabels: 'model', nameEncoder: 'mini-clip' },
      optim: { lr: 1, warmupEpochs: 0, batchSize: 10 },
    });
    // CIFAR-10's class names are the ResNet's own labels: under mini-CLIP's encoder each name is most similar
    // to itself, so the semantic mapping is the identity.
    const t = new VisualReprogrammingTrainer();
    t.init(model, task, cfg({ design: 'padding', mapping: 'semantic', nameEncoder: 'mini-clip' }), 1, trained.state);
    assert.deepEqual(t.current.sources, CIFAR10.map((_, k) => [k]));
    t.dispose();
    // Only the padding ring moved (P starts at 0; the interior has zero gradient).
    const p = trained.state.prompt.data, mask = paddingMask(32, 18);
    let ring = 0, inside = 0;
    for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) (mask[i] ? (ring += Math.abs(p[c * 1024 + i])) : (inside += Math.abs(p[c * 1024 + i])));
    assert.ok(ring > 0, 'the padding prompt learned');
    assert.equal(inside, 0, 'the interior of the padding prompt never moved');
  });
  for (const [k, v] of model.weights()) assert.deepEqual(v.dataSync(), before.get(k), `${k} is frozen`);
  // Gradients of one batch's loss: none to the ResNet's variables, which are not the trainer's.
  const t = new VisualReprogrammingTrainer();
  t.init(model, classes(10), cfg({ design: 'frame', mapping: 'random' }), 1);
  assert.deepEqual(t.variables().filter((v) => v.trainable).length, 1, 'one trainable variable: the prompt');
  const pixels = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
  // Without a variable list tfjs differentiates with respect to every trainable variable there is.
  const { grads } = tf.variableGrads(() => t.logits({ labels: Int32Array.from([0, 1]), pixels }).sum() as tf.Scalar);
  assert.deepEqual(Object.keys(grads), [t.variables()[0].name], 'the frozen ResNet gets no gradient');
  assert.ok(Object.values(grads)[0].abs().sum().dataSync()[0] > 0, 'the frame prompt does');
  tf.dispose([pixels, ...Object.values(grads)]);
  t.dispose();
});

test('zero-shot transfer through the ResNet\'s head on real CIFAR-10 images reads its own accuracy (well above chance)', async () => {
  const model = await resnet();
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, await bundledSource('cifar10'), { shots: 1, seed: 1, poolPerClass: 5, testPerClass: 20 });
    const r = await zeroShotTransfer(model, task);
    assert.deepEqual(r.mapping.map((m) => m.sources), CIFAR10.map((n) => [n]));
    // resnet-cifar10 reaches 68 % on CIFAR-10's 10,000 test images (its metrics.json); 200 images: well above 10 % chance.
    assert.ok(r.top1 > 0.45, `top-1 ${r.top1}`);
  });
});
