// Pro-tuning and full fine-tuning mechanics, on the tiny fixture CLIP's ViT and on a small random CIFAR
// ResNet: with β = 0 the prompted backbone computes exactly what the frozen one does; gradients reach the
// blocks, β and the head and nothing else; the frozen weights are bit-identical after training; fine-tuning
// changes its private copy only; the depthwise convolution and its gradients match direct float64 loops;
// parameter counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { backboneOf, buildResNet, parseResNetConfig, randomResNetWeights, type PromptBackbone } from '../../cells/model/index.ts';
import { softmaxCrossEntropy } from '../../cells/model/ops/index.ts';
import { fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { makeTrainer, trainPrompt, trainableParameterCount } from '../../cells/prompts/train.ts';
import { resolveConfig } from '../../cells/prompts/registry.ts';
import { ProTuningTrainer, promptSites } from '../../cells/prompts/protuning.ts';
import { blockVariables, depthwise3x3, initPromptBlock, promptBlock, promptBlockParamCount, bottleneckWidth, type PromptBlockParams } from '../../cells/prompts/prompt-block.ts';
import type { Batch } from '../../cells/prompts/trainer.ts';
import { fixtureModel, mnistSmall, testCell } from './helpers.ts';

await initBackend('wasm');
const vit = await fixtureModel();
const resnetConfig = parseResNetConfig({
  model_type: 'cifar-resnet', embedding_size: 8, hidden_sizes: [8, 16], depths: [1, 1], image_size: 32, num_labels: 10,
});
const raw = randomResNetWeights(resnetConfig, 5);
// Non-trivial BatchNorm statistics and residual gains, so the frozen forward is not close to an identity.
for (const [n, t] of raw) {
  if (n.endsWith('running_var')) t.data.forEach((_, i) => (t.data[i] = 0.5 + (i % 7) / 7));
  if (n.endsWith('running_mean')) t.data.forEach((_, i) => (t.data[i] = ((i % 5) - 2) / 10));
  if (n.endsWith('bn2.weight')) t.data.fill(0.7);
}
const cnn = await backboneOf(buildResNet(resnetConfig, raw, 'resnet-test'));
const source = await mnistSmall();
const small = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 };
const backbones: [string, PromptBackbone][] = [['vit', vit], ['cnn', cnn]];

function bytes(m: Map<string, tf.Tensor>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, t] of m) out.set(k, Buffer.from((t.dataSync() as Float32Array).buffer.slice(0)).toString('base64'));
  return out;
}

async function taskOn(model: PromptBackbone): Promise<PromptTask> {
  return fewShotTask(model, source, small);
}

function batchOf(task: PromptTask, n = 4): Batch {
  const S = task.imageSize;
  return { labels: task.train.labels.slice(0, n), pixels: tf.tensor4d(task.train.pixels(Array.from({ length: n }, (_, i) => i)), [n, 3, S, S]) };
}

test('depthwise3x3 (one tf.depthwiseConv2d) equals a direct zero-padded 3×3 depthwise convolution', () => {
  const [B, H, W, m] = [2, 5, 4, 3];
  const x = Float32Array.from({ length: B * H * W * m }, (_, i) => Math.sin(i * 1.7) + (i % 3) * 0.1);
  const k = Float32Array.from({ length: 9 * m }, (_, i) => Math.cos(i * 0.9));
  const got = tf.tidy(() => depthwise3x3(tf.tensor4d(x, [B, H, W, m]), tf.tensor2d(k, [9, m])).dataSync());
  for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < m; c++) {
    let s = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const y = i + dy, xx = j + dx;
      if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
      s += x[((b * H + y) * W + xx) * m + c] * k[((dy + 1) * 3 + (dx + 1)) * m + c];
    }
    const g = got[((b * H + i) * W + j) * m + c];
    assert.ok(Math.abs(g - s) < 1e-5, `(${b},${i},${j},${c}): ${g} vs ${s}`);
  }
});

