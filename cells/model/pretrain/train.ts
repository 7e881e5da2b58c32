// The pretraining loop: seeded batches, symmetric soft-target InfoNCE, AdamW with warmup + cosine decay,
// a temperature with its own learning rate, gradient clipping, periodic validation and atomic,
// resumable checkpoints (parameters, optimizer state, step, history) in a work directory.
//
// Determinism: step k's batch, augmentation and captions come from stepRng(seed, k, ·) only, and the
// checkpoint holds the full optimizer state, so a run resumed from step k continues exactly as an
// uninterrupted one would (on the same backend and worker count).
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readSafetensors, removeDeadSafetensorsTemps, writeSafetensors } from '../../util/safetensors.ts';
import type { TensorToWrite } from '../../util/safetensors.ts';
import { defaultTokenizer } from '../tokenizer.ts';
import type { CLIPTokenizer } from '../tokenizer.ts';
import { PretrainModel, miniClipConfig, DEFAULT_SHAPE } from './mini-clip-model.ts';
import type { MiniClipShape } from './mini-clip-model.ts';
import { AdamW } from './adamw.ts';
import type { ParamGroup } from './adamw.ts';
import { contrastiveLoss, softTargets } from './loss.ts';
import { assemblePixels, domainIndex, sampleBatch } from './batch.ts';
import type { AugmentOptions } from './batch.ts';
import { stepRng } from './rng.ts';
import { HELDOUT_TEMPLATES, TRAIN_CONTEXT, TRAIN_TEMPLATES, fillTemplate, readableName, sampleCaption, zeroShotPrompts } from './captions.ts';
import type { LexiconEntry, Lexicon } from './lexicon.ts';
import type { ImageSet } from './data.ts';

export interface TrainOptions {
  seed: number;
  shape: MiniClipShape;
  batchSize: number;
  /** Share of each batch drawn from CIFAR-10 (the rest from Fashion-MNIST). */
  cifarShare: number;
  lr: number;
  /** The cosine decays to lr · minLrFraction at totalSteps. */
  minLrFraction: number;
  weightDecay: number;
  warmupSteps: number;
  totalSteps: number;
  /** The temperature's learning rate is lr · this. */
  logitScaleLrScale: number;
  /** Upper clamp of the log temperature (CLIP: ln 100). */
  maxLogitScale: number;
  /** Global gradient-norm clip (0 = off). */
  gradClip: number;
  augment: AugmentOptions;
  /**
   * Start from the weights and optimizer moments of an earlier run's checkpoint (a second phase with its
   * own warmup and cosine: a warm restart). Its content hash joins the run's fingerprint.
   */
  initFrom?: { path: string; sha256: string };
}

export const DEFAULT_TRAIN: TrainOptions = {
  seed: 0, shape: DEFAULT_SHAPE, batchSize: 128, cifarShare: 0.625, lr: 1e-3, minLrFraction: 0.05, weightDecay: 0.1,
  warmupSteps: 100, totalSteps: 1400, logitScaleLrScale: 10, maxLogitScale: Math.log(100), gradClip: 1.0,
  augment: { maxShift: 3, flip: true },
};

export interface HistoryPoint {
  step: number;
  loss: number;
  lr: number;
  logitScale: number;
  /** Seconds of training wall time so far (summed over sittings). */
  wallSec: number;
  imagesSeen: number;
}

export interface ValPoint {
  step: number;
  cifar10: number;
  fashion: number;
}

/** Earlier phases (runs this one was initialised from), flattened, with global step numbers. */
export interface PriorPhases {
  steps: number;
  wallSec: number;
  imagesSeen: number;
  history: HistoryPoint[];
  val: ValPoint[];
  options: TrainOptions[];
}

export interface TrainState {
  prior?: PriorPhases;
  step: number;
  wallSec: number;
  history: HistoryPoint[];
  val: ValPoint[];
  bestStep: number;
  bestScore: number;
}

