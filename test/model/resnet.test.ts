// The CIFAR ResNet's forward pass (cells/model/resnet) against an independent reference: the same network
// written separately in PyTorch and run in float64 on the fixture's float32 weights
// (test/model/fixtures/make-resnet-fixture.py wrote test/model/fixtures/resnet-tiny/; python is not needed
// here). The fixture is a tiny checkpoint in the loader's Hugging Face layout: 3 stages of widths [5, 6, 8],
// depths [1, 2, 1] (a projection shortcut and an identity one), 8×8 images, so stride-2 convolutions on
// even sizes (where tfjs's 'same' padding and PyTorch's padding 1 differ) are exercised; BatchNorm has
// random γ, β and running statistics so no layer is close to an identity.
//
// Checked, on the wasm backend (with the native kernels when they load) and on the pure-JS cpu backend: the
// input of every stage (= the output of the stem and of every stage but the last), the pooled features (=
// the last stage's output, averaged), the logits; a training-mode pass (batch statistics) and the running
// statistics it leaves. Then the loader's errors: missing files, shapes that do not match config.json,
// missing/extra/non-finite tensors and bad configs each fail with a message that names the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { load } from '../../cells/model/load.ts';
import { CLIPModel } from '../../cells/model/clip.ts';
import { blockPlan, normalizePixels, ResNetConfigError, ResNetWeightError, type ResNetModel } from '../../cells/model/resnet/index.ts';
import { readSafetensors, serializeSafetensors } from '../../cells/util/safetensors.ts';
import { tempDir } from '../engine/helpers.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/resnet-tiny/', import.meta.url));

/**
 * Tolerance: |tfjs − reference| ≤ ATOL + RTOL·|reference|. tfjs computes in float32 (unit roundoff
 * u = 6e-8); every value here is the end of at most 10 convolutions of ≤ 54 products each, with BatchNorm
 * scales γ/√(var + ε) up to ≈ 2, so a few hundred roundings of O(1) quantities: expected error ~1e-6;
 * measured ≤ 5e-7 on both backends (printed by the first test). 2e-5 leaves a 40× margin for other
 * BLAS/SIMD summation orders and stays far below what a wrong network gives: tfjs's own 'same' padding
 * instead of PyTorch's at the fixture's stride-2 convolution moves that convolution's output by 0.43 (on
 * values of at most 0.59), and eval statistics in a training pass move the logits by more than 100× the
 * tolerance (checked below).
 * The reference is stored as F64; the project's reader rounds it to float32 (relative 6e-8), negligible here.
 */
const ATOL = 2e-5, RTOL = 2e-5;

interface Expected { get(name: string): { shape: number[]; data: Float32Array | Int32Array | Uint8Array } }
const expected: Expected = await readSafetensors(join(FIXTURE, 'expected.safetensors'));

function assertClose(actual: tf.Tensor, name: string, label: string): number {
  const ref = expected.get(name);
  assert.deepEqual(actual.shape, ref.shape, `${label}: shape`);
  const a = actual.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const r = ref.data[i];
    const err = Math.abs(a[i] - r);
    assert.ok(err <= ATOL + RTOL * Math.abs(r), `${label}[${i}]: tfjs ${a[i]}, reference ${r} (|Δ| = ${err.toExponential(2)})`);
    worst = Math.max(worst, err);
  }
  return worst;
}