test('depthwise3x3: gradients of input and taps equal float64 loops (the registered backprop kernels)', () => {
  const [B, H, W, m] = [2, 5, 4, 3];
  const x = Float64Array.from({ length: B * H * W * m }, (_, i) => Math.sin(i * 1.3) - (i % 4) * 0.05);
  const k = Float64Array.from({ length: 9 * m }, (_, i) => Math.cos(i * 0.7 + 0.2));
  const up = Float64Array.from({ length: B * H * W * m }, (_, i) => Math.cos(i * 0.37) + 0.1);
  // L = Σ up ⊙ depthwise(x, k): ∂L/∂x[b,y,x',c] = Σ_taps up[b,y−dy,x'−dx,c]·k[tap,c], ∂L/∂k[tap,c] = Σ up·x(shifted).
  const gx = new Float64Array(x.length), gk = new Float64Array(k.length);
  const at = (b: number, i: number, j: number, c: number) => ((b * H + i) * W + j) * m + c;
  for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < m; c++) {
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const y = i + dy, xx = j + dx;
      if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
      const tap = (dy + 1) * 3 + (dx + 1);
      gx[at(b, y, xx, c)] += up[at(b, i, j, c)] * k[tap * m + c];
      gk[tap * m + c] += up[at(b, i, j, c)] * x[at(b, y, xx, c)];
    }
  }
  const [dx, dk] = tf.tidy(() => {
    const u = tf.tensor4d(Float32Array.from(up), [B, H, W, m]);
    const g = tf.grads((a: tf.Tensor, t: tf.Tensor) => depthwise3x3(a as tf.Tensor4D, t as tf.Tensor2D).mul(u).sum())(
      [tf.tensor4d(Float32Array.from(x), [B, H, W, m]), tf.tensor2d(Float32Array.from(k), [9, m])]);
    return [g[0].dataSync(), g[1].dataSync()];
  });
  for (let i = 0; i < gx.length; i++) assert.ok(Math.abs(dx[i] - gx[i]) < 1e-5, `∂L/∂x[${i}]: ${dx[i]} vs ${gx[i]}`);
  for (let i = 0; i < gk.length; i++) assert.ok(Math.abs(dk[i] - gk[i]) < 1e-4, `∂L/∂k[${i}]: ${dk[i]} vs ${gk[i]}`);
  assert.throws(() => depthwise3x3(tf.zeros([1, 3, 3, 2]) as tf.Tensor4D, tf.zeros([9, 3]) as tf.Tensor2D), /kernel must be \[9, 2\]/);
});

/**
 * The block written out with tfjs's plain ops (moments, matMul, broadcast adds), as the design in
 * prompt-block.ts's comment states it: the reference for the block's fused formulation.
 */
function plainBlock(x: tf.Tensor4D, p: PromptBlockParams): tf.Tensor4D {
  const [B, H, W, C] = x.shape, m = p.b1.shape[0];
  const flat = x.reshape([B * H * W, C]);
  const { mean, variance } = tf.moments(flat, -1, true);
  const xn = flat.sub(mean).div(tf.sqrt(variance.add(1e-5)));
  let h = tf.relu(tf.matMul(xn, p.w1 as tf.Tensor as tf.Tensor2D).add(p.b1)).reshape([B, H, W, m]) as tf.Tensor4D;
  h = tf.depthwiseConv2d(h, (p.dw as tf.Tensor).reshape([3, 3, m, 1]) as tf.Tensor4D, 1, 'same').add(p.bdw) as tf.Tensor4D;
  const gate = tf.sigmoid(tf.matMul(h.mean([1, 2]) as tf.Tensor2D, p.wg as tf.Tensor as tf.Tensor2D).add(p.bg)).reshape([B, 1, 1, m]);
  return tf.matMul(h.mul(gate).reshape([B * H * W, m]) as tf.Tensor2D, p.w2 as tf.Tensor as tf.Tensor2D).add(p.b2).reshape([B, H, W, C]) as tf.Tensor4D;
}