/** Classes of the pretraining sets in the model's global numbering (CIFAR 0-9, Fashion-MNIST 10-19). */
export function pretrainEntries(lex: Lexicon): LexiconEntry[] {
  const c = lex.datasets.cifar10;
  const f = lex.datasets['fashion-mnist'];
  if (!c || c.length !== 10 || !f || f.length !== 10) throw new Error('lexicon: needs 10 cifar10 and 10 fashion-mnist entries');
  return [...c, ...f];
}

/** Every text the run can tokenize: all caption forms of the training classes and all zero-shot prompts. */
export function vocabularyTexts(lex: Lexicon): string[] {
  const texts: string[] = [];
  for (const e of pretrainEntries(lex)) {
    const names = [readableName(e.name), ...e.synonyms.slice(0, 4)];
    for (const t of TRAIN_TEMPLATES) {
      for (const n of names) {
        texts.push(fillTemplate(t, n));
        for (const h of e.hypernyms.slice(0, 3)) texts.push(fillTemplate(t, `${n}, a kind of ${h}`));
        if (e.gloss) texts.push(`${fillTemplate(t, n).replace(/\.$/, '')}: ${e.gloss}.`);
      }
    }
  }
  for (const entries of Object.values(lex.datasets)) for (const e of entries) texts.push(...zeroShotPrompts(e.name, HELDOUT_TEMPLATES));
  return texts;
}

export function vocabularyIds(tok: CLIPTokenizer, texts: string[]): Int32Array {
  const ids = new Set<number>();
  const b = tok.tokenize(texts, { contextLength: TRAIN_CONTEXT });
  for (const id of b.ids) ids.add(id);
  return Int32Array.from(ids);
}

export function learningRate(o: TrainOptions, step: number): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const p = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
  return o.lr * (o.minLrFraction + (1 - o.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * p)));
}

/** Decay only matrices (HF-style): no decay on biases, LayerNorms, embeddings, the temperature. */
export function paramGroups(params: Map<string, tf.Variable>, o: TrainOptions): Map<string, ParamGroup> {
  const out = new Map<string, ParamGroup>();
  for (const [name, v] of params) {
    if (name === 'logit_scale') out.set(name, { lrScale: o.logitScaleLrScale, weightDecay: 0 });
    else if (v.rank >= 2 && !name.includes('embedding') && name !== 'vocab') out.set(name, { lrScale: 1, weightDecay: o.weightDecay });
    else out.set(name, { lrScale: 1, weightDecay: 0 });
  }
  return out;
}

/** A fingerprint of everything that shapes the trajectory; a checkpoint resumes only a run with the same one. */
export function runFingerprint(options: TrainOptions, vocabIds: Int32Array, trainCount: number): string {
  // A sitting's length, the checkpoint cadence and where the files live do not shape the trajectory: a run
  // started with --minutes 30 must resume with another limit (or from a moved directory).
  const { workDir: _dir, maxSittingSec: _sitting, checkpointEverySec: _every, ...o } = options as TrainOptions & Partial<RunOptions>;
  return createHash('sha256').update(JSON.stringify({ o, v: Array.from(vocabIds).sort((a, b) => a - b), trainCount, backend: tf.getBackend() })).digest('hex').slice(0, 16);
}

export interface Trainer {
  model: PretrainModel;
  opt: AdamW;
  state: TrainState;
  options: TrainOptions;
  fingerprint: string;
  /** Run one step; returns its loss. */
  step(): number;
  save(path: string): Promise<void>;
  /** Load parameters, optimizer state and history from a checkpoint of the same run. */
  load(path: string): Promise<void>;
  /** Take weights, optimizer moments and the earlier phases' history from another run's checkpoint. */
  initFrom(path: string): Promise<void>;
  /** Zero-shot accuracy (held-out templates) on the validation slice, per domain. */
  validate(val: ImageSet): ValPoint;
  dispose(): void;
}