function fixtureInput(model: ResNetModel): tf.Tensor4D {
  const px = expected.get('pixels');
  assert.deepEqual(px.shape, [4, 8, 8, 3]);
  return normalizePixels(model.config, px.data as Uint8Array, 4);
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`ResNet forward on ${backend} matches the float64 PyTorch reference: every stage input, pooled features, logits`, async () => {
    await initBackend(backend);
    const model = await load(FIXTURE, { type: 'resnet' });
    try {
      assert.deepEqual(model.stageChannels, [4, 5, 6]);
      const x = fixtureInput(model);
      const seen: tf.Tensor4D[] = [];
      // The hook sees each stage's input; returning it unchanged leaves the forward as it is.
      const out = model.forward(x, { beforeStage: (_s, h) => { seen.push(tf.keep(h.clone())); return h; } });
      assert.equal(seen.length, 3);
      const worst = [
        ...seen.map((h, s) => assertClose(h, `eval.stage_input.${s}`, `${backend} stage ${s} input`)),
        assertClose(out.pooled, 'eval.pooled', `${backend} pooled`),
        assertClose(out.logits, 'eval.logits', `${backend} logits`),
      ];
      // Not vacuous: the stage maps are non-trivial (post-ReLU, some channels active everywhere).
      for (const h of seen) assert.ok(tf.max(h).dataSync()[0] > 0.1, 'stage input has signal');
      console.log(`${backend}: worst |Δ| per output ${worst.map((w) => w.toExponential(1)).join(', ')}`);
      tf.dispose([x, out.pooled, out.logits, ...seen]);
    } finally {
      model.dispose();
    }
  });

  test(`ResNet training-mode pass on ${backend} (batch statistics) and the running statistics it updates match the reference`, async () => {
    await initBackend(backend);
    const model = await load(FIXTURE, { type: 'resnet' });
    try {
      const x = fixtureInput(model);
      const evalLogits = model.forward(x).logits;
      const out = model.forward(x, { training: true });
      assertClose(out.logits, 'train.logits', `${backend} training logits`);
      // The fixture tells the two modes apart: a forward that ignored `training` could not pass the line above.
      const gap = tf.max(tf.abs(tf.sub(out.logits, evalLogits))).dataSync()[0];
      assert.ok(gap > 100 * (ATOL + RTOL), `training and eval logits differ (${gap})`);
      for (const name of ['stem.bn.running_mean', 'stem.bn.running_var', 'stages.2.blocks.0.bn2.running_var']) {
        assertClose(model.variables.get(name)!, `train.${name}`, `${backend} ${name} after one training pass`);
      }
      tf.dispose([x, evalLogits, out.pooled, out.logits]);
    } finally {
      model.dispose();
    }
  });
}

// ---- eval-mode BatchNorm folded into the convolutions ------------------------------------------------

/**
 * The network as it was written before the fold, from the model's own variables: conv, then BatchNorm on
 * the running statistics as its own per-pixel affine map, ReLU, residual add. Written here, not imported.
 */
function unfoldedLogits(model: ResNetModel, x: tf.Tensor4D): tf.Tensor2D {
  const v = (n: string) => model.variables.get(n)! as tf.Tensor;
  const eps = model.config.batch_norm_eps;
  const conv = (h: tf.Tensor4D, name: string, stride: number) => {
    const w = v(name) as tf.Tensor4D, p = (w.shape[0] - 1) / 2;
    return tf.conv2d(h, w, stride, p === 0 ? 'valid' : [[0, 0], [p, p], [p, p], [0, 0]]);
  };
  const bn = (h: tf.Tensor4D, p: string) =>
    tf.add(tf.mul(tf.div(tf.sub(h, v(`${p}.running_mean`)), tf.sqrt(tf.add(v(`${p}.running_var`), eps))), v(`${p}.weight`)), v(`${p}.bias`)) as tf.Tensor4D;
  let h = tf.relu(bn(conv(x, 'stem.conv.weight', 1), 'stem.bn'));
  for (const b of blockPlan(model.config).flat()) {
    const a = tf.relu(bn(conv(h, `${b.prefix}.conv1.weight`, b.stride), `${b.prefix}.bn1`));
    const c = bn(conv(a, `${b.prefix}.conv2.weight`, 1), `${b.prefix}.bn2`);
    const s = b.projection ? bn(conv(h, `${b.prefix}.shortcut.conv.weight`, b.stride), `${b.prefix}.shortcut.bn`) : h;
    h = tf.relu(tf.add(c, s)) as tf.Tensor4D;
  }
  return tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, v('classifier.weight') as tf.Tensor2D), v('classifier.bias')) as tf.Tensor2D;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
  return num / den;
}

