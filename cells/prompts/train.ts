// The one training loop every prompt learner runs under (CoOp's recipe): SGD with momentum 0.9 and
// weight decay 5e-4, batch 32, a constant warm-up epoch at 1e-5, then cosine decay per epoch (Dassl's
// ConstantWarmupScheduler + CosineAnnealingLR: epoch e ≥ 1 runs at ½·lr·(1 + cos(π·e/E))).
//
// As a stage it is cached by (method + full config, optimiser, epochs, model fingerprint, task split key,
// seed, source-prompt key). Every epoch the prompt weights *and* momentum buffers are checkpointed as
// safetensors into the stage's work directory, so a killed run resumes from its last finished epoch and
// ends bit-identical to an uninterrupted run (shuffles and dropout masks are seeded per epoch/step, not
// drawn from a stream). A NaN/Inf loss stops the run with an error and leaves that checkpoint untouched.
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { stage, CancelledError, type StageContext, type StageSpec } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { initBackend, currentBackend, backboneOf, type BackendPreference, type ModelLike, type PromptBackbone } from '../model/index.ts';
import { softmaxCrossEntropy } from '../model/ops/index.ts';
import { getTrainer, resolveConfig } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { OPTIM_DEFAULTS, checkOptim, epochsForShots, learningRate, type OptimConfig } from './optim.ts';
import { gatherRows, type PromptTask, type TaskSplitData } from './task.ts';
import { rng, shuffled } from './random.ts';
import { mixSeed } from '../util/random.ts';
import { PromptOptimizer, type CurvePoint } from './optimizer.ts';
import { trainPool, workerBackend } from './train-pool.ts';
import './methods.ts';

export interface TrainOptions {
  method: string;
  /** Overrides of the method's defaults (see trainer.ts); unknown keys are an error. */
  config?: Record<string, unknown>;
  /** Default: CoOp's schedule by shots (`epochsForShots`). */
  epochs?: number;
  optim?: Partial<OptimConfig>;
  /** Seed for initialisation, shuffles and dropout. Default: the task's split seed. */
  seed?: number;
  /** 'auto' | 'webgpu' | 'wasm' | 'cpu': started before training; the backend used is recorded either way. */
  backend?: BackendPreference;
  /** Start from another prompt (MVLPT source init); its key joins the cache key. */
  init?: TrainedPrompt;
}

export type { CurvePoint } from './optimizer.ts';

/** A trained prompt: valueCodec-friendly (plain objects, Float32Arrays). */
export interface TrainedPrompt {
  method: string;
  config: Record<string, unknown>;
  optim: OptimConfig;
  epochs: number;
  seed: number;
  task: string;
  classNames: string[];
  shots: number;
  modelFingerprint: string;
  /** The key training was cached under: the task's key, or its training rows' (`PromptTask.trainKey`) for a method keyed on them. */
  taskKey: string;
  state: PromptState;
  curve: CurvePoint[];
  backend: string;
  /** Epoch the run resumed after (-1: fresh start). */
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
  /** Parameters the method learned (trainable variables' sizes); absent in results cached before it was recorded. */
  trainableParameters?: number;
  /** Linear probe only: the regularisation sweep. */
  sweep?: { lambda: number; valAcc: number; trainLoss: number }[];
}

export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}


/** Where a training loop gets its batches; `task` (optional) rebinds the classes (multitask batches). */
export interface TrainData {
  count: number;
  labels: Int32Array;
  batch(rows: number[]): { batch: Batch; task?: TaskClasses };
}

/** A single-task data source over a split of a PromptTask, in the form the trainer asks for. */
export function taskData(task: PromptTask, input: 'features' | 'pixels', split: 'train' | 'val' | 'test' = 'train'): TrainData {
  return splitData(task[split], input, task.dim, task.imageSize);
}

/** Batches of one split: rows of its features [count, P], or its pixels [rows, 3, S, S]. */
export function splitData(s: TaskSplitData, input: 'features' | 'pixels', P: number, S: number): TrainData {
  return {
    count: s.count,
    labels: s.labels,
    batch(rows) {
      const labels = Int32Array.from(rows, (r) => s.labels[r]);
      if (input === 'features') return { batch: { labels, features: tf.tensor2d(gatherRows(s.features, rows, P), [rows.length, P]) } };
      return { batch: { labels, pixels: tf.tensor4d(s.pixels(rows), [rows.length, 3, S, S]) } };
    },
  };
}