export function createTrainer(o: TrainOptions, lex: Lexicon, train: ImageSet, tok: CLIPTokenizer = defaultTokenizer()): Trainer {
  const entries = pretrainEntries(lex);
  const vocab = vocabularyIds(tok, vocabularyTexts(lex));
  const model = new PretrainModel(miniClipConfig(o.shape), vocab, o.seed);
  const params = model.params();
  const opt = new AdamW(params, paramGroups(params, o));
  const byDomain = domainIndex(train);
  const varNames = new Map<string, string>();
  for (const [name, v] of params) varNames.set(v.name, name);
  const varList = [...params.values()];
  const logit = params.get('logit_scale')!;
  const state: TrainState = { step: 0, wallSec: 0, history: [], val: [], bestStep: -1, bestScore: -1 };
  const fingerprint = runFingerprint(o, vocab, train.count);
  const S = o.shape;
  const imageSize = 32;

  function textFeatures(texts: string[]): tf.Tensor2D {
    const b = tok.tokenize(texts, { contextLength: 77 });
    const { rows, T } = model.subsetIds(b.ids, b.n, b.contextLength, b.eotIndex);
    return model.encodeText(rows, b.n, T, b.eotIndex);
  }

  const trainer: Trainer = {
    model, opt, state, options: o, fingerprint,
    step(): number {
      const t0 = performance.now();
      const k = state.step;
      const rand = stepRng(o.seed, k, 1);
      const ids = sampleBatch(byDomain, o.batchSize, o.cifarShare, rand);
      const classes = Array.from(ids, (i) => train.labels[i]);
      const px = assemblePixels(train, ids, o.augment, rand);
      const captions = classes.map((c) => sampleCaption(entries[c], rand));
      const b = tok.tokenize(captions, { contextLength: TRAIN_CONTEXT });
      const { rows, T } = model.subsetIds(b.ids, b.n, b.contextLength, b.eotIndex);
      const lr = learningRate(o, k);
      const loss = tf.tidy(() => {
        const pixels = tf.tensor4d(px, [o.batchSize, 3, imageSize, imageSize]);
        const targets = tf.tensor2d(softTargets(classes), [o.batchSize, o.batchSize]);
        const { value, grads } = tf.variableGrads(() => {
          const img = model.encodeImage(pixels);
          const txt = model.encodeText(rows, b.n, T, b.eotIndex);
          return contrastiveLoss(img, txt, logit, targets);
        }, varList);
        const named: Record<string, tf.Tensor> = {};
        for (const [vn, g] of Object.entries(grads)) named[varNames.get(vn)!] = g;
        if (o.gradClip > 0) {
          const norm = Math.sqrt(tf.addN(Object.values(named).map((g) => g.square().sum())).dataSync()[0]);
          if (norm > o.gradClip) for (const key of Object.keys(named)) named[key] = named[key].mul(o.gradClip / norm);
        }
        opt.apply(named, lr);
        logit.assign(logit.clipByValue(0, o.maxLogitScale));
        return value.dataSync()[0];
      });
      if (!Number.isFinite(loss)) throw new Error(`mini-CLIP pretraining: loss is ${loss} at step ${k}; lower lr or raise warmupSteps`);
      state.step++;
      state.wallSec += (performance.now() - t0) / 1000;
      state.history.push({ step: k, loss, lr, logitScale: logit.dataSync()[0], wallSec: state.wallSec, imagesSeen: state.step * o.batchSize });
      return loss;
    },
    async save(path: string): Promise<void> {
      const tensors: Record<string, TensorToWrite> = {};
      for (const [name, v] of params) {
        tensors[`param/${name}`] = { shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) };
        tensors[`adam_m/${name}`] = { shape: v.shape, data: Float32Array.from(opt.m.get(name)!.dataSync() as Float32Array) };
        tensors[`adam_v/${name}`] = { shape: v.shape, data: Float32Array.from(opt.v.get(name)!.dataSync() as Float32Array) };
      }
      // The full token table is not trained, but it is part of the exported model: keep it exactly.
      const full = model.clip.tokenEmbedding;
      tensors.token_table = { shape: full.shape, data: Float32Array.from(full.dataSync() as Float32Array) };
      tensors.vocab_ids = { shape: [model.vocabIds.length], data: model.vocabIds };
      await writeSafetensors(path, tensors, {
        fingerprint, options: JSON.stringify(o), state: JSON.stringify(state), adam_t: String(opt.t), backend: tf.getBackend(),
      });
    },
    async load(path: string): Promise<void> {
      const f = await readSafetensors(path);
      const meta = f.metadata ?? {};
      if (meta.fingerprint !== fingerprint) {
        throw new Error(`${path}: checkpoint of another run (fingerprint ${meta.fingerprint} ≠ ${fingerprint}); use a fresh work directory or the same options`);
      }
      for (const [name, v] of params) {
        v.assign(tf.tensor(f.get(`param/${name}`).data as Float32Array, v.shape));
        opt.m.get(name)!.assign(tf.tensor(f.get(`adam_m/${name}`).data as Float32Array, v.shape));
        opt.v.get(name)!.assign(tf.tensor(f.get(`adam_v/${name}`).data as Float32Array, v.shape));
      }
      const full = model.clip.tokenEmbedding;
      full.assign(tf.tensor(f.get('token_table').data as Float32Array, full.shape));
      opt.t = Number(meta.adam_t);
      Object.assign(state, JSON.parse(meta.state) as TrainState);
    },
    async initFrom(path: string): Promise<void> {
      const f = await readSafetensors(path);
      const prev = JSON.parse(f.metadata.state) as TrainState;
      const prevOptions = JSON.parse(f.metadata.options) as TrainOptions;
      for (const [name, v] of params) {
        v.assign(tf.tensor(f.get(`param/${name}`).data as Float32Array, v.shape));
        opt.m.get(name)!.assign(tf.tensor(f.get(`adam_m/${name}`).data as Float32Array, v.shape));
        opt.v.get(name)!.assign(tf.tensor(f.get(`adam_v/${name}`).data as Float32Array, v.shape));
      }
      const full = model.clip.tokenEmbedding;
      full.assign(tf.tensor(f.get('token_table').data as Float32Array, full.shape));
      opt.t = Number(f.metadata.adam_t);
      state.prior = flattenPhases(prev, prevOptions);
    },
    validate(val: ImageSet): ValPoint {
      const acc = tf.tidy(() => {
        const classTexts = entries.map((e) => zeroShotPrompts(e.name, HELDOUT_TEMPLATES));
        const per = HELDOUT_TEMPLATES.length;
        const tf_ = textFeatures(classTexts.flat()).reshape([entries.length, per, -1]).mean(1);
        const cls = tf_.div(tf_.norm('euclidean', 1, true)) as tf.Tensor2D;
        const correct = [0, 0], total = [0, 0];
        for (let s = 0; s < val.count; s += 250) {
          const ids = Array.from({ length: Math.min(250, val.count - s) }, (_, i) => s + i);
          const px = tf.tensor4d(assemblePixels(val, ids, undefined, Math.random), [ids.length, 3, imageSize, imageSize]);
          const sims = tf.matMul(model.encodeImage(px), cls.transpose()).arraySync() as number[][];
          ids.forEach((id, i) => {
            const d = val.domain[id];
            const off = d * 10;
            let best = off;
            for (let c = off; c < off + 10; c++) if (sims[i][c] > sims[i][best]) best = c;
            total[d]++;
            if (best === val.labels[id]) correct[d]++;
          });
        }
        return [correct[0] / Math.max(1, total[0]), correct[1] / Math.max(1, total[1])];
      });
      const p = { step: state.step, cifar10: acc[0], fashion: acc[1] };
      state.val.push(p);
      return p;
    },
    dispose(): void {
      model.dispose();
      opt.dispose();
    },
  };
  void S;
  return trainer;
}