/**
 * Folding moves values by float32 rounding only: conv(x, w·s) + (β − μ·s) against (conv(x, w) − μ)·s + β
 * differ by a few roundings of O(1) quantities per layer (expected ~1e-6 relative); FOLD_TOL = 2e-5
 * relative to the largest value, far below what a wrong fold gives (dropping the mean or ε moves the
 * logits by more than 1e-2, checked below).
 */
const FOLD_TOL = 2e-5;

for (const backend of ['wasm', 'cpu'] as const) {
  test(`ResNet on ${backend}: the folded forward equals the unfolded one; with trainable weights so do the gradients of w, γ, β; a new running statistic is picked up`, async () => {
    await initBackend(backend);
    const model = await load(FIXTURE, { type: 'resnet' });
    try {
      const x = fixtureInput(model);
      const classes = model.config.num_labels;
      const probe = tf.tensor2d(Float32Array.from({ length: 4 * classes }, (_, i) => Math.sin(i * 0.7)), [4, classes]);
      // Frozen: the folded pairs are cached.
      const [folded, plain] = tf.tidy(() => [model.forward(x).logits.dataSync(), unfoldedLogits(model, x).dataSync()]);
      assert.ok(relErr(folded, plain) < FOLD_TOL, `frozen forward: ${relErr(folded, plain)}`);
      // Frozen on a tape (Pro-tuning's prompts, the PGD attack): the gradient reaches the input through the
      // frozen conv + bias + ReLU op.
      const inputGrad = (f: (xi: tf.Tensor4D) => tf.Tensor2D) => tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(f(xi as tf.Tensor4D), probe)))(x).dataSync());
      const gx1 = inputGrad((xi) => model.forward(xi).logits), gx2 = inputGrad((xi) => unfoldedLogits(model, xi));
      assert.ok(gx2.some((g) => Math.abs(g) > 1e-4), 'the input gradient is not trivially zero');
      assert.ok(relErr(gx1, gx2) < FOLD_TOL, `input gradient through the frozen network: ${relErr(gx1, gx2)}`);
      // Trainable: the fold runs on the tape and the gradient goes through it.
      model.setTrainable(true);
      const names = ['stem.conv.weight', 'stem.bn.weight', 'stem.bn.bias', 'stages.1.blocks.0.shortcut.bn.weight', 'stages.2.blocks.0.bn2.bias', 'stages.2.blocks.0.conv2.weight'];
      const vars = names.map((n) => model.variables.get(n)!);
      const gradsOf = (f: () => tf.Tensor2D) => tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(f(), probe)) as tf.Scalar, vars);
        return names.map((n) => grads[model.variables.get(n)!.name].dataSync());
      });
      const g1 = gradsOf(() => model.forward(x).logits), g2 = gradsOf(() => unfoldedLogits(model, x));
      names.forEach((n, i) => {
        assert.ok(g2[i].some((g) => Math.abs(g) > 1e-4), `${n}: the gradient is not trivially zero`);
        assert.ok(relErr(g1[i], g2[i]) < FOLD_TOL, `${n}: gradient differs by ${relErr(g1[i], g2[i])}`);
      });
      model.setTrainable(false);
      // A replaced running variance reaches the cached fold (Variable.assign changes its dataId).
      const rv = model.variables.get('stem.bn.running_var')!;
      tf.tidy(() => rv.assign(tf.add(rv, 0.5)));
      const [f2, p2] = tf.tidy(() => [model.forward(x).logits.dataSync(), unfoldedLogits(model, x).dataSync()]);
      assert.ok(relErr(f2, p2) < FOLD_TOL, `after assign: ${relErr(f2, p2)}`);
      assert.ok(relErr(f2, folded) > 1e-3, 'the new statistic changes the logits');
      // Not vacuous: a fold that dropped the running mean would be caught.
      const noMean = tf.tidy(() => {
        const m = model.variables.get('stem.bn.running_mean')!, saved = m.clone();
        m.assign(tf.zerosLike(m));
        const out = model.forward(x).logits.dataSync();
        m.assign(saved);
        return out;
      });
      assert.ok(relErr(noMean, p2) > 1e-2, `a wrong fold is detectable (${relErr(noMean, p2)})`);
      tf.dispose([x, probe]);
    } finally {
      model.dispose();
    }
  });
}

