// ops/chains.ts: L2 normalisation, softmax cross-entropy, attention's masked softmax and the visual prompts'
// insertion as single tape nodes over the backend's own
// kernels must give tfjs's autograd of plain.ts's formulation byte for byte — values and gradients —,
// through fewer engine ops, without leaking tensors or wasm buffers, and fall back to plain.ts where they
// do not apply.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend } from '../../cells/model/backend.ts';
import { nativeKernelsInUse } from '../../cells/model/native/kernels.ts';
import { chainTuning } from '../../cells/model/ops/chains.ts';
import * as ops from '../../cells/model/ops/index.ts';
import { lcgValues } from '../support/lcg-values.ts';

before(async () => {
  await initBackend('wasm');
});

after(() => {
  chainTuning.on = true;
});

const bytes = (t: tf.Tensor) => new Uint8Array(t.dataSync().buffer.slice(0));

/**
 * A head as the prompt learners run it (normalise image and text features, cosine logits, cross-entropy):
 * the loss and the gradients of both trainable inputs, as bytes, and the engine ops it took.
 */
async function head(chains: boolean, image: tf.Variable, text: tf.Variable, labels: tf.Tensor1D): Promise<{ out: Uint8Array[]; ops: number }> {
  chainTuning.on = chains;
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = ops.l2Normalize(image).matMul(ops.l2Normalize(text).transpose()).mul(14.3) as tf.Tensor2D;
      return ops.softmaxCrossEntropy(logits, labels);
    }, [image, text]);
    return [value, grads[image.name], grads[text.name]];
  });
  const outs = profile.result as tf.Tensor[];
  const out = outs.map(bytes);
  tf.dispose(outs);
  return { out, ops: profile.kernels.length };
}

test('the chained head gives plain autograd\'s loss and gradients byte for byte, in fewer engine ops', async () => {
  assert.ok(nativeKernelsInUse(), 'this test needs the native kernels (node cells/model/native/build.mjs)');
  for (const [b, classes, d, seed] of [[8, 10, 128, 1], [5, 3, 7, 2], [1, 2, 16, 3]]) {
    const values = lcgValues(b * d, seed).map((v, i) => (i < d ? 0 : v * 4)); // row 0 all zeros: the 1e-12 floor
    const image = tf.variable(tf.tensor2d(values, [b, d]), true);
    const text = tf.variable(tf.tensor2d(lcgValues(classes * d, seed + 10), [classes, d]), true);
    const labels = tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 7) % classes), 'int32');
    const plain = await head(false, image, text, labels);
    const chained = await head(true, image, text, labels);
    assert.equal(chained.out.length, 3);
    chained.out.forEach((x, i) => assert.deepEqual(x, plain.out[i], `[${b}×${d}, ${classes} classes]: ${['loss', 'image gradient', 'text gradient'][i]} differs`));
    assert.ok(chained.ops < plain.ops - 40, `${chained.ops} engine ops chained, ${plain.ops} plain`);
    tf.dispose([image, text, labels]);
  }
});

test('attention\'s chained softmax (causal mask or none) gives tfjs\'s values and gradients byte for byte', async () => {
  const b = 2, t = 5, d = 8, heads = 2;
  let seed = 40;
  const w2 = () => tf.tensor2d(lcgValues(d * d, seed++), [d, d]), w1 = () => tf.tensor1d(lcgValues(d, seed++));
  const w: ops.AttentionWeights = { qKernel: w2(), qBias: w1(), kKernel: w2(), kBias: w1(), vKernel: w2(), vBias: w1(), oKernel: w2(), oBias: w1() };
  const x = tf.variable(tf.tensor3d(lcgValues(b * t * d, seed++).map((v) => v * 3), [b, t, d]), true);
  for (const mask of ['causal', undefined] as const) {
    const run = async (on: boolean) => {
      chainTuning.on = on;
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => ops.multiHeadAttention(x, w, heads, mask).square().sum() as tf.Scalar, [x]);
        return [value, grads[x.name]];
      });
      const outs = profile.result as tf.Tensor[];
      const out = outs.map(bytes);
      tf.dispose(outs);
      return { out, ops: profile.kernels.length };
    };
    const plain = await run(false), chained = await run(true);
    chained.out.forEach((o, i) => assert.deepEqual(o, plain.out[i], `mask ${mask}: ${i ? 'gradient' : 'value'} differs`));
    assert.ok(chained.ops <= plain.ops - (mask ? 5 : 4), `mask ${mask}: ${chained.ops} engine ops chained, ${plain.ops} plain`);
  }
  tf.dispose([x, ...Object.values(w)]);
});

