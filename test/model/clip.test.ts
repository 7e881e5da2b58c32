// Config parsing, checkpoint loading errors, trainable flags, fingerprints, save/load round trip, verifyModel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, load, randomCLIPWeights, parseCLIPConfig, toHFConfig, VIT_B_16, verifyModel, defaultTokenizer } from '../../cells/model/index.ts';
import { clipWeightSpecs } from '../../cells/model/weight-spec.ts';
import { findEot } from '../../cells/model/clip.ts';
import { readSafetensors, writeSafetensors } from '../../cells/util/safetensors.ts';
import type { TensorToWrite } from '../../cells/util/safetensors.ts';
import { FIXTURE_DIR, FIXTURE_JSON, fixture } from './fixture.ts';

const fixtureConfig = JSON.parse(readFileSync(join(FIXTURE_DIR, 'config.json'), 'utf8'));

test('config: fixture parses; HF defaults fill missing keys; legacy eos 2 pools at <|endoftext|>; round trip', () => {
  const c = parseCLIPConfig(fixtureConfig);
  assert.equal(c.text.hiddenSize, 32);
  assert.equal(c.vision.patchSize, 8);
  assert.equal(c.text.hiddenAct, 'quick_gelu');
  assert.equal(c.projectionDim, 24);
  const d = parseCLIPConfig({ text_config: { eos_token_id: 2 }, vision_config: {} });
  assert.equal(d.text.hiddenSize, 512);
  assert.equal(d.vision.hiddenSize, 768);
  assert.equal(d.text.eosTokenId, 49407);
  assert.deepEqual(parseCLIPConfig(toHFConfig(c)), c);
  assert.equal(VIT_B_16.vision.patchSize, 16);
});

test('config: clear errors', () => {
  assert.throws(() => parseCLIPConfig({ model_type: 'bert' }, 'x/config.json'), /x\/config\.json: model_type is "bert"/);
  assert.throws(() => parseCLIPConfig({ vision_config: {} }), /text_config is missing/);
  assert.throws(() => parseCLIPConfig({ text_config: { hidden_act: 'swish' }, vision_config: {} }), /hidden_act "swish" is not supported/);
  assert.throws(() => parseCLIPConfig({ text_config: {}, vision_config: { hidden_size: 50, num_attention_heads: 4 } }), /not divisible/);
  assert.throws(() => parseCLIPConfig({ text_config: {}, vision_config: { image_size: 30, patch_size: 8 } }), /not a multiple/);
  assert.throws(() => parseCLIPConfig({ text_config: { hidden_size: '32' }, vision_config: {} }), /text_config\.hidden_size must be an integer/);
});

test('findEot: first end token, argmax when none', () => {
  assert.deepEqual([...findEot(Int32Array.from([49406, 5, 49407, 49407, 49406, 7, 9, 3]), 2, 4, 49407)], [2, 0]);
});

test('loading: a missing or mis-shaped tensor is an error that names it', async () => {
  await initBackend('cpu');
  const st = await readSafetensors(join(FIXTURE_DIR, 'model.safetensors'));
  const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const n of st.names()) weights[n] = st.get(n) as { shape: number[]; data: Float32Array };
  const { 'text_model.encoder.layers.1.mlp.fc2.bias': _gone, ...missing } = weights;
  await assert.rejects(load({ config: fixtureConfig, weights: missing }), /missing tensor "text_model\.encoder\.layers\.1\.mlp\.fc2\.bias"/);
  const bad = { ...weights, 'visual_projection.weight': { shape: [48, 24], data: weights['visual_projection.weight'].data } };
  await assert.rejects(load({ config: fixtureConfig, weights: bad }), /"visual_projection\.weight" has shape \[48,24\] but config\.json implies \[24,48\]/);
  const bigger = { ...fixtureConfig, vision_config: { ...fixtureConfig.vision_config, num_hidden_layers: 3 } };
  await assert.rejects(load({ config: bigger, weights }), /vision_model\.encoder\.layers\.2\./);
  const before = tf.memory().numTensors;
  await assert.rejects(load({ config: fixtureConfig, weights: bad }));
  assert.equal(tf.memory().numTensors, before, 'a failed load leaked variables');
  await assert.rejects(load('/nonexistent/model'), /cannot read CLIP config \/nonexistent\/model\/config\.json/);
});