// ---- the loader's errors ----------------------------------------------------------------------------

/** A copy of the fixture checkpoint in a temp folder, with its config and tensors edited. */
async function edited(opts: { config?: (c: Record<string, unknown>) => unknown; tensors?: (t: Map<string, { shape: number[]; data: Float32Array | Int32Array }>) => void; weights?: boolean }): Promise<string> {
  const dir = join(await tempDir('ps-resnet-load-'), 'ckpt');
  mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), typeof opts.config === 'function' ? JSON.stringify(opts.config(cfg)) : JSON.stringify(cfg));
  if (opts.weights === false) return dir;
  if (!opts.tensors) {
    copyFileSync(join(FIXTURE, 'model.safetensors'), join(dir, 'model.safetensors'));
    return dir;
  }
  const file = await readSafetensors(join(FIXTURE, 'model.safetensors'));
  const tensors = new Map(file.names().map((n) => { const t = file.get(n); return [n, { shape: t.shape, data: t.data as Float32Array | Int32Array }]; }));
  opts.tensors(tensors);
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(Object.fromEntries(tensors)));
  return dir;
}

test('load (ResNet): the fixture itself loads (so the failures below come from the edits)', async () => {
  await initBackend('cpu');
  const m = await load(await edited({}), { type: 'resnet' });
  assert.equal(m.config.hidden_sizes.join(), '5,6,8');
  m.dispose();
});

test('one load(): the model_type of the checkpoint picks the family; the wrong expected family is named', async () => {
  await initBackend('cpu');
  const resnet = await load(FIXTURE, { type: 'any' });
  assert.ok(!(resnet instanceof CLIPModel), 'a "cifar-resnet" config loads the ResNet');
  assert.equal((resnet as ResNetModel).config.hidden_sizes.join(), '5,6,8');
  resnet.dispose();
  const clip = await load('mini-clip', { type: 'any' });
  assert.ok(clip instanceof CLIPModel, 'a "clip" config loads CLIP');
  clip.dispose();
  await assert.rejects(load(FIXTURE), /model_type is "cifar-resnet", expected "clip"/);
  await assert.rejects(load('mini-clip', { type: 'resnet' }), /model_type is "clip"; a ResNet checkpoint here has "model_type": "cifar-resnet"/);
});

test('load (ResNet): missing config.json or model.safetensors fails with the path', async () => {
  await initBackend('cpu');
  const empty = await tempDir('ps-resnet-empty-');
  await assert.rejects(load(empty, { type: 'resnet' }), (e: Error) => /config\.json does not exist/.test(e.message) && e.message.includes(empty));
  const noWeights = await edited({ weights: false });
  await assert.rejects(load(noWeights, { type: 'resnet' }), (e: Error) => e.message.includes(join(noWeights, 'model.safetensors')));
  const badJson = await edited({});
  writeFileSync(join(badJson, 'config.json'), '{"model_type": "cifar-resnet",');
  await assert.rejects(load(badJson, { type: 'resnet' }), /cannot read ResNet config .*config\.json/);
});

