// Gradient checks of the prompt-learning hooks on one backend (one test file per backend calls it):
// CoOp context (end/middle/front, unified and class-specific) and VPT prompts (shallow, deep) receive
// gradients through the frozen towers that agree with finite differences, and only they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, load, backboneOf, type CLIPModel } from '../../cells/model/index.ts';
import { frozenPromptParts, assemblePrompts } from '../../cells/prompts/text-prompt.ts';
import { FIXTURE_DIR, fixture } from './fixture.ts';

export const CLASSES = ['cat', 'golden retriever', 'st. bernard', 'airplane'];

export function pixels(n: number): tf.Tensor4D {
  const pv = fixture().preprocess.pixel_values;
  return tf.tidy(() => tf.tensor4d(Float32Array.from(pv.data), pv.shape).slice([0, 0, 0, 0], [n, 3, 32, 32]));
}

/** Seeded uniform numbers in [-1, 1), so the test is repeatable. */
export function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export async function withModel(backend: 'cpu' | 'wasm' | 'webgpu', fn: (m: CLIPModel) => Promise<void>): Promise<void> {
  await initBackend(backend);
  const m = await load(FIXTURE_DIR);
  try {
    await fn(m);
  } finally {
    m.dispose();
  }
}

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

export function gradientSuite(backend: 'cpu' | 'wasm' | 'webgpu'): void {
  test(`gradients reach CoOp context and VPT prompts with frozen encoders (finite differences, ${backend})`, async () => {
    await withModel(backend, async (m) => {
      const imgFeat = tf.tidy(() => m.encodeImage(pixels(4), { normalize: true }));
      const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
      // CoOp loss: cross-entropy of logit_scale·cos(image, text_c); unified and class-specific context
      for (const [position, shape] of [['end', [4, 32]], ['middle', [4, 32]], ['front', [CLASSES.length, 4, 32]]] as const) {
        const parts = frozenPromptParts(await backboneOf(m), CLASSES, 4);
        const loss = (ctx: tf.Tensor) => tf.tidy(() => {
          const inp = { embeds: assemblePrompts(parts, ctx, position), eotIndex: parts.eot };
          const txt = m.textForward(inp).embeds;
          const logits = m.logitsPerImage(imgFeat, txt);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES.length), logits) as tf.Scalar;
        });
        const ctx0 = tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), 11), [...shape]).mul(0.5);
        const { worst } = await fdCheck(loss, ctx0, 100);
        assert.ok(worst < 1, `CoOp ${position} on ${backend}: FD mismatch ${worst}`);
        ctx0.dispose();
        parts.dispose();
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
      const parts = frozenPromptParts(await backboneOf(m), CLASSES, 4);
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
        const t = m.textForward({ embeds: assemblePrompts(parts, ctxVar, 'end'), eotIndex: parts.eot }).embeds;
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 4), m.logitsPerImage(imgFeat, t)) as tf.Scalar;
      }));
      assert.deepEqual(Object.keys(grads), [ctxVar.name]);
      tf.dispose([value, ...Object.values(grads), ctxVar, imgFeat, labels, txt, px]);
      parts.dispose();
    });
  });
}

