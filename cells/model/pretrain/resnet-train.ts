// Supervised pretraining of the CIFAR ResNet: seeded epoch permutations, random crop from a zero-padded
// image and horizontal flip, cross-entropy, SGD with momentum and weight decay (on convolution and head
// weights, not on BatchNorm or biases), linear warmup then cosine decay, periodic validation, atomic
// resumable checkpoints (weights, BatchNorm statistics, momentum buffers, step, history) and a NaN stop.
//
// Determinism: step k's images and augmentation come from (seed, k) only and the checkpoint holds the full
// optimizer state, so a run killed and resumed at step k continues exactly as an uninterrupted one (same
// backend), which test/pretrain/resnet-resume.test.ts checks with kill -9.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, removeDeadSafetensorsTemps, writeSafetensors, type TensorToWrite } from '../../util/safetensors.ts';
import { buildResNet, type ResNetModel } from '../resnet/model.ts';
import { parseResNetConfig, RESNET_MODEL_TYPE, type ResNetConfig } from '../resnet/config.ts';
import { normalizePixels } from '../resnet/preprocess.ts';
import { randomResNetWeights } from '../resnet/random-init.ts';
import { mulberry32, murmurMixSeed } from '../../util/random.ts';
import { stepRng, shuffleInPlace } from './rng.ts';
import { IMAGE_SIZE } from './data.ts';
import type { LabelledImages } from './resnet-data.ts';
import type { RunCallbacks } from './train.ts';

export interface ResNetShape {
  embedding_size: number;
  hidden_sizes: number[];
  depths: number[];
}

export interface ResNetTrainOptions {
  seed: number;
  shape: ResNetShape;
  batchSize: number;
  /** Passes over the training images; the run is epochs · ⌊N / batchSize⌋ steps. */
  epochs: number;
  /** Peak learning rate (after warmup). */
  lr: number;
  /** The cosine decays to lr · minLrFraction at the last step. */
  minLrFraction: number;
  warmupSteps: number;
  momentum: number;
  weightDecay: number;
  augment: { /** zero padding (pixels) before the random 32×32 crop; 0 = no crop */ pad: number; flip: boolean };
}

export const DEFAULT_RESNET_TRAIN: ResNetTrainOptions = {
  seed: 0, shape: { embedding_size: 16, hidden_sizes: [16, 32, 64], depths: [1, 1, 1] },
  batchSize: 128, epochs: 14, lr: 0.1, minLrFraction: 0.01, warmupSteps: 100, momentum: 0.9, weightDecay: 5e-4,
  augment: { pad: 4, flip: true },
};

export interface ResNetRunOptions extends ResNetTrainOptions {
  workDir: string;
  /** End this sitting after so many seconds (a checkpoint is written); call again to resume. */
  maxSittingSec: number;
  checkpointEverySec: number;
  validateEverySteps: number;
  /** The config's pixel statistics (of the training images) and class names. */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  classNames: string[];
}

export interface ResNetHistoryPoint { step: number; loss: number; lr: number; wallSec: number }
export interface ResNetValPoint { step: number; accuracy: number }

export interface ResNetTrainState {
  step: number;
  totalSteps: number;
  /** Seconds of training wall time, summed over sittings. */
  wallSec: number;
  history: ResNetHistoryPoint[];
  val: ResNetValPoint[];
  bestStep: number;
  bestAccuracy: number;
}

export function stepsPerEpoch(o: ResNetTrainOptions, trainCount: number): number {
  const n = Math.floor(trainCount / o.batchSize);
  if (n < 1) throw new Error(`ResNet pretraining: ${trainCount} training images is less than one batch of ${o.batchSize}`);
  return n;
}

export function totalStepsOf(o: ResNetTrainOptions, trainCount: number): number {
  return Math.round(o.epochs * stepsPerEpoch(o, trainCount));
}

/** Linear warmup to lr, then cosine to lr · minLrFraction at the last step. */
export function resNetLearningRate(o: ResNetTrainOptions, step: number, total: number): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const t = Math.min(1, (step - o.warmupSteps) / Math.max(1, total - o.warmupSteps));
  const lo = o.lr * o.minLrFraction;
  return lo + 0.5 * (o.lr - lo) * (1 + Math.cos(Math.PI * t));
}

export function resNetConfigFor(o: ResNetRunOptions): ResNetConfig {
  return parseResNetConfig({
    model_type: RESNET_MODEL_TYPE, num_channels: 3, ...o.shape, image_size: IMAGE_SIZE, num_labels: o.classNames.length,
    id2label: Object.fromEntries(o.classNames.map((n, i) => [String(i), n])), image_mean: o.imageMean, image_std: o.imageStd,
  });
}