export function disposeBatch(b: Batch): void {
  if (b.features) b.features.dispose();
  if (b.pixels) b.pixels.dispose();
}

interface LoopOptions {
  epochs: number;
  optim: OptimConfig;
  seed: number;
  signal: AbortSignal;
  progress(fraction: number, message: string): void;
  /** Checkpoint file; resumed from when it exists. */
  checkpoint?: string;
  label: string;
}

interface LoopResult {
  curve: CurvePoint[];
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
}

/** Throws TrainingDivergedError for a non-finite loss, saying which checkpoint (if any) is kept. */
export function checkFinite(label: string, epoch: number, step: number, loss: number, checkpoint: string | undefined, lastGood: number): void {
  if (Number.isFinite(loss)) return;
  const kept = lastGood >= 0 && checkpoint ? `the last good checkpoint (after epoch ${lastGood + 1}) is kept at ${checkpoint}` : 'no epoch had finished, so there is no checkpoint';
  throw new TrainingDivergedError(`${label}: loss became ${loss} at epoch ${epoch + 1}, step ${step + 1}; ${kept}. ` +
    'Lower the learning rate (optim.lr) or check the inputs for NaN.');
}

/**
 * The SGD loop shared by every method (and by multitask training, which passes its own TrainData).
 * Exported for studies that need the loop without the stage (e.g. joint multitask tuning).
 */
export async function trainLoop(trainer: PromptTrainer, data: TrainData, o: LoopOptions): Promise<LoopResult> {
  const vars = trainer.variables();
  const sgd = new PromptOptimizer(vars, o.optim);
  const curve: CurvePoint[] = [];
  let start = 0;
  let resumedAfterEpoch = -1;
  try {
    const resumed = await sgd.restore(o.checkpoint);
    if (resumed) {
      curve.push(...resumed.curve);
      start = resumed.epoch + 1;
      resumedAfterEpoch = resumed.epoch;
    }
    const B = o.optim.batchSize;
    const n = data.count;
    if (n === 0) throw new Error(`${o.label}: no training images`);
    if (!(Number.isInteger(B) && B >= 1)) throw new Error(`${o.label}: optim.batchSize must be a positive integer, got ${B}`);
    const perEpoch = o.optim.dropLast && n >= B ? Math.floor(n / B) : Math.ceil(n / B);
    let done = 0;
    let stepMs = 0;
    for (let epoch = start; epoch < o.epochs; epoch++) {
      if (trainer.beforeEpoch) await trainer.beforeEpoch(epoch, data, o.signal);
      const lr = learningRate(epoch, o.epochs, o.optim);
      const order = shuffled(Array.from({ length: n }, (_, i) => i), rng(mixSeed(o.seed, epoch, 101)));
      let lossSum = 0, correct = 0, seen = 0;
      const e0 = Date.now();
      for (let step = 0; step < perEpoch; step++) {
        if (o.signal.aborted) throw new CancelledError(`${o.label}: cancelled at epoch ${epoch + 1}, step ${step + 1}`);
        const rows = order.slice(step * B, Math.min(n, (step + 1) * B));
        const { batch, task } = data.batch(rows);
        if (task) trainer.bindTask(task);
        const s0 = Date.now();
        let predicted: tf.Tensor | undefined;
        const labels = tf.tensor1d(batch.labels, 'int32');
        const { value, grads } = tf.variableGrads(() => {
          const logits = trainer.logits(batch, true, mixSeed(o.seed, epoch, step));
          predicted = tf.keep(logits.argMax(-1));
          return softmaxCrossEntropy(logits, labels);
        }, vars);
        const loss = (await value.data())[0];
        const pred = await predicted!.data();
        tf.dispose([value, predicted!, labels]);
        disposeBatch(batch);
        if (!Number.isFinite(loss)) {
          tf.dispose(grads);
          checkFinite(o.label, epoch, step, loss, o.checkpoint, epoch - 1);
        }
        sgd.step(grads, o.optim, lr);
        tf.dispose(grads);
        stepMs += Date.now() - s0;
        lossSum += loss * rows.length;
        for (let i = 0; i < rows.length; i++) if (pred[i] === batch.labels[i]) correct++;
        seen += rows.length;
        done++;
        // No ETA in the message: the session derives one from the fraction and shows it beside the bar.
        o.progress((epoch + (step + 1) / perEpoch) / o.epochs,
          `epoch ${epoch + 1}/${o.epochs} step ${step + 1}/${perEpoch} loss ${loss.toFixed(4)} acc ${((correct / seen) * 100).toFixed(1)}%`);
        // Let the event loop breathe: cancellation and progress reach the cell mid-epoch.
        await new Promise((r) => setImmediate(r));
      }
      curve.push({ epoch: epoch + 1, lr, loss: seen ? lossSum / seen : NaN, acc: seen ? correct / seen : NaN, ms: Date.now() - e0 });
      if (o.checkpoint) await sgd.save(o.checkpoint, epoch, curve, 'promptscope-prompt-checkpoint');
    }
    // steps: the whole run's (a resumed run took the earlier epochs' steps in an earlier sitting); the
    // timing is this sitting's.
    return { curve, resumedAfterEpoch, steps: o.epochs * perEpoch, msPerStep: done ? stepMs / done : 0 };
  } finally {
    sgd.dispose();
  }
}