test('promptBlock (layerNorm, linear, column-sum bias gradients) equals the block in plain tfjs ops, forward and every parameter gradient', () => {
  const [B, H, W, C] = [2, 5, 6, 12];
  const p = initPromptBlock({ channels: C, ratio: 0.5 }, 3, 1);
  // A non-zero gate, so its weights get a gradient that means something.
  p.wg.assign(tf.tensor2d(Float32Array.from({ length: 36 }, (_, i) => Math.sin(i) * 0.3), [6, 6]));
  const x = tf.tensor4d(Float32Array.from({ length: B * H * W * C }, (_, i) => Math.sin(i * 0.37) * 2 + (i % 5) * 0.1), [B, H, W, C]);
  const up = tf.tensor4d(Float32Array.from({ length: B * H * W * C }, (_, i) => Math.cos(i * 0.11)), [B, H, W, C]);
  const vars = [p.w1, p.b1, p.dw, p.bdw, p.wg, p.bg, p.w2, p.b2];
  const run = (f: (x: tf.Tensor4D, p: PromptBlockParams) => tf.Tensor4D) => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => f(x, p).mul(up).sum() as tf.Scalar, vars);
    return { y: f(x, p).dataSync(), value: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync()) };
  });
  const got = run(promptBlock), want = run(plainBlock);
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let num = 0, den = 0;
    for (let i = 0; i < b.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
    return num / den;
  };
  // float32 rounding of two formulations of the same sums (≤ 1e-6 expected); 1e-4 is far below a wrong op.
  assert.ok(rel(got.y, want.y) < 1e-4, `forward: ${rel(got.y, want.y)}`);
  vars.forEach((v, i) => {
    assert.ok(want.grads[i].some((g) => Math.abs(g) > 1e-3), `${v.name}: gradient not trivially zero`);
    assert.ok(rel(got.grads[i], want.grads[i]) < 1e-4, `gradient ${i} (${v.shape}): ${rel(got.grads[i], want.grads[i])}`);
  });
  tf.dispose([x, up, ...blockVariables(p)]);
});

