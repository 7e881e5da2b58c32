// The engine-overhead cuts of the native path (issue #22 item 3): saved tensors kept by reference without
// a kernel or tape node (native/kernels.ts `nativeTuning.saveByReference`), and linear layers, LayerNorm,
// attention projections and residual adds as single nodes over reference views (ops/fast.ts
// `tuning.nativeViews`). Each is a pure formulation change: a pre-LN transformer block's output and
// gradients must come out byte for byte as with both switched off, with fewer kernels, and without
// leaking tensors or wasm buffers. And the fused element-wise loops, now built for the widest vector unit
// the CPU has, still give the float32 arithmetic of their C source exactly.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initBackend } from '../../cells/model/backend.ts';
import { nativeKernelsInUse, nativeTuning } from '../../cells/model/native/kernels.ts';
import { tuning } from '../../cells/model/ops/fast.ts';
import * as ops from '../../cells/model/ops/index.ts';
import { lcgValues } from '../support/lcg-values.ts';

before(async () => {
  await initBackend('wasm');
});

after(() => {
  tuning.nativeViews = true;
  tuning.frozenCache = true;
  nativeTuning.saveByReference = true;
});

const b = 3, t = 7, d = 16, heads = 4, hidden = 32;
let seed = 900;
const v2 = (r: number, c: number, trainable = false) => tf.variable(tf.tensor2d(lcgValues(r * c, seed++), [r, c]), trainable);
const v1 = (c: number, trainable = false) => tf.variable(tf.tensor1d(lcgValues(c, seed++)), trainable);

// Frozen block weights and two trainable inputs (a prompt-like input and one bias), as in prompt tuning
// plus one trained weight, so both the activation and the weight gradient paths run.
const w: ops.AttentionWeights = {
  qKernel: v2(d, d), qBias: v1(d), kKernel: v2(d, d), kBias: v1(d),
  vKernel: v2(d, d), vBias: v1(d), oKernel: v2(d, d), oBias: v1(d, true),
};
const ln1g = v1(d), ln1b = v1(d), ln2g = v1(d), ln2b = v1(d);
const fc1k = v2(d, hidden), fc1b = v1(hidden), fc2k = v2(hidden, d, true), fc2b = v1(d);
const prompt = tf.variable(tf.tensor3d(lcgValues(b * t * d, seed++), [b, t, d]), true);
const trained = [prompt, w.oBias as tf.Variable, fc2k];

function block(x: tf.Tensor): tf.Tensor {
  const h = ops.addSame(x, ops.multiHeadAttention(ops.layerNorm(x, ln1g, ln1b, 1e-5), w, heads, 'causal'));
  return ops.addSame(h, ops.linear(ops.quickGelu(ops.linear(ops.layerNorm(h, ln2g, ln2b, 1e-5), fc1k, fc1b)), fc2k, fc2b));
}

/** One step: loss, the three gradients' bytes and the kernels it ran. */
async function step(on: boolean, frozenCache = on): Promise<{ bytes: Uint8Array[]; kernels: string[] }> {
  tuning.nativeViews = on;
  nativeTuning.saveByReference = on;
  tuning.frozenCache = frozenCache;
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => block(prompt).square().mean() as tf.Scalar, trained);
    return [value, ...trained.map((v) => grads[v.name])];
  });
  const outs = profile.result as tf.Tensor[];
  const bytes = outs.map((x) => new Uint8Array(x.dataSync().buffer.slice(0)));
  tf.dispose(outs);
  return { bytes, kernels: profile.kernels.map((k) => k.name) };
}

test('the block\'s loss and gradients are byte-identical with the overhead cuts on and off; fewer kernels', async () => {
  assert.ok(nativeKernelsInUse(), 'this test needs the native kernels (node cells/model/native/build.mjs)');
  const off = await step(false);
  const on = await step(true);
  assert.equal(on.bytes.length, 4);
  on.bytes.forEach((x, i) => assert.deepEqual(x, off.bytes[i], `output ${i} (loss, then each gradient) differs`));
  const count = (ks: string[], name: string) => ks.filter((k) => k === name).length;
  assert.ok(count(off.kernels, 'Identity') > 0 && count(off.kernels, 'Reshape') > 0, 'the baseline should run clones and reshapes');
  assert.equal(count(on.kernels, 'Identity'), 0, `saved tensors still cloned through the Identity kernel: ${on.kernels.join(', ')}`);
  // Two remain, outside the cut ops: the loss's mean and tfjs's softmax gradient reshape.
  assert.ok(count(on.kernels, 'Reshape') <= 2, `reshape ops remain in the block: ${on.kernels.join(', ')}`);
  assert.ok(on.kernels.length < off.kernels.length / 2 + 10, `${on.kernels.length} kernels with the cuts, ${off.kernels.length} without`);
});

test('with the cuts on, repeated steps leak no tensors and no wasm buffers', async () => {
  await step(true); // first-call allocations (scalars, caches) out of the way
  const tensors = tf.memory().numTensors, ids = tf.engine().backend.numDataIds();
  for (let i = 0; i < 3; i++) await step(true);
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), ids, 'wasm buffers leaked');
});