test('visual prompts inserted after [CLS] as one node: tfjs\'s reshape, repeat, slices and concat byte for byte', async () => {
  const b = 3, t = 6, d = 4, p = 2;
  const x = tf.variable(tf.tensor3d(lcgValues(b * t * d, 60), [b, t, d]), true);
  const prompts = tf.variable(tf.tensor2d(lcgValues(p * d, 61), [p, d]), true);
  const weights = tf.tensor3d(lcgValues(b * (t + p) * d, 62), [b, t + p, d]);
  // What clip.ts runs where the chain does not apply.
  const composed = (replace: number) => {
    const tiled = ops.repeatBatch(prompts.reshape([1, p, d]), b);
    return tf.concat([x.slice([0, 0, 0], [b, 1, d]), tiled, x.slice([0, 1 + replace, 0], [b, t - 1 - replace, d])], 1);
  };
  for (const replace of [0, p]) {
    const run = async (chained: boolean) => {
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => {
          const out = chained ? ops.insertPrompts(x, prompts, replace) : composed(replace);
          assert.ok(out, 'the chain should apply to [P, D] prompts on the native path');
          // Only rows that exist after the insertion are weighted: replace = p drops p rows.
          return out.mul(weights.slice([0, 0, 0], [b, t + p - replace, d])).sum() as tf.Scalar;
        }, [x, prompts]);
        return [value, grads[x.name], grads[prompts.name]];
      });
      const outs = profile.result as tf.Tensor[];
      const out = outs.map(bytes);
      tf.dispose(outs);
      return { out, ops: profile.kernels.length };
    };
    const plain = await run(false), chained = await run(true);
    chained.out.forEach((o, i) => assert.deepEqual(o, plain.out[i], `replace ${replace}: ${['value', 'x gradient', 'prompt gradient'][i]} differs`));
    assert.ok(chained.ops <= plain.ops - 8, `replace ${replace}: ${chained.ops} engine ops chained, ${plain.ops} plain`);
  }
  chainTuning.on = false;
  assert.equal(ops.insertPrompts(x, prompts, 0), null, 'switched off, the chain must leave the insertion to the caller');
  chainTuning.on = true;
  tf.dispose([x, prompts, weights]);
});

test('repeated chained steps leak no tensors and no wasm buffers', async () => {
  const image = tf.variable(tf.tensor2d(lcgValues(8 * 16, 5), [8, 16]), true);
  const text = tf.variable(tf.tensor2d(lcgValues(4 * 16, 6), [4, 16]), true);
  const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
  await head(true, image, text, labels);
  const tensors = tf.memory().numTensors, ids = tf.engine().backend.numDataIds();
  for (let i = 0; i < 3; i++) await head(true, image, text, labels);
  // Forward only (no tape): the chains' saved outputs must not outlive the call either.
  tf.dispose(tf.tidy(() => ops.softmaxCrossEntropy(ops.l2Normalize(image) as tf.Tensor2D, labels)));
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), ids, 'wasm buffers leaked');
  tf.dispose([image, text, labels]);
});

test('other shapes and label forms take plain.ts\'s formulation: the same values', () => {
  const x3 = tf.tensor3d(lcgValues(2 * 3 * 4, 7), [2, 3, 4]);
  chainTuning.on = false;
  const want3 = bytes(ops.l2Normalize(x3));
  const logits = tf.tensor2d(lcgValues(6, 8), [2, 3]);
  const soft = tf.tensor2d([0.2, 0.8, 0, 0, 0.5, 0.5], [2, 3]);
  const wantSoft = bytes(ops.softmaxCrossEntropy(logits, soft));
  chainTuning.on = true;
  assert.deepEqual(bytes(ops.l2Normalize(x3)), want3);
  assert.deepEqual(bytes(ops.softmaxCrossEntropy(logits, soft)), wantSoft);
  // Mean over rows of −log softmax at the label, in float64: the chain computes cross-entropy.
  const l = lcgValues(6, 8), labels = [2, 0];
  let want = 0;
  for (let r = 0; r < 2; r++) {
    const row = Array.from(l.subarray(r * 3, r * 3 + 3));
    want -= row[labels[r]] - Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  }
  const got = ops.softmaxCrossEntropy(logits, tf.tensor1d(labels, 'int32')).dataSync()[0];
  assert.ok(Math.abs(got - want / 2) < 1e-6, `cross-entropy ${got}, float64 ${want / 2}`);
  tf.dispose([x3, logits, soft]);
});