for (const [kind, model] of backbones) {
  test(`${kind}: with β = 0 the prompted backbone's features equal the frozen backbone's exactly`, async () => {
    const cell = testCell();
    await cell.run(async () => {
      const task = await taskOn(model);
      const batch = batchOf(task);
      const tr = makeTrainer(model, task, 'protuning', resolveConfig('protuning', {}), 3) as ProTuningTrainer;
      const frozen = tf.tidy(() => model.encodeImage(batch.pixels!).dataSync());
      const prompted = tf.tidy(() => tr.features(batch.pixels!).dataSync());
      assert.equal(prompted.length, frozen.length);
      for (let i = 0; i < frozen.length; i++) assert.ok(prompted[i] === frozen[i], `${kind}: feature ${i} is ${prompted[i]}, frozen ${frozen[i]}`);
      // …and with β ≠ 0 it does not (the block is really in the path).
      for (const v of tr.variables()) if (v.shape.length === 0) v.assign(tf.scalar(0.5));
      const moved = tf.tidy(() => tr.features(batch.pixels!).dataSync());
      let diff = 0;
      for (let i = 0; i < frozen.length; i++) diff = Math.max(diff, Math.abs(moved[i] - frozen[i]));
      assert.ok(diff > 1e-4, `${kind}: β = 0.5 changes the features (max |Δ| ${diff})`);
      tr.dispose();
      tf.dispose(batch.pixels!);
    });
  });

  test(`${kind}: gradients reach every block weight, every β and the head, and no backbone weight`, async () => {
    const cell = testCell();
    await cell.run(async () => {
      const task = await taskOn(model);
      const batch = batchOf(task);
      const tr = makeTrainer(model, task, 'protuning', resolveConfig('protuning', {}), 3);
      const vars = tr.variables();
      const labels = tf.tensor1d(batch.labels, 'int32');
      // At the start (β = 0, zero head) the design says: only the head has a gradient.
      const g0 = tf.variableGrads(() => softmaxCrossEntropy(tr.logits(batch, true, 1), labels), vars).grads;
      const headNames = new Set(vars.slice(-2).map((v) => v.name));
      for (const v of vars) {
        const n = tf.tidy(() => g0[v.name].abs().max().dataSync()[0]);
        if (headNames.has(v.name)) assert.ok(n > 0, `${kind}: the head gets a gradient at the start`);
        else assert.equal(n, 0, `${kind}: ${v.name} has gradient ${n} at β = 0 with a zero head`);
      }
      tf.dispose(g0);
      // Move off the start point: β ≠ 0 and a random head, then every variable gets a gradient.
      for (const v of vars) {
        if (v.shape.length === 0) v.assign(tf.scalar(0.3));
        else if (headNames.has(v.name)) v.assign(tf.randomUniform(v.shape, -1, 1, 'float32', 9));
      }
      // No varList: tf differentiates every trainable variable in the process, so a backbone weight that
      // were trainable (or any variable the trainer forgot to list) would show up here.
      const { value, grads } = tf.variableGrads(() => softmaxCrossEntropy(tr.logits(batch, true, 1), labels));
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.deepEqual(Object.keys(grads).sort(), vars.map((v) => v.name).sort(), `${kind}: the trainable variables are exactly the trainer's`);
      for (const v of vars) {
        const n = tf.tidy(() => grads[v.name].abs().max().dataSync()[0]);
        assert.ok(Number.isFinite(n) && n > 0, `${kind}: ${v.name} [${v.shape}] gets a non-zero gradient (${n})`);
      }
      for (const w of model.weights().values()) assert.equal((w as tf.Variable).trainable, false, `${kind}: backbone weights stay frozen`);
      tf.dispose([value, labels, batch.pixels!]);
      tf.dispose(grads);
      tr.dispose();
    });
  });

  test(`${kind}: training Pro-tuning and fine-tuning leaves the frozen backbone bit-identical; fine-tuning changes its copy`, async () => {
    const before = bytes(model.weights());
    const cell = testCell();
    await cell.run(async () => {
      const task = await taskOn(model);
      const pro = await trainPrompt(model, task, { method: 'protuning', epochs: 2, optim: { batchSize: 5, lr: 0.05, warmupEpochs: 0 } });
      const betas = Object.entries(pro.state).filter(([k]) => k.endsWith('.beta'));
      assert.equal(betas.length, promptSites(model).length);
      assert.ok(betas.every(([, t]) => t.data[0] !== 0), `${kind}: every β moved off 0 (${betas.map(([, t]) => t.data[0])})`);
      // Every block with its β (all sites, ratio 0.25: the defaults) plus the 10-class head.
      const blocks = promptSites(model).reduce((n, s) => n + promptBlockParamCount({ channels: s.channels, ratio: 0.25 }), 0);
      assert.equal(pro.trainableParameters, blocks + model.config.projectionDim * 10 + 10, `${kind}: recorded parameter count`);
      const ft = await trainPrompt(model, task, { method: 'finetune', epochs: 1, optim: { batchSize: 5, lr: 0.01, warmupEpochs: 0 } });
      const after = bytes(model.weights());
      assert.deepEqual([...after.keys()], [...before.keys()]);
      for (const [k, b] of before) assert.equal(after.get(k), b, `${kind}: frozen weight ${k} changed`);
      // The fine-tuned copy moved: most of its backbone tensors differ from the frozen ones.
      const frozen = model.weights();
      let changed = 0, total = 0;
      for (const [k, t] of Object.entries(ft.state)) {
        if (!k.startsWith('backbone.')) continue;
        total++;
        const orig = frozen.get(k.slice('backbone.'.length))!.dataSync();
        if (t.data.some((v, i) => v !== orig[i])) changed++;
      }
      assert.ok(total > 0 && changed / total > 0.5, `${kind}: fine-tuning changed ${changed} of ${total} backbone tensors`);
      assert.equal(ft.trainableParameters, Object.values(ft.state).reduce((n, t) => n + t.data.length, 0));
    });
  });
}

