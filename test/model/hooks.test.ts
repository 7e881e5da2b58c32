// Prompt-learning hooks on the tiny fixture: CoOp context splicing (end/middle/front, unified and
// class-specific), VPT shallow/deep prompts, gradients to prompts with frozen encoders (finite differences),
// and tf.memory() flat over many training steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { loadCLIP } from '../../cells/model/clip.ts';
import type { CLIPModel } from '../../cells/model/clip.ts';
import { CoOpPromptBuilder, contextFromText } from '../../cells/model/prompting.ts';
import { FIXTURE_DIR, fixture } from './fixture.ts';

const CLASSES = ['cat', 'golden retriever', 'st. bernard', 'airplane'];

function pixels(n: number): tf.Tensor4D {
  const pv = fixture().preprocess.pixel_values;
  return tf.tensor4d(Float32Array.from(pv.data), pv.shape).slice([0, 0, 0, 0], [n, 3, 32, 32]);
}

/** Seeded uniform numbers in [-1, 1), so the test is repeatable. */
function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

async function withModel(backend: 'cpu' | 'wasm', fn: (m: CLIPModel) => Promise<void>): Promise<void> {
  await initBackend(backend);
  const m = await loadCLIP(FIXTURE_DIR);
  try {
    await fn(m);
  } finally {
    m.dispose();
  }
}

