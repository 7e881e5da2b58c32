// Prompt-learning hooks on the tiny fixture: CoOp context splicing (end/middle/front, unified and
// class-specific, through cells/prompts/text-prompt.ts as the CoOp trainer builds it), VPT shallow/deep prompts, gradients to prompts with frozen encoders (finite differences,
// gradient-suite.ts), and tf.memory() flat over many training steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backboneOf, defaultTokenizer, type PromptBackbone } from '../../cells/model/index.ts';
import { frozenPromptParts, assemblePrompts, wordEmbeddings } from '../../cells/prompts/text-prompt.ts';
import { CLASSES, pixels, seeded, maxAbsDiff, withModel, gradientSuite } from './gradient-suite.ts';

test('CoOp with context = embeddings of "a photo of a" reproduces the plain text encoder (end/middle/front)', async () => {
  await withModel('cpu', async (m) => {
    const ctx = wordEmbeddings(await backboneOf(m), 'a photo of a');
    assert.deepEqual(ctx.shape, [4, 32]);
    const cases = {
      end: CLASSES.map((c) => `a photo of a ${c}.`),
      middle: CLASSES.map((c) => `a photo ${c} of a.`),
      front: CLASSES.map((c) => `${c} a photo of a.`),
    } as const;
    for (const [position, texts] of Object.entries(cases)) {
      const parts = frozenPromptParts(await backboneOf(m), CLASSES, 4);
      const inp = { embeds: assemblePrompts(parts, ctx, position as 'end' | 'middle' | 'front'), eotIndex: parts.eot };
      const got = m.textForward(inp).embeds;
      const want = m.encodeText([...texts]);
      const d = maxAbsDiff(await got.data(), await want.data());
      assert.ok(d < 1e-5, `${position}: CoOp embeds differ from encodeText by ${d}`);
      tf.dispose([inp.embeds, got, want]);
      parts.dispose();
    }
    // class-specific context equal to the unified one gives the same result
    const parts = frozenPromptParts(await backboneOf(m), CLASSES, 4);
    const specific = ctx.reshape([1, 4, 32]).tile([CLASSES.length, 1, 1]);
    const [u, s] = [ctx, specific].map((c) => ({ embeds: assemblePrompts(parts, c, 'end'), eotIndex: parts.eot }));
    const du = maxAbsDiff(await m.textForward(u).embeds.data(), await m.textForward(s).embeds.data());
    assert.ok(du < 1e-6);
    tf.dispose([ctx, specific, u.embeds, s.embeds]);
    parts.dispose();
  });
});

test('VPT: shallow prompts add tokens after CLS; deep replaces them; zero-length shallow = no prompts', async () => {
  await withModel('cpu', async (m) => {
    const px = pixels(2);
    const base = m.visionForward(px, { hidden: true });
    const p = tf.tensor2d(seeded(3 * 48, 7), [3, 48]);
    const sh = m.visionForward(px, { hidden: true, prompts: { shallow: p } });
    assert.deepEqual(sh.lastHidden!.shape, [2, 17 + 3, 48]);
    const none = m.visionForward(px, { prompts: { shallow: tf.zeros([0, 48]) } });
    assert.ok(maxAbsDiff(await none.embeds.data(), await base.embeds.data()) < 1e-6);
    assert.ok(maxAbsDiff(await sh.embeds.data(), await base.embeds.data()) > 1e-3, 'prompts changed nothing');
    const deep = [tf.tensor2d(seeded(3 * 48, 8), [3, 48])];
    const dp = m.visionForward(px, { prompts: { shallow: p, deep } });
    assert.ok(maxAbsDiff(await dp.embeds.data(), await sh.embeds.data()) > 1e-3, 'deep prompts changed nothing');
    assert.throws(() => m.visionForward(px, { prompts: { shallow: p, deep: [deep[0], deep[0]] } }), /deep prompt sets/);
    assert.throws(() => m.visionForward(px, { prompts: { shallow: p, deep: [tf.zeros([2, 48])] } }), /2 tokens, shallow has 3/);
  });
});

gradientSuite('cpu');
gradientSuite('wasm');

test('tf.memory() stays flat over 200 CoOp + VPT training steps (wasm)', async () => {
  // 200 steps rather than 1000 keeps this file well under the suite's time budget (each step runs both
  // towers forward and backward); a leak of even one tensor per step would show as +200 here.
  await withModel('wasm', async (m) => {
    const px = pixels(4);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const ctx = tf.variable(tf.randomNormal([4, 32], 0, 0.02, 'float32', 1), true, 'mem-ctx');
    const vp = tf.variable(tf.randomNormal([2, 48], 0, 0.02, 'float32', 2), true, 'mem-vpt');
    const parts = frozenPromptParts(await backboneOf(m), CLASSES, 4);
    const opt = tf.train.sgd(0.01);
    const step = () => {
      const cost = opt.minimize(() => tf.tidy(() => {
        const t = m.textForward({ embeds: assemblePrompts(parts, ctx, 'end'), eotIndex: parts.eot }).embeds;
        const i = m.encodeImage(px, { prompts: { shallow: vp } });
        return tf.losses.softmaxCrossEntropy(labels, m.logitsPerImage(i, t)) as tf.Scalar;
      }), true, [ctx, vp]);
      cost?.dispose();
    };
    for (let i = 0; i < 5; i++) step(); // warm up: optimizer state and kernel caches are created once
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) step();
    const after = tf.memory().numTensors;
    assert.equal(after, before, `tensors grew from ${before} to ${after} over 200 steps`);
    const moved = await tf.tidy(() => ctx.abs().sum()).data();
    assert.ok(moved[0] > 0);
    tf.dispose([px, labels, ctx, vp]);
    opt.dispose();
    parts.dispose();
  });
});

test('backboneOf: the prompt layer\'s frozen-backbone view of CLIPModel matches encodeText/encodeImage', async () => {
  await withModel('cpu', async (m) => {
    const b: PromptBackbone = await backboneOf(m);
    assert.ok(Math.abs(b.logitScale - Math.exp(3.2)) < 1e-4);
    const batch = defaultTokenizer().tokenize(['a photo of a cat.', 'a dog']);
    const t = Math.max(...batch.eotIndex) + 1;
    const ids = new Int32Array(2 * t);
    for (let r = 0; r < 2; r++) ids.set(batch.ids.subarray(r * 77, r * 77 + t), r * t);
    const emb = b.tokenEmbeddings(ids, 2, t);
    const got = b.encodeTextEmbeddings(emb, batch.eotIndex);
    const want = m.encodeText(batch);
    assert.ok(maxAbsDiff(await got.data(), await want.data()) < 1e-6);
    const px = pixels(2);
    const p = tf.tensor2d(seeded(2 * 48, 3), [2, 48]);
    const gi = b.encodeImage(px, { shallow: p });
    const wi = m.encodeImage(px, { prompts: { shallow: p } });
    assert.ok(maxAbsDiff(await gi.data(), await wi.data()) < 1e-6);
    assert.deepEqual(b.calls, { text: 1, image: 1 });
    assert.equal(b.weights().size, 78);
    tf.dispose([emb, got, want, px, p, gi, wi]);
  });
});