function fitDataOf(task: PromptTask): { train: { features: Float32Array; labels: Int32Array }; val: { features: Float32Array; labels: Int32Array }; dim: number } {
  return { train: { features: task.train.features, labels: task.train.labels }, val: { features: task.val.features, labels: task.val.labels }, dim: task.dim };
}

/** How many parameters a trainer learns: the sizes of its trainable variables (state it only holds, such as a label mapping, is not counted). */
export function trainableParameterCount(trainer: PromptTrainer): number {
  return trainer.variables().reduce((n, v) => n + (v.trainable ? v.size : 0), 0);
}

/** Builds and initialises a method's trainer (also used to evaluate a stored prompt). */
export function makeTrainer(model: PromptBackbone, task: TaskClasses, method: string, config: Record<string, unknown>, seed: number, from?: PromptState): PromptTrainer {
  const trainer = getTrainer(method).create();
  trainer.init(model, task, config, seed, from);
  return trainer;
}

/** A training run with every default filled in and checked, and the stage spec its cache key comes from. */
interface ResolvedRun {
  config: Record<string, unknown>;
  optim: OptimConfig;
  epochs: number;
  seed: number;
  trainKey: string;
  spec: StageSpec;
}

function resolveRun(model: PromptBackbone, task: PromptTask, opts: TrainOptions): ResolvedRun {
  const config = resolveConfig(opts.method, opts.config);
  const optim: OptimConfig = { ...OPTIM_DEFAULTS, ...opts.optim };
  checkOptim(optim);
  const epochs = opts.epochs ?? epochsForShots(task.shots);
  const seed = opts.seed ?? task.seed;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`trainPrompt(${opts.method}): epochs must be a positive integer, got ${epochs}`);
  if (opts.init && opts.init.method !== opts.method) {
    throw new Error(`trainPrompt(${opts.method}): cannot start from a ${opts.init.method} prompt`);
  }
  const entry = getTrainer(opts.method);
  const trainKey = entry.keyOnTrainingRows ? task.trainKey : task.key;
  const spec: StageSpec = {
    name: 'trainPrompt', version: 1, heavy: true,
    params: {
      method: opts.method, config, optim, epochs, seed, init: opts.init ? 'source' : null,
      ...(entry.version !== undefined ? { methodVersion: entry.version } : {}),
    },
    inputs: [model.fingerprint, trainKey, ...(opts.init ? [opts.init] : [])],
    files: entry.keyFiles?.(config) ?? [],
    pins: [{ kind: 'model', name: model.name, fingerprint: model.fingerprint }],
  };
  return { config, optim, epochs, seed, trainKey, spec };
}

