// One training worker process (train-pool.ts starts them): holds its own copy of each frozen model it is
// asked for, and runs a prompt method's training loop on the split the notebook's process sends. The same
// trainer, the same loop and the same kernels as an in-process run, so the prompt it returns is
// byte-identical.
import { initBackend, currentBackend, backboneOf, load, type PromptBackbone } from '../model/index.ts';
import { makeTrainer, splitData, trainLoop, trainableParameterCount, type TrainData } from './train.ts';
import { gatherRows } from './task.ts';
import type { TrainJob, TrainWorkerReply, TrainWorkerRequest, TrainWorkerResult, WorkerSplit } from './train-pool.ts';

/** Batches cut from a whole split, by the loop's own `splitData` (the same bytes as in the main process). */
function workerData(s: WorkerSplit): TrainData {
  const px = 3 * s.imageSize * s.imageSize;
  const split = {
    count: s.count, labels: s.labels,
    features: s.features ?? new Float32Array(0),
    pixels: (rows: ArrayLike<number>) => gatherRows(s.pixels!, rows, px),
  };
  return splitData(split, s.input, s.dim, s.imageSize);
}

const models = new Map<string, Promise<PromptBackbone>>();
const running = new Map<number, AbortController>();

async function modelFor(job: TrainJob): Promise<PromptBackbone> {
  let m = models.get(job.modelDir);
  if (!m) {
    m = initBackend(job.backend).then(() => load(job.modelDir)).then(backboneOf);
    models.set(job.modelDir, m);
  }
  const model = await m;
  if (model.fingerprint !== job.fingerprint) {
    throw new Error(`training worker: ${job.modelDir} loads to fingerprint ${model.fingerprint.slice(0, 12)}, the model in the notebook is ${job.fingerprint.slice(0, 12)}; reload the model there`);
  }
  return model;
}

async function train(job: TrainJob, post: (r: TrainWorkerReply) => void): Promise<TrainWorkerResult> {
  const model = await modelFor(job);
  const abort = new AbortController();
  running.set(job.id, abort);
  const trainer = makeTrainer(model, job.task, job.method, job.config, job.seed, job.from);
  try {
    const r = await trainLoop(trainer, workerData(job.split), {
      epochs: job.epochs, optim: job.optim, seed: job.seed, signal: abort.signal, label: job.label, checkpoint: job.checkpoint,
      progress: (fraction, message) => post({ type: 'progress', id: job.id, fraction, message }),
    });
    return { ...r, state: trainer.save(), trainableParameters: trainableParameterCount(trainer), backend: currentBackend() };
  } finally {
    running.delete(job.id);
    trainer.dispose();
  }
}

if (process.send) {
  // Copied, not transferred: a prompt is small ('advanced' serialisation keeps its typed arrays).
  const post = (r: TrainWorkerReply) => void process.send!(r);
  process.on('message', (msg: TrainWorkerRequest) => {
    if (msg.type === 'cancel') {
      running.get(msg.id)?.abort();
      return;
    }
    train(msg, post).then(
      (result) => post({ type: 'done', id: msg.id, result }),
      (e: Error) => post({ type: 'error', id: msg.id, name: e.name, message: e.message }),
    );
  });
  // The notebook's process is gone (killed, or it closed the pool): nothing will read a result.
  process.on('disconnect', () => process.exit(0));
}
