import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initBackend } from '../../cells/model/backend.ts';
import { createDataParallel, splitBatch, defaultWorkerCount, type Batch } from '../../bench/support/data-parallel/index.ts';
import { buildMlp, mlpLoss, type MlpConfig } from './dp-worker.ts';

const workerModule = new URL('./dp-worker.ts', import.meta.url);
const cfg: MlpConfig = { inDim: 12, hidden: 24, classes: 5, seed: 3, lr: 0.01 };

function makeBatch(rows: number, seed: number): Batch {
  const x = tf.randomNormal([rows, cfg.inDim], 0, 1, 'float32', seed);
  const y = tf.randomUniform([rows], 0, cfg.classes, 'int32', seed + 1);
  const b = { x: { data: x.dataSync() as Float32Array, shape: [rows, cfg.inDim] }, y: { data: y.dataSync() as Int32Array, shape: [rows] } };
  tf.dispose([x, y]);
  return b;
}

test('splitBatch: contiguous shards that differ by at most one row', () => {
  const b: Batch = { a: { data: new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [5, 2] }, l: { data: new Int32Array([0, 1, 2, 3, 4]), shape: [5] } };
  const s = splitBatch(b, 2);
  assert.deepEqual(s.map((x) => x.a.shape), [[3, 2], [2, 2]]);
  assert.deepEqual(Array.from(s[1].a.data), [6, 7, 8, 9]);
  assert.deepEqual(Array.from(s[1].l.data), [3, 4]);
  assert.throws(() => splitBatch({ a: b.a, l: { data: new Int32Array(4), shape: [4] } }, 2), /rows/);
  assert.ok(defaultWorkerCount() >= 1);
});

for (const flatAdam of [false, true]) test(`2 workers (${flatAdam ? 'fused JS Adam' : 'tf.train.adam'}): same trajectory as one process on the full batch; parameters bit-identical across workers`, async () => {
  await initBackend('wasm');
  const dp = await createDataParallel({ workerModule, workers: 2, init: { ...cfg, flatAdam }, backend: 'wasm' });
  try {
    assert.match(dp.backend, /^wasm/); // 'wasm+blas' with the native kernels
    // Reference: the same model and tfjs's Adam, trained in this process on the whole batch.
    const vars = buildMlp(cfg);
    const opt = tf.train.adam(cfg.lr);
    for (let s = 0; s < 6; s++) {
      const batch = makeBatch(s % 2 ? 17 : 16, 100 + s); // odd batch: uneven shards are weighted by rows
      const dpLoss = await dp.step(batch);
      const x = tf.tensor(batch.x.data, batch.x.shape);
      const y = tf.tensor1d(batch.y.data as Int32Array, 'int32');
      const ref = opt.minimize(() => mlpLoss(vars, x, y), true, vars)!;
      const refLoss = (await ref.data())[0];
      tf.dispose([x, y, ref]);
      assert.ok(Math.abs(dpLoss - refLoss) < 1e-5 * Math.max(1, Math.abs(refLoss)), `step ${s}: loss ${dpLoss} vs ${refLoss}`);
    }
    const [p0, p1] = await Promise.all([dp.parameters(0), dp.parameters(1)]);
    for (let i = 0; i < p0.length; i++) {
      assert.deepEqual(Buffer.from(p0[i].buffer, p0[i].byteOffset, p0[i].byteLength), Buffer.from(p1[i].buffer, p1[i].byteOffset, p1[i].byteLength), `variable ${i} differs between workers`);
      const ref = await vars[i].data();
      let num = 0, den = 0;
      for (let j = 0; j < ref.length; j++) { num += (p0[i][j] - ref[j]) ** 2; den += ref[j] ** 2; }
      assert.ok(Math.sqrt(num / den) < 1e-5, `variable ${i} drifted from the single-process run: ${Math.sqrt(num / den)}`);
    }
    // Inference over shards.
    const b = makeBatch(8, 7);
    const shards = splitBatch({ x: b.x }, 2);
    const feats = await dp.map<Float32Array>('features', shards.map((s) => [s.x]));
    assert.deepEqual(feats.map((f) => f.length), [4, 4]);
  } finally {
    await dp.close();
  }
});

test('a failing worker rejects the step with its message instead of hanging', async () => {
  const dp = await createDataParallel({ workerModule, workers: 2, init: { ...cfg, failOnRows: 3 }, backend: 'wasm' });
  await assert.rejects(dp.step(makeBatch(7, 1)), /worker 1 .*deliberate failure|another worker failed/);
  await dp.close();
});

test('a worker module without setup is a clear error', async () => {
  await assert.rejects(createDataParallel({ workerModule: new URL('./parity.ts', import.meta.url), workers: 1, init: {} }), /does not export setup/);
});
