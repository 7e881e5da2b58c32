// wasm with XNNPACK's thread pool in Node (opt-in): it starts with the asked thread count, computes the
// same results, and a second thread really does part of the matmul work.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { initBackend } from '../../cells/model/backend.ts';
import * as fast from '../../cells/model/ops/index.ts';

/** CPU ms per OS thread of this process (Linux /proc). */
function threadCpu(): number[] {
  return readdirSync('/proc/self/task').map((t) => {
    const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  });
}

test('wasm with 2 XNNPACK threads: starts, matches the cpu backend, uses a second thread', async () => {
  await initBackend('cpu');
  const a = tf.randomNormal([512, 256], 0, 1, 'float32', 1), b = tf.randomNormal([256, 384], 0, 1, 'float32', 2);
  const ref = await fast.linear(a, b as tf.Tensor2D).data();
  const aData = await a.data(), bData = await b.data();
  assert.equal(await initBackend('wasm', { wasmThreads: 2 }), 'wasm');
  assert.equal((await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount(), 2, 'threads XNNPACK uses');
  await assert.rejects(initBackend('wasm', { wasmThreads: 3 }), /fixed per process/);
  const a2 = tf.tensor2d(aData, [512, 256]), b2 = tf.tensor2d(bData, [256, 384]);
  const got = await fast.linear(a2, b2).data();
  let num = 0, den = 0;
  for (let i = 0; i < got.length; i++) { num += (got[i] - ref[i]) ** 2; den += ref[i] ** 2; }
  assert.ok(Math.sqrt(num / den) < 1e-5, `relative error ${Math.sqrt(num / den)}`);
  const before = threadCpu();
  for (let i = 0; i < 40; i++) tf.matMul(a2, b2).dispose();
  await tf.matMul(a2, b2).data();
  const after = threadCpu();
  const busy = after.map((t, i) => t - (before[i] ?? 0)).filter((ms) => ms >= 40);
  assert.ok(busy.length >= 2, `expected matmul work on ≥ 2 threads, per-thread CPU ms: ${after.map((t, i) => t - (before[i] ?? 0))}`);
});