test('weights are frozen variables by default, trainable on request; fingerprint tracks weights + config', async () => {
  await initBackend('cpu');
  const a = await load(FIXTURE_DIR);
  const b = await load(FIXTURE_DIR, { trainable: true });
  try {
    assert.equal(a.variables.size, 78);
    assert.equal(a.trainableVariables().length, 0);
    assert.equal(b.trainableVariables().length, 78);
    assert.match(a.fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.equal(a.id, 'fixture-tiny');
    assert.equal(await a.refreshFingerprint(), b.fingerprint, 'fingerprint from variables = fingerprint from file');
    b.v<tf.Variable>('logit_scale').assign(tf.scalar(3.3));
    assert.notEqual(await b.refreshFingerprint(), a.fingerprint);
    assert.throws(() => a.textForward({ ids: Int32Array.from([49406, 49408, 49407]), n: 1, contextLength: 3 }), /token id 49408 at row 0, position 1 is outside the vocabulary/);
    a.setTrainable(true, (n) => n.startsWith('text_projection'));
    assert.equal(a.trainableVariables().length, 1);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('save → load round trip (F32 exact, F16 close); random weights follow the config', async () => {
  await initBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'clip-'));
  const m = await load(FIXTURE_DIR);
  try {
    await m.save(join(dir, 'f32'));
    const back = await load(join(dir, 'f32'));
    assert.equal(back.fingerprint, m.fingerprint);
    back.dispose();
    await m.save(join(dir, 'f16'), { dtype: 'F16' });
    const half = await load(join(dir, 'f16'));
    const ids = { ids: Int32Array.from([49406, 320, 1125, 539, 320, 2368, 49407]), n: 1, contextLength: 7 };
    const [x, y] = [await m.encodeText(ids).data(), await half.encodeText(ids).data()];
    let d = 0;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
    assert.ok(d > 0 && d < 0.05, `fp16 round trip moved embeds by ${d}`);
    half.dispose();

    const cfg = parseCLIPConfig({ ...fixtureConfig, vision_config: { ...fixtureConfig.vision_config, hidden_act: 'gelu' } });
    const w = randomCLIPWeights(cfg, 3);
    assert.deepEqual(Object.keys(w).sort(), clipWeightSpecs(cfg).map((s) => s.name).sort());
    assert.deepEqual(randomCLIPWeights(cfg, 3)['text_projection.weight'].data, w['text_projection.weight'].data);
    const r = await load({ config: cfg, weights: w });
    const out = r.encodeImage(tf.zeros([2, 3, 32, 32]) as tf.Tensor4D, { normalize: true });
    assert.deepEqual(out.shape, [2, 24]);
    assert.ok([...(await out.data())].every(Number.isFinite));
    r.dispose();
  } finally {
    m.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('verifyModel: passes on the fixture checkpoint, fails (naming outputs) on a perturbed one', async () => {
  const good = await verifyModel({ modelDir: FIXTURE_DIR, fixturePath: FIXTURE_JSON, backend: 'cpu' });
  assert.ok(good.ok);
  assert.equal(good.backend, 'cpu');
  assert.ok(good.rows.length >= 13);
  const dir = await mkdtemp(join(tmpdir(), 'clip-bad-'));
  try {
    const st = await readSafetensors(join(FIXTURE_DIR, 'model.safetensors'));
    const out: Record<string, TensorToWrite> = {};
    for (const n of st.names()) out[n] = st.get(n) as TensorToWrite;
    const b = Float32Array.from(out['vision_model.post_layernorm.bias'].data as Float32Array);
    b[0] += 0.01; // a small change in one vision weight: text outputs stay, vision outputs fail
    out['vision_model.post_layernorm.bias'] = { shape: [48], data: b };
    await writeSafetensors(join(dir, 'model.safetensors'), out);
    await copyFile(join(FIXTURE_DIR, 'config.json'), join(dir, 'config.json'));
    const bad = await verifyModel({ modelDir: dir, fixturePath: FIXTURE_JSON, backend: 'cpu' });
    assert.equal(bad.ok, false);
    const failed = bad.rows.filter((r) => !r.ok).map((r) => r.output);
    assert.ok(failed.includes('vision_pooler_output') && failed.includes('logits_per_image'));
    assert.ok(!failed.includes('text_embeds'));
    await writeFile(join(dir, 'fx.json'), '{"nothing": 1}');
    await assert.rejects(verifyModel({ modelDir: dir, fixturePath: join(dir, 'fx.json'), backend: 'cpu' }), /no "expected" outputs/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('trainable model (mini-CLIP pretraining path): every weight gets a finite gradient on wasm and a contrastive loss falls', async () => {
  await initBackend('wasm');
  const m = await load(FIXTURE_DIR, { trainable: true });
  const pv = fixture().preprocess.pixel_values;
  const px = tf.tensor4d(Float32Array.from(pv.data), pv.shape);
  const batch = defaultTokenizer().tokenize(['a cat', 'a dog', 'a car', 'a digit']);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
  const opt = tf.train.adam(1e-3);
  const losses: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
        const logits = m.logitsPerImage(m.encodeImage(px), m.encodeText(batch));
        return tf.losses.softmaxCrossEntropy(labels, logits).add(tf.losses.softmaxCrossEntropy(labels, logits.transpose())).div(2) as tf.Scalar;
      }));
      assert.equal(Object.keys(grads).length, 78);
      for (const [name, g] of Object.entries(grads)) assert.ok((await g.data()).every(Number.isFinite), `gradient of ${name}`);
      losses.push((await value.data())[0]);
      opt.applyGradients(grads as tf.NamedTensorMap as Parameters<typeof opt.applyGradients>[0]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    assert.ok(losses[2] < losses[0] * 0.5, `loss ${losses}`);
  } finally {
    tf.dispose([px, labels]);
    opt.dispose();
    m.dispose();
  }
});
