// Shared body of the per-backend parity tests: every fast op against the plain autograd formulation,
// forward and gradients, plus a memory-leak check over repeated training steps. Each backend runs in
// its own test file (= own process), because a tfjs backend is process-global.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fast from '../../cells/model/ops/index.ts';
import { tuning } from '../../cells/model/ops/fast.ts';
import * as plain from '../../cells/model/ops/plain.ts';
import { initBackend, type BackendName } from '../../cells/model/backend.ts';

const TOL = 1e-4;

/** ‖a−b‖ / ‖b‖ over all elements. Read with data(): webgpu lacks dataSync in Node. */
async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  assert.deepEqual(a.shape, b.shape, 'shapes differ');
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - y[i]) ** 2;
    den += y[i] ** 2;
  }
  assert.ok(Number.isFinite(num), 'non-finite values');
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

let seed = 1;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

/**
 * Compares f_fast and f_plain on the same float inputs: the outputs, and the gradients of
 * Σ out·R (R random) with respect to every input.
 */
async function compare(
  name: string, inputs: tf.Tensor[],
  fFast: (...xs: tf.Tensor[]) => tf.Tensor, fPlain: (...xs: tf.Tensor[]) => tf.Tensor,
  zeroGradients: number[] = [],
): Promise<void> {
  const yFast = fFast(...inputs);
  const yPlain = fPlain(...inputs);
  const e = await relErr(yFast, yPlain);
  assert.ok(e < TOL, `${name}: forward relative error ${e}`);
  const dy = randn(yPlain.shape);
  const gFast = tf.grads((...xs: tf.Tensor[]) => fFast(...xs))(inputs, dy);
  const gPlain = tf.grads((...xs: tf.Tensor[]) => fPlain(...xs))(inputs, dy);
  for (let i = 0; i < inputs.length; i++) {
    if (zeroGradients.includes(i)) {
      // Mathematically zero (attention is invariant to the key bias): both must be float32 round-off.
      for (const g of [gFast[i], gPlain[i]]) {
        const rms = Math.sqrt((await g.square().mean().data())[0]);
        assert.ok(rms < 1e-5, `${name}: gradient ${i} should be ~0, rms ${rms}`);
      }
      continue;
    }
    const ge = await relErr(gFast[i], gPlain[i]);
    assert.ok(ge < TOL, `${name}: gradient ${i} relative error ${ge}`);
  }
  tf.dispose([yFast, yPlain, dy, ...gFast, ...gPlain]);
}

function attentionWeights(d: number): tf.Tensor[] {
  const s = d ** -0.5;
  return [randn([d, d], s), randn([d], 0.1), randn([d, d], s), randn([d], 0.1),
    randn([d, d], s), randn([d], 0.1), randn([d, d], s), randn([d], 0.1)];
}
function asWeights(t: tf.Tensor[]): fast.AttentionWeights {
  const [qKernel, qBias, kKernel, kBias, vKernel, vBias, oKernel, oBias] = t as (tf.Tensor2D & tf.Tensor1D)[];
  return { qKernel, qBias, kKernel, kBias, vKernel, vBias, oKernel, oBias };
}

