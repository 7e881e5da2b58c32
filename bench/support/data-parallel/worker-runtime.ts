// Runs inside each data-parallel worker thread. It owns a full copy of the model; per step it computes
// the gradients of its shard of the batch, publishes them in its slot of a SharedArrayBuffer and waits for
// every worker (Atomics barrier). With the fused Adam, the optimizer is sharded too: each worker sums the
// slots over its own 1/W of the parameters (fixed order), updates that part, writes it to a shared
// parameter buffer, and after a second barrier every worker loads the same parameters from there. With a
// tfjs optimizer, every worker sums all slots in the same order and applies the same step. Either way the
// arithmetic is bit-identical everywhere, so parameters never drift apart.
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { initBackend, currentBackend } from '../../../cells/model/backend.ts';
import { FlatAdam } from '../adam.ts';
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
/** Fused Adam (when setup returned an AdamConfig) over this worker's shard [lo, hi) of the parameters. */
let flatAdam: FlatAdam | undefined;
let shard = { lo: 0, hi: 0 };
/** The parameters after the last step, in shared memory: each worker writes its shard. */
let sharedParams: Float32Array;

function post(msg: FromWorker): void {
  port.postMessage(msg);
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'setup': {
      // One thread per worker: the workers are the parallelism (PROMPTSCOPE_WASM_THREADS is for in-process use).
      await initBackend(msg.backend, { wasmThreads: msg.backend === 'wasm' ? 1 : undefined });
      const backend = currentBackend(); // as recorded with results, e.g. 'wasm+blas'
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
      sharedParams = new Float32Array(msg.shared, 16 + 4 * workers * total, total);
      summed = new Float32Array(total);
      if (!(trainer.optimizer instanceof tf.Optimizer)) {
        shard = { lo: Math.floor((total * index) / workers), hi: Math.floor((total * (index + 1)) / workers) };
        flatAdam = new FlatAdam(shard.hi - shard.lo, trainer.optimizer);
        let o = 0;
        for (const v of trainer.variables) { sharedParams.set((await v.data()) as Float32Array, o); o += v.size; }
      }
      return;
    case 'step': {
      let loss: number;
      try {
        loss = await step(msg.batch, msg.weight, msg.step, msg.learningRate);
      } catch (e) {
        // Release the other workers from the barriers instead of leaving them blocked forever.
        Atomics.store(control, 1, 1);
        Atomics.notify(control, 0);
        Atomics.notify(control, 2);
        throw e;
      }
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
    const out = await mod.lossAndGrads(batch);
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
  barrier(0, stepNo);
  if (flatAdam) {
    // Sharded update: sum the slots over [lo, hi) only, update that part in shared memory, then wait for
    // the other shards and load the whole parameter vector.
    const { lo, hi } = shard;
    sumSlots(lo, hi);
    flatAdam.update(sharedParams.subarray(lo, hi), summed.subarray(lo, hi), learningRate);
    barrier(2, stepNo);
    let o = 0;
    for (const v of trainer.variables) {
      const t = tf.tensor(sharedParams.subarray(o, o + v.size), v.shape, 'float32');
      v.assign(t);
      t.dispose();
      o += v.size;
    }
    return loss;
  }
  sumSlots(0, total);
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

/**
 * Waits until every worker has arrived at counter `at` (0: gradients published, 2: parameters updated)
 * for step `stepNo`. The counters only grow, so step s is complete at workers·s arrivals.
 */
function barrier(at: number, stepNo: number): void {
  const target = workers * stepNo;
  if (Atomics.add(control, at, 1) + 1 >= target) Atomics.notify(control, at);
  else {
    for (let cur = Atomics.load(control, at); cur < target; cur = Atomics.load(control, at)) {
      if (Atomics.load(control, 1) !== 0) throw new Error('another worker failed during this step');
      Atomics.wait(control, at, cur, 1000);
    }
  }
}

/** summed[lo, hi) = Σ over workers' slots, in worker order ⇒ the same float32 result in every worker. */
function sumSlots(lo: number, hi: number): void {
  summed.set(slots.subarray(lo, hi), lo);
  for (let w = 1; w < workers; w++) {
    const s = slots.subarray(w * total, (w + 1) * total);
    for (let j = lo; j < hi; j++) summed[j] += s[j];
  }
}

// Messages are handled strictly one after another: a step must not interleave with another call.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  queue = queue.then(() => handle(msg)).catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id: 'id' in msg ? msg.id : -1, message: err.message, stack: err.stack });
  });
});