/** The images of step k: epoch ⌊k / S⌋'s permutation (seeded by the epoch), slice k mod S. */
export function batchIndices(o: ResNetTrainOptions, trainCount: number, step: number, cache?: { epoch: number; order: Int32Array }): Int32Array {
  const spe = stepsPerEpoch(o, trainCount);
  const epoch = Math.floor(step / spe);
  let order = cache && cache.epoch === epoch ? cache.order : undefined;
  if (!order) {
    order = Int32Array.from({ length: trainCount }, (_, i) => i);
    shuffleInPlace(order, mulberry32(murmurMixSeed(o.seed, epoch, 7)));
    if (cache) { cache.epoch = epoch; cache.order = order; }
  }
  const from = (step % spe) * o.batchSize;
  return order.slice(from, from + o.batchSize);
}

/**
 * The chosen images as uint8 [n, 32, 32, 3], each cropped at a random offset from the image padded with
 * `pad` black pixels on every side, then mirrored with probability ½ (the CIFAR augmentation of He et al.).
 */
export function augmentBatch(set: LabelledImages, ids: ArrayLike<number>, aug: ResNetTrainOptions['augment'], rand: () => number): Uint8Array {
  const S = IMAGE_SIZE, per = S * S * 3;
  const out = new Uint8Array(ids.length * per);
  for (let b = 0; b < ids.length; b++) {
    const src = set.pixels.subarray(ids[b] * per, (ids[b] + 1) * per);
    const dx = aug.pad ? Math.floor(rand() * (2 * aug.pad + 1)) - aug.pad : 0;
    const dy = aug.pad ? Math.floor(rand() * (2 * aug.pad + 1)) - aug.pad : 0;
    const flip = aug.flip && rand() < 0.5;
    const o = b * per;
    for (let y = 0; y < S; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= S) continue; // stays black (zero padding)
      for (let x = 0; x < S; x++) {
        const sx = (flip ? S - 1 - x : x) + dx;
        if (sx < 0 || sx >= S) continue;
        const p = (sy * S + sx) * 3, q = o + (y * S + x) * 3;
        out[q] = src[p]; out[q + 1] = src[p + 1]; out[q + 2] = src[p + 2];
      }
    }
  }
  return out;
}

/** Top-1 accuracy of the model (running BatchNorm statistics) on a set, in batches. */
export function resNetAccuracy(model: ResNetModel, set: LabelledImages, batch = 250): number {
  let correct = 0;
  const per = IMAGE_SIZE * IMAGE_SIZE * 3;
  for (let a = 0; a < set.count; a += batch) {
    const b = Math.min(set.count, a + batch);
    const pred = tf.tidy(() => {
      const x = normalizePixels(model.config, set.pixels.subarray(a * per, b * per), b - a);
      return tf.argMax(model.forward(x).logits, 1);
    });
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < p.length; i++) if (p[i] === set.labels[a + i]) correct++;
  }
  return correct / set.count;
}

/** Everything that shapes the trajectory; a checkpoint resumes only a run with the same fingerprint. */
export function resNetRunFingerprint(o: ResNetRunOptions, train: LabelledImages): string {
  const { workDir: _w, maxSittingSec: _m, checkpointEverySec: _c, validateEverySteps: _v, ...shaping } = o;
  const h = createHash('sha256');
  h.update(JSON.stringify(shaping));
  h.update(new Uint8Array(train.labels.buffer, train.labels.byteOffset, train.labels.byteLength));
  // A sample of pixels (every 997th byte) pins the images without hashing 80 MB at every start.
  const sample = new Uint8Array(Math.ceil(train.pixels.length / 997));
  for (let i = 0, j = 0; i < train.pixels.length; i += 997, j++) sample[j] = train.pixels[i];
  h.update(sample);
  return h.digest('hex');
}

export interface ResNetTrainer {
  model: ResNetModel;
  state: ResNetTrainState;
  dispose(): void;
}

const CHECKPOINT = 'last.safetensors';

