// The shared loop's optimiser against PyTorch's update rules written out in float64 here (SGD with momentum,
// Adam with bias correction, both with weight decay added to the gradient), the step schedule against
// MultiStepLR's milestones, and the checkpoint: an Adam run saved and restored continues bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PromptOptimizer } from '../../cells/prompts/optimizer.ts';
import { OPTIM_DEFAULTS, checkOptim, learningRate, type OptimConfig } from '../../cells/prompts/optim.ts';
import { REPROGRAMMING_PRESETS } from '../../cells/prompts/visual-reprogramming.ts';

await tf.setBackend('cpu');

const THETA0 = [0.5, -1.25, 2, 0.01];
const GRADS = [[0.3, -0.2, 0.05, 1.5], [-0.1, 0.4, 0.0, -2], [0.25, 0.25, -0.5, 0.75]];

function run(optim: OptimConfig, lr: number, steps = GRADS.length, opt?: { v: tf.Variable; o: PromptOptimizer }): { v: tf.Variable; o: PromptOptimizer } {
  const v = opt?.v ?? tf.variable(tf.tensor1d(THETA0), true, `theta${Math.random()}`);
  const o = opt?.o ?? new PromptOptimizer([v], optim);
  for (const g of GRADS.slice(0, steps)) {
    const grads = { [v.name]: tf.tensor1d(g) };
    o.step(grads, optim, lr);
    tf.dispose(Object.values(grads));
  }
  return { v, o };
}

test('Adam: three steps equal PyTorch\'s rule in float64 (weight decay in the gradient, bias-corrected moments)', () => {
  const optim: OptimConfig = { ...OPTIM_DEFAULTS, optimizer: 'adam', weightDecay: 0.01 };
  const lr = 0.1;
  const theta = [...THETA0], m = [0, 0, 0, 0], s = [0, 0, 0, 0];
  GRADS.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < 4; i++) {
      const gw = g[i] + 0.01 * theta[i];
      m[i] = 0.9 * m[i] + 0.1 * gw;
      s[i] = 0.999 * s[i] + 0.001 * gw * gw;
      theta[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(s[i] / (1 - 0.999 ** t)) + 1e-8);
    }
  });
  const { v, o } = run(optim, lr);
  const got = Array.from(v.dataSync());
  got.forEach((x, i) => assert.ok(Math.abs(x - theta[i]) < 2e-6, `theta[${i}]: ${x} vs ${theta[i]}`));
  o.dispose();
  v.dispose();
});

test('SGD (the default): momentum and weight decay as PyTorch\'s SGD', () => {
  const optim: OptimConfig = { ...OPTIM_DEFAULTS, momentum: 0.9, weightDecay: 0.01 };
  const theta = [...THETA0], m = [0, 0, 0, 0];
  for (const g of GRADS) {
    for (let i = 0; i < 4; i++) {
      m[i] = 0.9 * m[i] + g[i] + 0.01 * theta[i];
      theta[i] -= 0.05 * m[i];
    }
  }
  const { v, o } = run(optim, 0.05);
  Array.from(v.dataSync()).forEach((x, i) => assert.ok(Math.abs(x - theta[i]) < 2e-6, `theta[${i}]: ${x} vs ${theta[i]}`));
  o.dispose();
  v.dispose();
});

test('step schedule: lr × 0.1 from epoch ⌊0.5·200⌋ = 100 and again from ⌊0.72·200⌋ = 144 (MultiStepLR); warm-up first', () => {
  const o: OptimConfig = { ...OPTIM_DEFAULTS, ...REPROGRAMMING_PRESETS.ilmvp.optim };
  const lr = (e: number) => learningRate(e, 200, o);
  assert.equal(lr(0), 0.01);
  assert.equal(lr(99), 0.01);
  assert.ok(Math.abs(lr(100) - 0.001) < 1e-15);
  assert.ok(Math.abs(lr(143) - 0.001) < 1e-15);
  assert.ok(Math.abs(lr(144) - 0.0001) < 1e-15);
  assert.equal(learningRate(0, 200, { ...o, warmupEpochs: 1, warmupLr: 1e-5 }), 1e-5);
  // The cosine default is unchanged: half the peak at the middle epoch.
  assert.ok(Math.abs(learningRate(50, 100, { ...OPTIM_DEFAULTS, warmupEpochs: 0 }) - OPTIM_DEFAULTS.lr / 2) < 1e-15);
});

test('bad optimiser settings are clear errors', () => {
  assert.throws(() => checkOptim({ ...OPTIM_DEFAULTS, optimizer: 'rmsprop' as 'adam' }), /optim\.optimizer must be "sgd" or "adam"/);
  assert.throws(() => checkOptim({ ...OPTIM_DEFAULTS, schedule: 'step', milestones: [1.5], gamma: 0.1 }), /milestones must be fractions/);
  assert.throws(() => checkOptim({ ...OPTIM_DEFAULTS, schedule: 'step', milestones: [0.5], gamma: 0 }), /gamma must be in \(0, 1\]/);
  assert.doesNotThrow(() => checkOptim({ ...OPTIM_DEFAULTS, ...REPROGRAMMING_PRESETS.ilmvp.optim }));
});

test('Adam checkpoint: saved after 2 steps and restored, the third step equals an uninterrupted run bit for bit; an SGD checkpoint is refused', async () => {
  const optim: OptimConfig = { ...OPTIM_DEFAULTS, optimizer: 'adam', weightDecay: 0 };
  const whole = run(optim, 0.01);
  const dir = mkdtempSync(join(tmpdir(), 'optimizer-test-'));
  const path = join(dir, 'ckpt.safetensors');
  const first = run(optim, 0.01, 2);
  await first.o.save(path, 1, [], 'test');
  const v = tf.variable(tf.tensor1d([9, 9, 9, 9]), true, `theta-restored${Math.random()}`);
  const o = new PromptOptimizer([v], optim);
  assert.equal((await o.restore(path))?.epoch, 1);
  const grads = { [v.name]: tf.tensor1d(GRADS[2]) };
  o.step(grads, optim, 0.01);
  assert.deepEqual(Array.from(v.dataSync()), Array.from(whole.v.dataSync()));
  const sgdPath = join(dir, 'sgd.safetensors');
  const sgd = run({ ...OPTIM_DEFAULTS }, 0.01, 1);
  await sgd.o.save(sgdPath, 0, [], 'test');
  await assert.rejects(() => new PromptOptimizer([v], optim).restore(sgdPath), /written by sgd, this run uses adam/);
  tf.dispose([v, whole.v, first.v, sgd.v, ...Object.values(grads)]);
});