test('a frozen q weight\'s scaling is computed once: same bytes, two Multiply ops fewer a block; new values and training still reach it', async () => {
  const multiplies = (ks: string[]) => ks.filter((k) => k === 'Multiply').length;
  const off = await step(true, false);
  await step(true, true); // fills the cache
  const on = await step(true, true);
  on.bytes.forEach((x, i) => assert.deepEqual(x, off.bytes[i], `output ${i} differs with the frozen scaling cached`));
  assert.equal(multiplies(on.kernels), multiplies(off.kernels) - 2);
  // A new value assigned to the frozen weight is picked up, as the uncached op would.
  const q = w.qKernel as tf.Variable, old = q.clone();
  q.assign(tf.tensor2d(lcgValues(d * d, 4242), [d, d]));
  const changedOff = await step(true, false), changedOn = await step(true, true);
  changedOn.bytes.forEach((x, i) => assert.deepEqual(x, changedOff.bytes[i], `output ${i} differs after the q weight changed`));
  assert.notDeepEqual(changedOn.bytes[0], on.bytes[0], 'the new q weight should change the loss');
  q.assign(old);
  old.dispose();
  // A trainable q weight takes the op every step, so its gradient exists.
  q.trainable = true;
  try {
    const g = tf.variableGrads(() => block(prompt).square().mean() as tf.Scalar, [q]);
    assert.ok(g.grads[q.name] && tf.tidy(() => g.grads[q.name].abs().sum().dataSync()[0]) > 0, 'no gradient reached the trainable q weight');
    tf.dispose([g.value, ...Object.values(g.grads)]);
  } finally {
    q.trainable = false;
  }
});

test('a clone made while the cuts are on is independent of later assignments to its source', () => {
  nativeTuning.saveByReference = true;
  const v = tf.variable(tf.tensor1d([1, 2, 3]), true);
  // Gradients save x by reference; the variable is then updated in place by an assign.
  const g = tf.grad((x: tf.Tensor) => x.mul(x).sum())(v);
  v.assign(tf.tensor1d([7, 8, 9]));
  assert.deepEqual(Array.from(g.dataSync()), [2, 4, 6]);
  tf.dispose([g, v]);
});

// fused.c's quick-GELU, step by step in float32 (Math.fround after every operation, in the C source's
// order): the kernel's AVX-512 / AVX2 / baseline builds (WIDE_LOOPS) must each give exactly these bits.
const f = Math.fround;
function expF32(x: number): number {
  x = x < -87 ? -87 : x > 88 ? 88 : x;
  const n = f(f(f(x * f(1.44269504)) + 12582912) - 12582912);
  const r = f(f(x - f(n * f(0.693145752))) - f(n * f(1.42860677e-6)));
  let p = f(1 / 720);
  for (const c of [f(1 / 120), f(1 / 24), f(1 / 6), 0.5, 1, 1]) p = f(c + f(r * p));
  return f(p * 2 ** n);
}

test('the native quick-GELU gives the float32 arithmetic of its C source bit for bit', () => {
  assert.ok(nativeKernelsInUse());
  const values = lcgValues(4099, 77).map((v) => v * 12); // odd length: the vector loops' tails run too
  const x = tf.tensor1d(values);
  const got = ops.quickGelu(x).dataSync();
  for (let i = 0; i < values.length; i++) {
    const want = f(values[i] / f(1 + expF32(f(f(-1.702) * values[i]))));
    assert.ok(Object.is(got[i], want), `x = ${values[i]}: kernel ${got[i]}, float32 arithmetic ${want}`);
  }
  x.dispose();
});

test('the native LayerNorm (rows reduced side by side) gives its C source\'s arithmetic bit for bit', () => {
  const rows = 13, d = 24, eps = 1e-5; // 13 rows: one block of eight and a tail of five
  const xs = lcgValues(rows * d, 31).map((v, i) => v * 3 + (i % 5));
  const gs = lcgValues(d, 32), bs = lcgValues(d, 33);
  const [x, g, b] = [tf.tensor2d(xs, [rows, d]), tf.tensor1d(gs), tf.tensor1d(bs)];
  const got = ops.layerNorm(x, g, b, eps).dataSync();
  for (let r = 0; r < rows; r++) {
    const row = xs.subarray(r * d, (r + 1) * d);
    let sum = 0, sq = 0; // double, in order, as the kernel accumulates
    for (const v of row) sum += v;
    const mean = f(sum / d);
    for (const v of row) { const c = f(v - mean); sq += c * c; }
    const rs = f(1 / f(Math.sqrt(f(f(sq / d) + f(eps)))));
    for (let i = 0; i < d; i++) {
      const want = f(f(f(f(row[i] - mean) * rs) * gs[i]) + bs[i]);
      assert.ok(Object.is(got[r * d + i], want), `row ${r}, column ${i}: kernel ${got[r * d + i]}, float arithmetic ${want}`);
    }
  }
  tf.dispose([x, g, b]);
});
