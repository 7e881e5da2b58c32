// Runs inside each data-parallel worker thread. It owns a full copy of the model; per step it computes
// the gradients of its shard, publishes them in its slot of a SharedArrayBuffer, waits for every worker
// (Atomics barrier), sums all slots in the same fixed order and applies the same optimizer step. Every
// worker thus performs bit-identical float32 arithmetic, so parameters never drift apart and no weights
// are ever sent between threads.
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../backend.ts';
import { FlatAdam } from '../ops/adam.ts';
import type { Batch, DataParallelWorkerModule, FromWorker, ToWorker, TrainerSetup } from './types.ts';

if (!parentPort) throw new Error('parallel/worker-runtime.ts must run in a worker thread');
const port = parentPort;

let mod: DataParallelWorkerModule & Record<string, unknown>;
let trainer: TrainerSetup;
let sizes: number[] = [];
let total = 0;
let index = 0;
let workers = 1;
let control: Int32Array;
let slots: Float32Array;
let summed: Float32Array;
/** Fused Adam (when setup returned an AdamConfig) and this worker's copy of the flat parameters. */
let flatAdam: FlatAdam | undefined;
let flatParams: Float32Array | undefined;

function post(msg: FromWorker): void {
  port.postMessage(msg);
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'setup': {
      // One thread per worker: the workers are the parallelism (PROMPTSCOPE_WASM_THREADS is for in-process use).
      const backend = await initBackend(msg.backend, { wasmThreads: msg.backend === 'wasm' ? 1 : undefined });
      index = msg.index;
      mod = (await import(msg.module)) as DataParallelWorkerModule & Record<string, unknown>;
      if (typeof mod.setup !== 'function') throw new Error(`${msg.module} does not export setup(config)`);
      trainer = await mod.setup(msg.init);
      sizes = trainer.variables.map((v) => v.size);
      total = sizes.reduce((a, b) => a + b, 0);
      post({ type: 'ready', sizes, names: trainer.variables.map((v) => v.name), backend });
      return;
    }
    case 'bind':
      workers = msg.workers;
      control = new Int32Array(msg.shared, 0, 4);
      slots = new Float32Array(msg.shared, 16, workers * total);
      summed = new Float32Array(total);
      if (!(trainer.optimizer instanceof tf.Optimizer)) {
        flatAdam = new FlatAdam(total, trainer.optimizer);
        flatParams = new Float32Array(total);
        let o = 0;
        for (const v of trainer.variables) { flatParams.set((await v.data()) as Float32Array, o); o += v.size; }
      }
      return;
    case 'step': {
      const loss = await step(msg.batch, msg.weight, msg.step, msg.learningRate);
      post({ type: 'done', id: msg.id, result: loss });
      return;
    }
    case 'call': {
      const fn = mod[msg.method];
      if (typeof fn !== 'function') throw new Error(`worker module has no exported function "${msg.method}"`);
      post({ type: 'done', id: msg.id, result: await (fn as (...a: unknown[]) => unknown)(...msg.args) });
      return;
    }
    case 'parameters': {
      const values = await Promise.all(trainer.variables.map((v) => v.data() as Promise<Float32Array>));
      post({ type: 'done', id: msg.id, result: values });
      return;
    }
  }
}

async function step(batch: Batch, weight: number, stepNo: number, learningRate?: number): Promise<number> {
  const mine = slots.subarray(index * total, (index + 1) * total);
  let loss = 0;
  if (weight > 0) {
    let out;
    try {
      out = await mod.lossAndGrads(batch);
    } catch (e) {
      // Release the other workers from the barrier instead of leaving them blocked forever.
      Atomics.store(control, 1, 1);
      Atomics.notify(control, 0);
      throw e;
    }
    if (out.grads.length !== sizes.length) {
      throw new Error(`lossAndGrads returned ${out.grads.length} gradients for ${sizes.length} variables`);
    }
    let offset = 0;
    for (let i = 0; i < out.grads.length; i++) {
      const g = (await out.grads[i].data()) as Float32Array;
      if (g.length !== sizes[i]) throw new Error(`gradient ${i} (${trainer.variables[i].name}) has ${g.length} values, expected ${sizes[i]}`);
      // Each worker's loss is a mean over its rows: weight = rows/total rows makes the sum a batch mean.
      for (let j = 0; j < g.length; j++) mine[offset + j] = g[j] * weight;
      offset += g.length;
    }
    loss = (typeof out.loss === 'number' ? out.loss : (await out.loss.data())[0]) * weight;
    tf.dispose([...out.grads, ...(typeof out.loss === 'number' ? [] : [out.loss])]);
  } else {
    mine.fill(0);
  }
  // Barrier: the arrival counter only grows, so step s is complete at workers·s arrivals.
  const target = workers * stepNo;
  if (Atomics.add(control, 0, 1) + 1 >= target) Atomics.notify(control, 0);
  else {
    for (let cur = Atomics.load(control, 0); cur < target; cur = Atomics.load(control, 0)) {
      if (Atomics.load(control, 1) !== 0) throw new Error('another worker failed during this step');
      Atomics.wait(control, 0, cur, 1000);
    }
  }
  // Same summation order in every worker ⇒ the same float32 result everywhere.
  summed.set(slots.subarray(0, total));
  for (let w = 1; w < workers; w++) {
    const s = slots.subarray(w * total, (w + 1) * total);
    for (let j = 0; j < total; j++) summed[j] += s[j];
  }
  if (flatAdam && flatParams) {
    flatAdam.update(flatParams, summed, learningRate);
    let o = 0;
    for (const v of trainer.variables) {
      const t = tf.tensor(flatParams.subarray(o, o + v.size), v.shape, 'float32');
      v.assign(t);
      t.dispose();
      o += v.size;
    }
    return loss;
  }
  const opt = trainer.optimizer as tf.Optimizer & { learningRate?: number };
  if (learningRate !== undefined) {
    if (typeof opt.learningRate !== 'number') throw new Error('this optimizer has no learningRate to schedule');
    opt.learningRate = learningRate;
  }
  const grads: tf.NamedTensorMap = {};
  let offset = 0;
  trainer.variables.forEach((v, i) => {
    grads[v.name] = tf.tensor(summed.subarray(offset, offset + sizes[i]), v.shape, 'float32');
    offset += sizes[i];
  });
  opt.applyGradients(grads as unknown as Record<string, tf.Variable>);
  tf.dispose(Object.values(grads));
  return loss;
}

// Messages are handled strictly one after another: a step must not interleave with another call.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  queue = queue.then(() => handle(msg)).catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id: 'id' in msg ? msg.id : -1, message: err.message, stack: err.stack });
  });
});
