import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initBackend } from '../../cells/model/backend.ts';
import { FlatAdam, VariablesAdam } from '../../bench/support/adam.ts';

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: VariablesAdam follows tf.train.adam step for step`, async () => {
    await initBackend(backend);
    const shapes = [[7, 5], [5], [3, 4, 2]];
    const mk = (seed: number) => shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', seed + i)));
    const a = mk(1), b = mk(1);
    const ours = new VariablesAdam(a, { learningRate: 0.05 });
    const theirs = tf.train.adam(0.05);
    for (let step = 0; step < 8; step++) {
      const grads = shapes.map((s, i) => tf.randomNormal(s, 0, 1 + step, 'float32', 100 * step + i));
      ours.applyGradients(grads);
      theirs.applyGradients(Object.fromEntries(b.map((v, i) => [v.name, grads[i]])) as unknown as Record<string, tf.Variable>);
      tf.dispose(grads);
    }
    for (let i = 0; i < a.length; i++) {
      const e = relErr(await a[i].data(), await b[i].data());
      assert.ok(e < 1e-5, `variable ${i}: relative difference ${e}`);
      // and the parameters really moved
      assert.ok(relErr(await a[i].data(), await tf.randomNormal(shapes[i], 0, 1, 'float32', 1 + i).data()) > 1e-3);
    }
  });
}

test('FlatAdam: AdamW decay is decoupled, and sizes are checked', () => {
  const p = new Float32Array([1, -2]);
  const adam = new FlatAdam(2, { learningRate: 0.1, weightDecay: 0.5 });
  adam.update(p, new Float32Array([0, 0]));
  // zero gradient: only the decay acts, p·(1 − lr·wd)
  assert.ok(Math.abs(p[0] - 0.95) < 1e-6 && Math.abs(p[1] + 1.9) < 1e-6, `got ${Array.from(p)}`);
  assert.throws(() => adam.update(new Float32Array(3), new Float32Array(3)), /expected 2/);
  assert.throws(() => new FlatAdam(1, { learningRate: 0 }), /learningRate/);
});