test('load (ResNet): tensors that do not match config.json are named, with the file', async () => {
  await initBackend('cpu');
  const cases: Array<[string, Parameters<typeof edited>[0], RegExp]> = [
    ['a conv kernel of the wrong shape',
      { tensors: (t) => { t.set('stages.1.blocks.0.conv1.weight', { shape: [6, 5, 1, 9], data: t.get('stages.1.blocks.0.conv1.weight')!.data }); } },
      /tensor "stages\.1\.blocks\.0\.conv1\.weight" has shape \[6,5,1,9\], but config\.json implies \[6,5,3,3\]/],
    ['a missing shortcut BatchNorm',
      { tensors: (t) => { t.delete('stages.2.blocks.0.shortcut.bn.running_var'); } },
      /missing tensor "stages\.2\.blocks\.0\.shortcut\.bn\.running_var"/],
    ['a tensor the config has no place for',
      { tensors: (t) => { t.set('stages.3.blocks.0.conv1.weight', { shape: [1], data: new Float32Array(1) }); } },
      /unexpected tensor "stages\.3\.blocks\.0\.conv1\.weight"/],
    ['a config with a deeper stage than the weights',
      { config: (c) => ({ ...c, depths: [1, 3, 1] }) },
      /missing tensor "stages\.1\.blocks\.2\./],
    ['a NaN weight',
      { tensors: (t) => { const w = t.get('stem.conv.weight')!; const d = Float32Array.from(w.data); d[5] = NaN; t.set('stem.conv.weight', { shape: w.shape, data: d }); } },
      /tensor "stem\.conv\.weight" holds a non-finite value \(NaN\) at index 5/],
    ['a negative running variance',
      { tensors: (t) => { const w = t.get('stem.bn.running_var')!; const d = Float32Array.from(w.data); d[0] = -1; t.set('stem.bn.running_var', { shape: w.shape, data: d }); } },
      /"stem\.bn\.running_var" holds a negative variance/],
    ['an integer tensor',
      { tensors: (t) => { t.set('classifier.bias', { shape: [3], data: new Int32Array(3) }); } },
      /tensor "classifier\.bias" is I32; ResNet weights are floats/],
  ];
  for (const [what, edit, message] of cases) {
    const dir = await edited(edit);
    await assert.rejects(load(dir, { type: 'resnet' }), (e: Error) => {
      assert.ok(e instanceof ResNetWeightError, `${what}: ${e.name}: ${e.message}`);
      assert.match(e.message, message, what);
      assert.ok(e.message.includes(join(dir, 'model.safetensors')), `${what}: names the file: ${e.message}`);
      return true;
    });
  }
});

test('load (ResNet): bad config.json values fail with the key and the file', async () => {
  await initBackend('cpu');
  const cases: Array<[string, (c: Record<string, unknown>) => unknown, RegExp]> = [
    ['not an object', () => [1, 2], /is not a JSON object/],
    ['another model type', (c) => ({ ...c, model_type: 'resnet' }), /model_type is "resnet"; .*"cifar-resnet"/],
    ['depths and widths of different lengths', (c) => ({ ...c, depths: [1, 2] }), /"hidden_sizes" has 3 stages but "depths" has 2/],
    ['a zero width', (c) => ({ ...c, hidden_sizes: [5, 0, 8] }), /"hidden_sizes" must be a non-empty array of positive integers/],
    ['a missing embedding size', (c) => { const { embedding_size: _e, ...rest } = c; return rest; }, /"embedding_size" must be a positive integer/],
    ['a class without a name', (c) => ({ ...c, id2label: { 0: 'cat', 1: 'dog' } }), /"id2label" has no name for class 2 \(num_labels is 3\)/],
    ['a zero std', (c) => ({ ...c, image_std: [0.2, 0, 0.2] }), /"image_std" must be positive/],
    ['a two-channel mean', (c) => ({ ...c, image_mean: [0.5, 0.5] }), /"image_mean" must be three numbers/],
    ['momentum above 1', (c) => ({ ...c, batch_norm_momentum: 1.5 }), /"batch_norm_momentum" must be in \(0, 1\]/],
  ];
  for (const [what, config, message] of cases) {
    const dir = await edited({ config });
    await assert.rejects(load(dir, { type: 'resnet' }), (e: Error) => {
      assert.ok(e instanceof ResNetConfigError, `${what}: ${e.name}: ${e.message}`);
      assert.match(e.message, message, what);
      assert.ok(e.message.startsWith(join(dir, 'config.json')), `${what}: names the file: ${e.message}`);
      return true;
    });
  }
});