export function paritySuite(backend: BackendName): void {
  test(`${backend}: backend starts`, async () => {
    assert.equal(await initBackend(backend), backend);
  });

  test(`${backend}: linear (with and without bias, 3-D input)`, async () => {
    const x = randn([3, 5, 16]), w = randn([16, 24], 0.25), b = randn([24]);
    await compare('linear+bias', [x, w, b], (x, w, b) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
      (x, w, b) => plain.linear(x, w as tf.Tensor2D, b as tf.Tensor1D));
    await compare('linear', [x, w], (x, w) => fast.linear(x, w as tf.Tensor2D), (x, w) => plain.linear(x, w as tf.Tensor2D));
    tuning.weightGradViaDyT = !tuning.weightGradViaDyT; // the other weight-gradient formulation
    try {
      await compare('linear (other dW)', [x, w], (x, w) => fast.linear(x, w as tf.Tensor2D), (x, w) => plain.linear(x, w as tf.Tensor2D));
    } finally {
      tuning.weightGradViaDyT = !tuning.weightGradViaDyT;
    }
  });

  test(`${backend}: gradients of frozen weights are never computed`, async () => {
    // Prompt tuning backpropagates through frozen towers: only dx is needed, not dW.
    const x = randn([4, 16]), w = randn([16, 8]), b = randn([8]);
    // Matrix products: tfjs's BatchMatMul, or the native Affine (product + bias) where it is installed.
    const products = new Set(['BatchMatMul', 'PromptscopeAffine']);
    const count = async (f: () => void) => (await tf.profile(f)).kernels.filter((k) => products.has(k.name)).length;
    const onlyX = await count(() => { tf.dispose(tf.grads((x: tf.Tensor) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D).sum())([x])); });
    const all = await count(() => { tf.dispose(tf.grads((x: tf.Tensor, w: tf.Tensor) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D).sum())([x, w])); });
    assert.equal(onlyX, 2, 'forward + dx only');
    assert.equal(all, 3, 'forward + dx + dW');
  });

  test(`${backend}: layerNorm, gelu, quickGelu`, async () => {
    const x = randn([4, 7, 32], 2).add(0.5), g = randn([32], 0.2).add(1), b = randn([32], 0.1);
    await compare('layerNorm', [x, g, b], (x, g, b) => fast.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
      (x, g, b) => plain.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5));
    await compare('gelu', [x], (x) => fast.gelu(x), (x) => plain.gelu(x));
    await compare('quickGelu', [x], (x) => fast.quickGelu(x), (x) => plain.quickGelu(x));
    await compare('activation(relu)', [x], (x) => fast.activation('relu')(x), (x) => tf.relu(x));
  });

  test(`${backend}: multiHeadAttention (no mask, causal, padding mask, full mask)`, async () => {
    const [b, t, d, h] = [3, 9, 32, 4];
    const x = randn([b, t, d]);
    const ws = attentionWeights(d);
    const run = (impl: typeof fast.multiHeadAttention, mask?: fast.AttentionMask) =>
      (x: tf.Tensor, ...w: tf.Tensor[]) => impl(x, asWeights(w), h, mask);
    await compare('mha', [x, ...ws], run(fast.multiHeadAttention), run(plain.multiHeadAttention), [4]);
    await compare('mha causal', [x, ...ws], run(fast.multiHeadAttention, 'causal'), run(plain.multiHeadAttention, 'causal'), [4]);
    // HF's padding mask: [B,1,1,T], 0 for tokens and a large negative for padding.
    const pad = tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1e9, -1e9, -1e9, -1e9, 0, 0, 0, 0, 0, 0, 0, -1e9, -1e9], [b, 1, 1, t]);
    await compare('mha padding', [x, ...ws], run(fast.multiHeadAttention, pad), run(plain.multiHeadAttention, pad), [4]);
    const full = randn([b, 1, t, t]);
    await compare('mha full mask', [x, ...ws], run(fast.multiHeadAttention, full), run(plain.multiHeadAttention, full), [4]);
    const twoD = randn([t, t]);
    await compare('mha 2-D mask', [x, ...ws], run(fast.multiHeadAttention, twoD), run(plain.multiHeadAttention, twoD), [4]);
    tuning.fusedQkv = !tuning.fusedQkv; // the other projection layout
    try {
      await compare('mha (other qkv layout)', [x, ...ws], run(fast.multiHeadAttention, 'causal'), run(plain.multiHeadAttention, 'causal'), [4]);
    } finally {
      tuning.fusedQkv = !tuning.fusedQkv;
    }
  });

  test(`${backend}: patchEmbed matches the plain reshape and a strided conv2d`, async () => {
    const [b, c, hw, p, d] = [2, 3, 16, 4, 8];
    const px = randn([b, c, hw, hw]), k = randn([c * p * p, d], 0.2);
    await compare('patchEmbed', [px, k], (px, k) => fast.patchEmbed(px, k as tf.Tensor2D, p),
      (px, k) => plain.patchEmbed(px, k as tf.Tensor2D, p));
    // Independent check of the layout: HF's conv (OIHW weight → kernel rows in (c, py, px) order).
    const hwio = k.reshape([c, p, p, d]).transpose([1, 2, 0, 3]) as tf.Tensor4D;
    const conv = tf.conv2d(px.transpose([0, 2, 3, 1]) as tf.Tensor4D, hwio, p, 'valid').reshape([b, (hw / p) ** 2, d]);
    const e = await relErr(fast.patchEmbed(px, k as tf.Tensor2D, p), conv);
    assert.ok(e < TOL, `patchEmbed vs conv2d: ${e}`);
  });

  test(`${backend}: repeatBatch (prompts shared by a batch) matches tile, forward and gradient`, async () => {
    await compare('repeatBatch', [randn([1, 4, 8])], (x) => fast.repeatBatch(x, 5), (x) => plain.repeatBatch(x, 5));
    await compare('repeatBatch 2-D', [randn([1, 8])], (x) => fast.repeatBatch(x, 3), (x) => plain.repeatBatch(x, 3));
    assert.throws(() => fast.repeatBatch(randn([2, 8]), 3), /axis 0 must have size 1/);
  });

  test(`${backend}: embeddings (frozen lookup, trainable with repeated ids)`, async () => {
    const table = randn([11, 6]);
    const ids = tf.tensor2d([[1, 3, 3, 10], [0, 1, 1, 1]], [2, 4], 'int32');
    const looked = fast.embeddingLookup(table as tf.Tensor2D, ids);
    assert.deepEqual(looked.shape, [2, 4, 6]);
    const rows = await tf.gather(table, tf.tensor1d([10], 'int32')).data();
    const got = (await looked.data()).slice(3 * 6, 4 * 6);
    assert.deepEqual(Array.from(got), Array.from(rows));
    await compare('embeddingTrainable', [table], (t) => fast.embeddingTrainable(t as tf.Tensor2D, ids),
      (t) => plain.embeddingTrainable(t as tf.Tensor2D, ids));
  });

  test(`${backend}: softmaxCrossEntropy and l2Normalize against hand computation`, async () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
    const labels = tf.tensor1d([2, 0], 'int32');
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const expected = ((lse([1, 2, 3]) - 3) + (lse([0, -1, 4]) - 0)) / 2;
    const got = (await fast.softmaxCrossEntropy(logits, labels).data())[0];
    assert.ok(Math.abs(got - expected) < 1e-5, `CE ${got} vs ${expected}`);
    const soft = tf.tensor2d([[0, 0, 1], [1, 0, 0]]);
    const gotSoft = (await fast.softmaxCrossEntropy(logits, soft).data())[0];
    assert.ok(Math.abs(gotSoft - expected) < 1e-5, `soft CE ${gotSoft} vs ${expected}`);
    const n = await fast.l2Normalize(tf.tensor2d([[3, 4], [0, 2]])).data();
    assert.deepEqual(Array.from(n).map((v) => Math.round(v * 1e6) / 1e6), [0.6, 0.8, 0, 1]);
  });

  test(`${backend}: a pre-LN block trains with flat tf.memory() over many steps`, async () => {
    const [b, t, d, h] = [2, 6, 16, 2];
    const vars = [...attentionWeights(d), randn([d], 0.1).add(1), randn([d], 0.1), randn([d, 4 * d], 0.2), randn([4 * d], 0.1),
      randn([4 * d, d], 0.1), randn([d], 0.1)].map((v) => tf.variable(v));
    const x = randn([b, t, d]);
    const labels = tf.tensor1d([0, 3], 'int32');
    const opt = tf.train.adam(1e-3);
    const step = () => opt.minimize(() => {
      const w = asWeights(vars.slice(0, 8));
      const [g, be, w1, b1, w2, b2] = vars.slice(8) as (tf.Tensor2D & tf.Tensor1D)[];
      let y = x.add(fast.multiHeadAttention(fast.layerNorm(x, g, be, 1e-5), w, h, 'causal'));
      y = y.add(fast.linear(fast.quickGelu(fast.linear(fast.layerNorm(y, g, be, 1e-5), w1, b1)), w2, b2));
      const logits = y.mean(1) as tf.Tensor2D;
      return fast.softmaxCrossEntropy(logits, labels);
    }, true);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) { const l = step()!; losses.push((await l.data())[0]); l.dispose(); }
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) { const l = step()!; losses.push((await l.data())[0]); l.dispose(); }
    assert.equal(tf.memory().numTensors, before, 'tensor count grew over 20 steps');
    assert.ok(losses.at(-1)! < losses[0], `loss did not decrease: ${losses[0]} → ${losses.at(-1)}`);
  });
}