test('parameter counts: one block by hand, Pro-tuning = blocks + head, fine-tuning = the image path + head', async () => {
  // C = 16, m = max(4, ⌈16·0.25⌉) = 4: 1×1 in 16·4 + 4, depthwise 9·4 + 4, gate 4·4 + 4, 1×1 out 4·16 + 16, β 1.
  assert.equal(bottleneckWidth({ channels: 16, ratio: 0.25 }), 4);
  assert.equal(promptBlockParamCount({ channels: 16, ratio: 0.25 }), 68 + 40 + 20 + 80 + 1);
  const cell = testCell();
  await cell.run(async () => {
    for (const [kind, model] of backbones) {
      const task = await taskOn(model);
      const pro = makeTrainer(model, task, 'protuning', resolveConfig('protuning', {}), 1);
      const sum = promptSites(model).reduce((n, s) => n + promptBlockParamCount({ channels: s.channels, ratio: 0.25 }), 0);
      const head = model.config.projectionDim * 10 + 10;
      assert.equal(trainableParameterCount(pro), sum + head, kind);
      const headOnly = makeTrainer(model, task, 'protuning', resolveConfig('protuning', { sites: 'none' }), 1);
      assert.equal(trainableParameterCount(headOnly), head, kind);
      assert.equal(headOnly.input, 'features');
      const ft = makeTrainer(model, task, 'finetune', resolveConfig('finetune', {}), 1);
      let imagePath = 0;
      for (const [n, w] of model.weights()) {
        const onPath = kind === 'vit' ? n.startsWith('vision_model.') || n === 'visual_projection.weight'
          : !n.startsWith('classifier.') && !n.endsWith('running_mean') && !n.endsWith('running_var');
        if (onPath) imagePath += w.size;
      }
      assert.equal(trainableParameterCount(ft), imagePath + head, kind);
      [pro, headOnly, ft].forEach((t) => t.dispose());
    }
  });
  assert.throws(() => makeTrainer(vit, { name: 't', classNames: ['a', 'b'] }, 'protuning', resolveConfig('protuning', { sites: [9] }), 1), /site 9 does not exist/);
  assert.throws(() => makeTrainer(cnn, { name: 't', classNames: ['a', 'b'] }, 'vpt', resolveConfig('vpt', {}), 1), /image-only backbone/);
});

test('a CNN cache filled by another forward is not served: the forward version is part of the backbone fingerprint', async () => {
  const resnet = (cnn as PromptBackbone & { resnet: import('../../cells/model/index.ts').ResNetModel }).resnet;
  // An "older forward": the same weights (so the same weights-only fingerprint, which is all that keyed a
  // CNN's features before) computing different features.
  const older: PromptBackbone = {
    ...cnn, fingerprint: resnet.fingerprint,
    encodeImage: (pixels, prompts) => tf.tidy(() => cnn.encodeImage(pixels, prompts).mul(-1)),
  };
  const shared = testCell();
  const fresh = testCell();
  const featuresOn = async (model: PromptBackbone) => {
    const task = await taskOn(model);
    await task.loadFeatures();
    return task.test.features.slice();
  };
  const olderFeatures = await shared.run(() => featuresOn(older));
  const served = await shared.run(() => featuresOn(cnn));
  const computed = await fresh.run(() => featuresOn(cnn));
  assert.ok(olderFeatures.some((v, i) => v !== computed[i]), 'the older forward gives other features');
  assert.deepEqual(served, computed, 'a cache written by the older forward served stale features');
  assert.ok(!shared.records.filter((r) => r.stage === 'imageFeatures').at(-1)!.hit, 'imageFeatures was a cache hit on the older entry');
});