/** Trains until the last step or the sitting's time limit; resumes from workDir/last.safetensors. */
export async function runResNetPretraining(o: ResNetRunOptions, train: LabelledImages, val: LabelledImages, cb: RunCallbacks = {}): Promise<ResNetTrainer> {
  const log = cb.log ?? (() => undefined);
  mkdirSync(o.workDir, { recursive: true });
  removeDeadSafetensorsTemps(o.workDir);
  const config = resNetConfigFor(o);
  const model = buildResNet(config, randomResNetWeights(config, o.seed), 'resnet-cifar10');
  model.setTrainable(true);
  const totalSteps = totalStepsOf(o, train.count);
  const fingerprint = resNetRunFingerprint(o, train);
  const state: ResNetTrainState = { step: 0, totalSteps, wallSec: 0, history: [], val: [], bestStep: -1, bestAccuracy: -1 };
  const names = [...model.variables.keys()];
  const trainable = names.filter((n) => model.variables.get(n)!.trainable);
  // Weight decay on convolution kernels and the head's matrix only (BatchNorm and biases are not decayed).
  const decayed = new Set(trainable.filter((n) => n.endsWith('conv.weight') || /conv\d\.weight$/.test(n) || n === 'classifier.weight'));
  const velocity = new Map(trainable.map((n) => [n, tf.variable(tf.zerosLike(model.variables.get(n)!), false)]));

  const path = join(o.workDir, CHECKPOINT);
  if (existsSync(path)) {
    const f = await readSafetensors(path);
    if (f.metadata.fingerprint !== fingerprint) {
      throw new Error(`${path}: checkpoint of another run (fingerprint ${f.metadata.fingerprint?.slice(0, 12)} ≠ ${fingerprint.slice(0, 12)}); use a fresh work directory or the same options`);
    }
    const put = (v: tf.Variable, name: string) => {
      const t = f.get(name);
      v.assign(tf.tensor(t.data as Float32Array, v.shape, 'float32'));
    };
    tf.tidy(() => {
      for (const n of names) put(model.variables.get(n)!, `model/${n}`);
      for (const [n, v] of velocity) put(v, `velocity/${n}`);
    });
    Object.assign(state, JSON.parse(f.metadata.state) as ResNetTrainState);
    log(`resumed from ${path} at step ${state.step}/${totalSteps}`);
  }

  const save = async () => {
    const tensors: Record<string, TensorToWrite> = {};
    for (const n of names) { const v = model.variables.get(n)!; tensors[`model/${n}`] = { shape: v.shape, data: v.dataSync() as Float32Array }; }
    for (const [n, v] of velocity) tensors[`velocity/${n}`] = { shape: v.shape, data: v.dataSync() as Float32Array };
    await writeSafetensors(path, tensors, { fingerprint, state: JSON.stringify(state) });
  };

  const validate = () => {
    const accuracy = resNetAccuracy(model, val);
    state.val.push({ step: state.step, accuracy });
    if (accuracy > state.bestAccuracy) { state.bestAccuracy = accuracy; state.bestStep = state.step; }
    log(`step ${state.step}: validation accuracy ${(100 * accuracy).toFixed(1)}% (${val.count} images)`);
  };

  const started = performance.now();
  let lastSave = started, lastTick = started, sittingSteps = 0;
  const wallAtStart = state.wallSec;
  const order = { epoch: -1, order: new Int32Array(0) };
  const vars = trainable.map((n) => model.variables.get(n)!);
  while (state.step < totalSteps) {
    if (cb.signal?.aborted) break;
    const k = state.step;
    const lr = resNetLearningRate(o, k, totalSteps);
    const ids = batchIndices(o, train.count, k, order);
    const px = augmentBatch(train, ids, o.augment, stepRng(o.seed, k, 1));
    const labels = Int32Array.from(ids, (i) => train.labels[i]);
    const loss = tf.tidy(() => {
      const x = normalizePixels(config, px, ids.length);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), config.num_labels);
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, { training: true }).logits) as tf.Scalar, vars);
      const l = value.dataSync()[0];
      if (Number.isFinite(l)) {
        for (const n of trainable) {
          const w = model.variables.get(n)!, v = velocity.get(n)!;
          const g = decayed.has(n) ? tf.add(grads[w.name], tf.mul(w, o.weightDecay)) : grads[w.name];
          v.assign(tf.add(tf.mul(v, o.momentum), g));
          w.assign(tf.sub(w, tf.mul(v, lr)));
        }
      }
      return l;
    });
    if (!Number.isFinite(loss)) {
      throw new Error(`ResNet pretraining: loss is ${loss} at step ${k}; lower lr (now ${o.lr}) or raise warmupSteps. The last checkpoint (${path}) is from before this step and is kept`);
    }
    state.step = k + 1;
    sittingSteps++;
    const now = performance.now();
    state.wallSec = wallAtStart + (now - started) / 1000;
    state.history.push({ step: state.step, loss, lr, wallSec: Math.round(state.wallSec * 10) / 10 });
    if (now - lastTick > 10_000 || state.step === totalSteps) {
      lastTick = now;
      const perStep = (now - started) / 1000 / sittingSteps;
      const eta = (totalSteps - state.step) * perStep;
      const recent = state.history.slice(-25);
      const msg = `step ${state.step}/${totalSteps} (epoch ${(state.step / stepsPerEpoch(o, train.count)).toFixed(2)}) loss ${(recent.reduce((a, p) => a + p.loss, 0) / recent.length).toFixed(4)} lr ${lr.toExponential(2)} ${(o.batchSize / perStep).toFixed(0)} img/s ETA ${(eta / 60).toFixed(1)} min`;
      log(msg);
      cb.progress?.(state.step / totalSteps, msg);
    }
    const done = state.step === totalSteps;
    if (state.step % o.validateEverySteps === 0 || done) validate();
    if ((now - lastSave) / 1000 > o.checkpointEverySec || done) {
      await save();
      lastSave = performance.now();
    }
    if ((performance.now() - started) / 1000 > o.maxSittingSec && !done) {
      await save();
      log(`sitting time limit reached at step ${state.step}; checkpoint written, run again to resume`);
      break;
    }
  }
  if (cb.signal?.aborted && state.step < totalSteps) await save();
  return {
    model, state,
    dispose() {
      model.dispose();
      for (const v of velocity.values()) v.dispose();
    },
  };
}