/** All phases of a state (earlier ones first), with global step numbers and summed wall time. */
export function flattenPhases(st: TrainState, o: TrainOptions): PriorPhases {
  const p = st.prior ?? { steps: 0, wallSec: 0, imagesSeen: 0, history: [], val: [], options: [] };
  return {
    steps: p.steps + st.step,
    wallSec: p.wallSec + st.wallSec,
    imagesSeen: p.imagesSeen + st.step * o.batchSize,
    history: [...p.history, ...st.history.map((h) => ({ ...h, step: h.step + p.steps, wallSec: h.wallSec + p.wallSec, imagesSeen: h.imagesSeen + p.imagesSeen }))],
    val: [...p.val, ...st.val.map((v) => ({ ...v, step: v.step + p.steps }))],
    options: [...p.options, o],
  };
}

export interface RunOptions extends TrainOptions {
  workDir: string;
  /** Stop after this many seconds of wall time in this sitting (the run can be resumed later). */
  maxSittingSec: number;
  checkpointEverySec: number;
  validateEverySteps: number;
}

export interface RunCallbacks {
  log?: (line: string) => void;
  progress?: (fraction: number, message: string) => void;
  signal?: AbortSignal;
}

/** Train until totalSteps (or the sitting's time limit), checkpointing to workDir; resumes from workDir/last.safetensors. */
export async function runPretraining(o: RunOptions, lex: Lexicon, train: ImageSet, val: ImageSet, cb: RunCallbacks = {}): Promise<Trainer> {
  const log = cb.log ?? (() => undefined);
  mkdirSync(o.workDir, { recursive: true });
  const trainer = createTrainer(o, lex, train);
  const last = join(o.workDir, 'last.safetensors');
  const best = join(o.workDir, 'best.safetensors');
  removeDeadSafetensorsTemps(o.workDir, ['last.safetensors', 'best.safetensors']);
  if (existsSync(last)) {
    await trainer.load(last);
    log(`resumed from ${last} at step ${trainer.state.step} (${trainer.state.wallSec.toFixed(0)} s trained)`);
  } else if (o.initFrom) {
    await trainer.initFrom(o.initFrom.path);
    log(`initialised from ${o.initFrom.path} (after ${trainer.state.prior?.steps} earlier steps)`);
  }
  const start = performance.now();
  let lastSave = performance.now();
  const st = trainer.state;
  while (st.step < o.totalSteps) {
    if (cb.signal?.aborted) break;
    if ((performance.now() - start) / 1000 > o.maxSittingSec) { log('sitting time limit reached'); break; }
    const loss = trainer.step();
    const h = st.history[st.history.length - 1];
    if (st.step % 10 === 0 || st.step === 1) {
      const recent = st.history.slice(-50);
      const rate = recent.length > 1 ? ((recent.length - 1) * o.batchSize) / (recent[recent.length - 1].wallSec - recent[0].wallSec) : 0;
      const eta = rate > 0 ? ((o.totalSteps - st.step) * o.batchSize) / rate : NaN;
      const msg = `step ${st.step}/${o.totalSteps} loss ${loss.toFixed(4)} lr ${h.lr.toExponential(2)} T ${Math.exp(h.logitScale).toFixed(1)} ${rate.toFixed(1)} img/s ETA ${(eta / 60).toFixed(1)} min`;
      log(msg);
      cb.progress?.(st.step / o.totalSteps, msg);
    }
    const done = st.step === o.totalSteps;
    if (st.step % o.validateEverySteps === 0 || done) {
      const v = trainer.validate(val);
      const score = (v.cifar10 + v.fashion) / 2;
      log(`val step ${st.step}: CIFAR-10 ${(100 * v.cifar10).toFixed(1)}%  Fashion-MNIST ${(100 * v.fashion).toFixed(1)}%`);
      if (score > st.bestScore) {
        st.bestScore = score;
        st.bestStep = st.step;
        await trainer.save(best);
      }
    }
    if ((performance.now() - lastSave) / 1000 > o.checkpointEverySec || done) {
      await trainer.save(last);
      lastSave = performance.now();
    }
    await new Promise((r) => setImmediate(r));
  }
  await trainer.save(last);
  return trainer;
}