test('CoOp with context = embeddings of "a photo of a" reproduces the plain text encoder (end/middle/front)', async () => {
  await withModel('cpu', async (m) => {
    const ctx = contextFromText(m, 'a photo of a');
    assert.deepEqual(ctx.shape, [4, 32]);
    const cases = {
      end: CLASSES.map((c) => `a photo of a ${c}.`),
      middle: CLASSES.map((c) => `a photo ${c} of a.`),
      front: CLASSES.map((c) => `${c} a photo of a.`),
    } as const;
    for (const [position, texts] of Object.entries(cases)) {
      const b = new CoOpPromptBuilder(m, CLASSES, { nCtx: 4, position: position as 'end' | 'middle' | 'front' });
      const inp = b.build(ctx);
      const got = m.textForward(inp).embeds;
      const want = m.encodeText([...texts]);
      const d = maxAbsDiff(await got.data(), await want.data());
      assert.ok(d < 1e-5, `${position}: CoOp embeds differ from encodeText by ${d}`);
      tf.dispose([inp.embeds, got, want]);
      b.dispose();
    }
    // class-specific context equal to the unified one gives the same result
    const b = new CoOpPromptBuilder(m, CLASSES, { nCtx: 4 });
    const specific = ctx.reshape([1, 4, 32]).tile([CLASSES.length, 1, 1]);
    const [u, s] = [b.build(ctx), b.build(specific)];
    const du = maxAbsDiff(await m.textForward(u).embeds.data(), await m.textForward(s).embeds.data());
    assert.ok(du < 1e-6);
    assert.throws(() => b.build(tf.zeros([3, 32])), /expected \[4, 32\]/);
    assert.throws(() => new CoOpPromptBuilder(m, ['cat'], { nCtx: 80 }), /needs .* tokens/);
    tf.dispose([ctx, specific, u.embeds, s.embeds]);
    b.dispose();
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

/**
 * Directional finite-difference check: for 3 random unit directions u, (f(p+hu) − f(p−hu)) / 2h ≈ ⟨∇f(p), u⟩.
 * float32: step h = 1e-2 balances truncation error O(h²) against rounding: f ≈ 1.4 is resolved to ~1e-7
 * (a few ulps once kernels sum in different orders), so the difference quotient carries ~1e-5 of noise.
 * Tolerance: |fd − ⟨∇f,u⟩| ≤ 1e-2·|⟨∇f,u⟩| + 1e-4. A missing or wrong gradient path is an O(1) relative
 * error on derivatives of size 0.03–0.9 seen here, far outside it. Returns the worst excess ratio (< 1 passes).
 */
async function fdCheck(f: (p: tf.Tensor) => tf.Scalar, p0: tf.Tensor, seed: number): Promise<{ worst: number }> {
  const grad = tf.grad(f)(p0);
  const g = await grad.data();
  const gNorm = Math.sqrt(Array.from(g).reduce((a, b) => a + b * b, 0));
  assert.ok(gNorm > 1e-4 && Number.isFinite(gNorm), `gradient norm ${gNorm}`);
  const h = 1e-2;
  let worst = 0;
  for (let k = 0; k < 3; k++) {
    const u0 = seeded(p0.size, seed + k);
    const un = Math.sqrt(u0.reduce((a, b) => a + b * b, 0));
    const u = tf.tensor(u0.map((x) => x / un), p0.shape);
    const fp = (await tf.tidy(() => f(p0.add(u.mul(h)))).data())[0];
    const fm = (await tf.tidy(() => f(p0.sub(u.mul(h)))).data())[0];
    const fd = (fp - fm) / (2 * h);
    const an = (await tf.tidy(() => grad.mul(u).sum()).data())[0];
    const rel = Math.abs(fd - an) / (1e-2 * Math.abs(an) + 1e-4);
    worst = Math.max(worst, rel);
    u.dispose();
  }
  grad.dispose();
  return { worst };
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`gradients reach CoOp context and VPT prompts with frozen encoders (finite differences, ${backend})`, async () => {
    await withModel(backend, async (m) => {
      const imgFeat = tf.tidy(() => m.encodeImage(pixels(4), { normalize: true }));
      const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
      // CoOp loss: cross-entropy of logit_scale·cos(image, text_c); unified and class-specific context
      for (const [position, shape] of [['end', [4, 32]], ['middle', [4, 32]], ['front', [CLASSES.length, 4, 32]]] as const) {
        const builder = new CoOpPromptBuilder(m, CLASSES, { nCtx: 4, position });
        const loss = (ctx: tf.Tensor) => tf.tidy(() => {
          const inp = builder.build(ctx);
          const txt = m.textForward(inp).embeds;
          const logits = m.logitsPerImage(imgFeat, txt);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES.length), logits) as tf.Scalar;
        });
        const ctx0 = tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), 11), [...shape]).mul(0.5);
        const { worst } = await fdCheck(loss, ctx0, 100);
        assert.ok(worst < 1, `CoOp ${position} on ${backend}: FD mismatch ${worst}`);
        ctx0.dispose();
        builder.dispose();
      }
      // VPT shallow and deep: loss on image features against fixed text features
      const txt = tf.tidy(() => m.encodeText(CLASSES.map((c) => `a photo of a ${c}.`)));
      const px = pixels(4);
      for (const deep of [false, true]) {
        const loss = (p: tf.Tensor) => tf.tidy(() => {
          const prompts = deep
            ? { shallow: p.slice([0, 0, 0], [1, 2, 48]).reshape([2, 48]), deep: [p.slice([1, 0, 0], [1, 2, 48]).reshape([2, 48])] }
            : { shallow: p.reshape([2, 48]) };
          const logits = m.logitsPerImage(m.encodeImage(px, { prompts }), txt);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES.length), logits) as tf.Scalar;
        });
        const p0 = tf.tensor(seeded((deep ? 2 : 1) * 2 * 48, 21), deep ? [2, 2, 48] : [2, 48]);
        const { worst } = await fdCheck(loss, p0, 200);
        assert.ok(worst < 1, `VPT ${deep ? 'deep' : 'shallow'} on ${backend}: FD mismatch ${worst}`);
        p0.dispose();
      }
      // with the encoders frozen, variableGrads sees only the prompt variable
      const ctxVar = tf.variable(tf.zeros([4, 32]), true, `ctx-${backend}`);
      const builder = new CoOpPromptBuilder(m, CLASSES, { nCtx: 4 });
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
        const t = m.textForward(builder.build(ctxVar)).embeds;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 4), m.logitsPerImage(imgFeat, t)) as tf.Scalar;
      }));
      assert.deepEqual(Object.keys(grads), [ctxVar.name]);
      tf.dispose([value, ...Object.values(grads), ctxVar, imgFeat, labels, txt, px]);
      builder.dispose();
    });
  });
}

test('tf.memory() stays flat over 200 CoOp + VPT training steps (wasm)', async () => {
  // 200 steps rather than 1000 keeps this file well under the suite's time budget (each step runs both
  // towers forward and backward); a leak of even one tensor per step would show as +200 here.
  await withModel('wasm', async (m) => {
    const px = pixels(4);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const ctx = tf.variable(tf.randomNormal([4, 32], 0, 0.02, 'float32', 1), true, 'mem-ctx');
    const vp = tf.variable(tf.randomNormal([2, 48], 0, 0.02, 'float32', 2), true, 'mem-vpt');
    const builder = new CoOpPromptBuilder(m, CLASSES, { nCtx: 4 });
    const opt = tf.train.sgd(0.01);
    const step = () => {
      const cost = opt.minimize(() => tf.tidy(() => {
        const t = m.textForward(builder.build(ctx)).embeds;
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
    builder.dispose();
  });
});