/** The trainPrompt stage's spec for these options: a batch unit whose training it is tells by it whether the unit is cached. */
export function trainPromptSpec(model: PromptBackbone, task: PromptTask, opts: TrainOptions): StageSpec {
  return resolveRun(model, task, opts).spec;
}

/** Stage: trains a prompt of `method` on the few-shot task; cached, resumable, cancellable. */
export async function trainPrompt(modelLike: ModelLike, task: PromptTask, opts: TrainOptions): Promise<TrainedPrompt> {
  const model = await backboneOf(modelLike);
  if (opts.backend) await initBackend(opts.backend);
  const { config, optim, epochs, seed, trainKey, spec } = resolveRun(model, task, opts);
  return stage(spec, valueCodec<TrainedPrompt>(),
    (ctx) => runTraining(model, task, trainKey, opts.method, config, optim, epochs, seed, opts.init?.state, ctx));
}

async function runTraining(
  model: PromptBackbone, task: PromptTask, taskKey: string, method: string, config: Record<string, unknown>, optim: OptimConfig,
  epochs: number, seed: number, from: PromptState | undefined, ctx: StageContext,
): Promise<TrainedPrompt> {
  const label = `trainPrompt(${method} on ${task.name}, ${task.shots}-shot, seed ${seed})`;
  const base = {
    method, config, optim, epochs, seed, task: task.name, classNames: task.classNames, shots: task.shots,
    modelFingerprint: model.fingerprint, taskKey,
  };
  const checkpoint = async () => join(await ctx.workDir(), 'checkpoint.safetensors');
  const resumed = (r: { resumedAfterEpoch: number }) => {
    if (r.resumedAfterEpoch >= 0) ctx.log(`${label}: resumed after epoch ${r.resumedAfterEpoch + 1} from its checkpoint`);
  };
  // Not initialised: only what kind of trainer it is (an SGD loop can move to a worker, a closed-form fit
  // stays) and what its batches carry.
  const entry = getTrainer(method);
  const kind = entry.create();
  const input = entry.inputOf?.(config) ?? kind.input;
  // Only a method that reads the frozen features has them computed (a pixel-trained one never does).
  if (input === 'features') await task.loadFeatures();
  const backend = workerBackend();
  if (!kind.fit && ctx.workers && backend && model.sourceDir) {
    // Side by side with other trainings: the same trainer and loop in a worker process (train-pool.ts).
    const rows = Array.from({ length: task.train.count }, (_, i) => i);
    const r = await trainPool(ctx.workers).train({
      backend, modelDir: model.sourceDir, fingerprint: model.fingerprint, method, config, optim, epochs, seed, from,
      task: { name: task.name, classNames: task.classNames }, label, checkpoint: await checkpoint(),
      split: {
        count: task.train.count, labels: task.train.labels, input, dim: task.dim, imageSize: task.imageSize,
        ...(input === 'features' ? { features: task.train.features } : { pixels: task.train.pixels(rows) }),
      },
    }, (f, m) => ctx.progress(f, m), ctx.signal);
    resumed(r);
    return { ...base, ...r };
  }
  const trainer = makeTrainer(model, task, method, config, seed, from);
  try {
    const trainableParameters = trainableParameterCount(trainer);
    if (trainer.fit) {
      const t0 = Date.now();
      const report = trainer.fit(fitDataOf(task), ctx.signal, (f, m) => ctx.progress(f, m));
      return {
        ...base, trainableParameters, state: trainer.save(), curve: [], backend: currentBackend(), resumedAfterEpoch: -1, steps: 0,
        msPerStep: Date.now() - t0, sweep: report.sweep,
      };
    }
    const r = await trainLoop(trainer, taskData(task, trainer.input), {
      epochs, optim, seed, signal: ctx.signal, label, checkpoint: await checkpoint(),
      progress: (f, m) => ctx.progress(f, m),
    });
    resumed(r);
    return { ...base, trainableParameters, state: trainer.save(), curve: r.curve, backend: currentBackend(), resumedAfterEpoch: r.resumedAfterEpoch, steps: r.steps, msPerStep: r.msPerStep };
  } finally {
    trainer.dispose();
  }
}
