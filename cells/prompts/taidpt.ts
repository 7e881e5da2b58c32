// TaI-DPT (Guo et al., "Texts as Images in Prompt Tuning for Multi-Label Image Recognition", CVPR 2023):
// prompts for multi-label recognition trained on texts only. A caption plays the image: its EOT feature is
// the "global image feature" and its per-token features are the "local features"; labels come from the
// words it contains (caption-labels.ts). At test time the same two prompts score real images: the image
// embedding against the global prompt, the dense patch features (cells/model/dense.ts) against the local one.
//
// Two contexts shared by all classes, global and local, M = 16 tokens each, N(0, 0.02²); class prompt
// "[SOS] ctx… <class name> . [EOS]" through the frozen text tower (text-prompt.ts's layout, class at the end).
//   training: s_glob = 4·cos(g, t_glob);  s_loc = Σ_l 4·S_l·softmax_l(50·S_l),  S_l = cos(H_l, t_loc)
//             loss = rank(s_glob) + rank(s_loc), rank = mean_b Σ_pos Σ_neg max(0, 1 − s_p + s_n)
//   test:     the same with g = image embedding, H = patch features, τ = 40; final = ½·global + ½·local.
//
// Why a multi-label method of the registry (registerMultiLabelMethod, at the end) and not a PromptTrainer: the
// shared loop (train.ts) takes a softmax cross-entropy over one integer label per *image* from cached image
// features; TaI-DPT's batches are texts with label *sets* and a ranking loss on two score heads, and its
// evaluation is mAP on multi-label images. As a PromptTrainer the few-shot protocol would train it on images
// with the wrong loss; as a multi-label method getTrainer refuses it by name. Its loop, `fitDualPrompts`
// (shared with the image-trained prompt, multilabel-image.ts), keeps the shared recipe's pieces —
// `learningRate` (warm-up + cosine), PyTorch SGD with momentum and weight decay, per-epoch safetensors
// checkpoints of prompts *and* momentum (a killed run resumes from its last epoch, shuffles seeded per epoch),
// progress with ETA, cancellation between steps, `TrainingDivergedError` on a NaN/Inf loss (that step's
// update not applied, the last checkpoint kept). Evaluation can add the image-trained prompt and the paper's
// fusion, (1 − r)·minmax(TaI-DPT) + r·minmax(image-trained).
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { tableFromArrays, type Table } from 'apache-arrow';
import { stage, valueCodec, CancelledError, type StageContext } from '../exec/index.ts';
import {
  backboneOf, defaultTokenizer, denseImageFeatures, denseTextFeatures, currentBackend, type CLIPModel, type PromptBackbone,
} from '../model/index.ts';
import { HELDOUT_TEMPLATES } from '../model/pretrain/index.ts';
import { preprocessInto } from '../data/preprocess.ts';
import type { MultiLabelImageSet } from '../data/mosaic.ts';
import { sha256 } from '../util/hash.ts';
import { mixSeed } from '../util/random.ts';
import { frozenPromptParts, assemblePrompts, classTextFeatures, type FrozenPromptParts } from './text-prompt.ts';
import { checkOptim, learningRate, type OptimConfig } from './optim.ts';
import { normalArray, rng, shuffled } from './random.ts';
import { loadState, saveState, variableFrom } from './state.ts';
import { checkFinite } from './train.ts';
import { PromptOptimizer, type CurvePoint } from './optimizer.ts';
import type { PromptState } from './trainer.ts';
import type { TextTrainingSet } from './caption-labels.ts';
import { cosine, cosineNormalized, normalizeRows, fuseScores, localScores, localScoresByClass, rankingLoss, meanAveragePrecision, TAI_SCALE } from './multilabel.ts';
import { registerMultiLabelMethod } from './registry.ts';

export interface TaIDPTConfig {
  /** Context tokens per prompt (global and local each). */
  nCtx: number;
  /** Std of the N(0, σ²) initialisation. */
  initStd: number;
  /** Softmax temperature of the local aggregation over caption tokens (training). */
  tauText: number;
  /** The same over image locations (test). */
  tauImage: number;
  /** Weight of the local score in the final one: (1 − w)·global + w·local. */
  localWeight: number;
  /** Captions are cut at this many tokens (SOS and EOT included). */
  maxTokens: number;
}
/** The paper's settings; maxTokens 32 = mini-CLIP's pretraining caption length (later positions never trained). */
export const TAIDPT_DEFAULTS: TaIDPTConfig = { nCtx: 16, initStd: 0.02, tauText: 50, tauImage: 40, localWeight: 0.5, maxTokens: 32 };
/** SGD momentum 0.9, wd 5e-4, 1 warm-up epoch at 1e-5 then cosine, batch 512 captions; lr 1e-3 (the paper's range is 1e-4…1e-3). */
export const TAIDPT_OPTIM: OptimConfig = { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4, batchSize: 512, warmupEpochs: 1, warmupLr: 1e-5, dropLast: false };

/** The two learned contexts and the class prompts they make. */
export class TaIDPTPrompts {
  readonly ctxGlobal: tf.Variable;
  readonly ctxLocal: tf.Variable;
  private parts: FrozenPromptParts;

  constructor(private readonly model: PromptBackbone, classNames: string[], readonly config: Pick<TaIDPTConfig, 'nCtx' | 'initStd'>, seed: number, state?: PromptState) {
    const D = model.config.text.hiddenSize, M = config.nCtx;
    this.ctxGlobal = variableFrom(tf.tensor(normalArray(M * D, config.initStd, rng(mixSeed(seed, 1))), [M, D]));
    this.ctxLocal = variableFrom(tf.tensor(normalArray(M * D, config.initStd, rng(mixSeed(seed, 2))), [M, D]));
    this.parts = frozenPromptParts(model, classNames, M);
    if (state) this.load(state);
  }

  variables(): tf.Variable[] {
    return [this.ctxGlobal, this.ctxLocal];
  }

  /** Class text features [C, P] (not normalised) of the global and the local prompt. */
  classFeatures(): { global: tf.Tensor2D; local: tf.Tensor2D } {
    return tf.tidy(() => {
      const two = tf.concat([assemblePrompts(this.parts, this.ctxGlobal, 'end'), assemblePrompts(this.parts, this.ctxLocal, 'end')], 0) as tf.Tensor3D;
      const eot = new Int32Array(2 * this.parts.nClasses);
      eot.set(this.parts.eot); eot.set(this.parts.eot, this.parts.nClasses);
      const f = this.model.encodeTextEmbeddings(two, eot);
      const C = this.parts.nClasses;
      return { global: f.slice([0, 0], [C, -1]) as tf.Tensor2D, local: f.slice([C, 0], [C, -1]) as tf.Tensor2D };
    });
  }

  /**
   * Scores [B, C] from a global feature [B, P] and local features [B, L, P] (mask [B, L], null: all valid):
   * s_glob = 4·cos(g, t_glob), s_loc = Σ_l 4·S·softmax(τ·S). `normalized`: both went through
   * `normalizeRows` already (the training loop does it once for all its samples).
   */
  scores(global: tf.Tensor2D, local: tf.Tensor3D, mask: tf.Tensor2D | null, tau: number, normalized = false): { global: tf.Tensor2D; local: tf.Tensor2D } {
    return tf.tidy(() => {
      const t = this.classFeatures();
      const [B, L, P] = local.shape;
      if (normalized) {
        // The training step's layout: cosines class-major [C, B, L] (multilabel.ts localScoresByClass).
        const simT = tf.matMul(normalizeRows(t.local), local.reshape([B * L, P]) as tf.Tensor2D, false, true).reshape([-1, B, L]) as tf.Tensor3D;
        return { global: cosineNormalized(global, t.global).mul(TAI_SCALE) as tf.Tensor2D, local: localScoresByClass(simT, mask, tau) };
      }
      const sim = cosine(local.reshape([B * L, P]) as tf.Tensor2D, t.local).reshape([B, L, -1]) as tf.Tensor3D;
      return { global: cosine(global, t.global).mul(TAI_SCALE) as tf.Tensor2D, local: localScores(sim, mask, tau) };
    });
  }

  save(): PromptState {
    return saveState({ ctxGlobal: this.ctxGlobal, ctxLocal: this.ctxLocal });
  }

  load(state: PromptState): void {
    loadState('taidpt', state, { ctxGlobal: this.ctxGlobal, ctxLocal: this.ctxLocal });
  }

  dispose(): void {
    this.parts.dispose();
    tf.dispose([this.ctxGlobal, this.ctxLocal]);
  }
}

/** Frozen caption features: per-token (normalised, padding zero) [N, T, P], the EOT rows [N, P], the mask [N, T]. */
export interface CaptionFeatures {
  n: number;
  T: number;
  P: number;
  tokens: Float32Array;
  global: Float32Array;
  mask: Float32Array;
}

/**
 * Runs the frozen text tower once over the training texts (positions SOS…EOT are valid). The texts go through
 * in batches of similar length (sorted by token count, stable): the tower stops each batch after its longest
 * text's EOT, and with a causal mask a valid position never sees the padding after it, so batching by length
 * only skips work — WordNet's glosses average 13 of the 32 tokens, and batches in corpus order were padded to
 * 2.4× the real tokens. Rows come back in the texts' order.
 */
export async function captionFeatures(model: CLIPModel, texts: readonly string[], maxTokens: number, signal?: AbortSignal, progress?: (f: number) => void, batchSize = 256): Promise<CaptionFeatures> {
  const n = texts.length, T = maxTokens, P = model.config.projectionDim;
  const tokens = new Float32Array(n * T * P), global = new Float32Array(n * P), mask = new Float32Array(n * T);
  const all = defaultTokenizer().tokenize([...texts], { contextLength: T });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => all.eotIndex[a] - all.eotIndex[b] || a - b);
  for (let s = 0; s < n; s += batchSize) {
    signal?.throwIfAborted();
    const rows = order.slice(s, s + batchSize), m = rows.length;
    const ids = new Int32Array(m * T), eot = new Int32Array(m);
    rows.forEach((row, i) => { ids.set(all.ids.subarray(row * T, (row + 1) * T), i * T); eot[i] = all.eotIndex[row]; });
    const d = denseTextFeatures(model, ids, m, T, eot);
    const t = d.tokens.shape[1];
    const [tn, gn] = tf.tidy(() => [
      d.tokens.div(tf.maximum(d.tokens.norm('euclidean', -1, true), 1e-12)),
      d.global.div(tf.maximum(d.global.norm('euclidean', -1, true), 1e-12)),
    ]);
    const tv = await tn.data(), gv = await gn.data();
    tf.dispose([d.tokens, d.global, tn, gn]);
    rows.forEach((row, i) => {
      const len = eot[i] + 1;
      tokens.set(tv.subarray(i * t * P, (i * t + len) * P), row * T * P);
      mask.fill(1, row * T, row * T + len);
      global.set(gv.subarray(i * P, (i + 1) * P), row * P);
    });
    progress?.(Math.min(1, (s + m) / n));
    await new Promise((r) => setImmediate(r));
  }
  return { n, T, P, tokens, global, mask };
}

/** Identity of a training text set: its texts and labels (what the stage is keyed by). */
export function textSetFingerprint(set: TextTrainingSet): string {
  return sha256(JSON.stringify({ classNames: set.classNames, texts: set.texts, labels: Array.from(set.labels) }));
}

export interface TaIDPTOptions {
  config?: Partial<TaIDPTConfig>;
  optim?: Partial<OptimConfig>;
  /** Default 20 (the paper). */
  epochs?: number;
  seed?: number;
}

export interface TrainedTaIDPT {
  method: 'taidpt';
  config: TaIDPTConfig;
  optim: OptimConfig;
  epochs: number;
  seed: number;
  classNames: string[];
  modelFingerprint: string;
  textSetFingerprint: string;
  texts: number;
  state: PromptState;
  curve: CurvePoint[];
  backend: string;
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
}

/**
 * A multi-label method's options with its defaults filled in and checked (unknown config keys, epochs,
 * optimiser): TaI-DPT's and the image-trained prompt's runs are resolved alike.
 */
export function resolveDualPromptRun<C extends object>(
  label: string, defaults: C, optimDefaults: OptimConfig,
  opts: { config?: Partial<C>; optim?: Partial<OptimConfig>; epochs?: number; seed?: number },
): { config: C; optim: OptimConfig; epochs: number; seed: number } {
  for (const k of Object.keys(opts.config ?? {})) if (!(k in defaults)) throw new Error(`${label}: unknown config key "${k}" (known: ${Object.keys(defaults).join(', ')})`);
  const epochs = opts.epochs ?? 20;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`${label}: epochs must be a positive integer, got ${epochs}`);
  const optim: OptimConfig = { ...optimDefaults, ...opts.optim };
  checkOptim(optim);
  return { config: { ...defaults, ...opts.config }, optim, epochs, seed: opts.seed ?? 1 };
}

/**
 * Stage: TaI-DPT's two prompts trained on a text set; keyed by the text set, config, optimiser, epochs, seed,
 * model. The test-time settings (`tauImage`, `localWeight`) are not part of the key — training never reads
 * them — so changing them re-evaluates without re-training; the result carries the config as requested.
 */
export async function trainTaIDPT(model: CLIPModel, set: TextTrainingSet, opts: TaIDPTOptions = {}): Promise<TrainedTaIDPT> {
  const r = resolveDualPromptRun('taidpt', TAIDPT_DEFAULTS, TAIDPT_OPTIM, opts);
  const fp = textSetFingerprint(set);
  const { tauImage: _tauImage, localWeight: _localWeight, ...trainingConfig } = r.config;
  const trained = await stage(
    {
      // 2: the captions encoded in batches of similar length (the same features up to rounding, ≤ 3e-7),
      // the local cosines class-major in the step (multilabel.ts localScoresByClass; the same up to rounding).
      name: 'trainTaIDPT', version: 2, heavy: true,
      params: { config: trainingConfig, optim: r.optim, epochs: r.epochs, seed: r.seed },
      inputs: [model.fingerprint, fp],
      pins: [{ kind: 'model', name: model.id, fingerprint: model.fingerprint }],
    },
    valueCodec<TrainedTaIDPT>(),
    async (ctx) => runTaIDPT(model, set, fp, r, ctx, join(await ctx.workDir(), 'checkpoint.safetensors')),
  );
  return { ...trained, config: r.config };
}

/** The training run itself (the stage's body; exported for tests that drive it without the cache). */
export async function runTaIDPT(
  model: CLIPModel, set: TextTrainingSet, fp: string, r: { config: TaIDPTConfig; optim: OptimConfig; epochs: number; seed: number },
  ctx: Pick<StageContext, 'signal' | 'progress' | 'log'>, checkpoint?: string,
): Promise<TrainedTaIDPT> {
  const { config, optim, epochs, seed } = r;
  const backbone = await backboneOf(model);
  const C = set.classNames.length;
  const label = `trainTaIDPT(${C} classes, ${set.texts.length} texts, seed ${seed})`;
  if (set.texts.length === 0) throw new Error(`${label}: no training texts`);
  ctx.progress(0, 'encoding the training texts');
  const feats = await captionFeatures(model, set.texts, config.maxTokens, ctx.signal);
  const prompts = new TaIDPTPrompts(backbone, set.classNames, config, seed);
  try {
    const fit = await fitDualPrompts(prompts, { ...feats, L: feats.T, local: feats.tokens, labels: set.labels, C }, config.tauText,
      { optim, epochs, seed }, ctx, { label, checkpoint, format: 'promptscope-taidpt-checkpoint' });
    return {
      method: 'taidpt', config, optim, epochs, seed, classNames: set.classNames, modelFingerprint: model.fingerprint,
      textSetFingerprint: fp, texts: feats.n, state: prompts.save(), backend: currentBackend(), ...fit,
    };
  } finally {
    prompts.dispose();
  }
}

/**
 * What the two prompts are fitted to: per sample a global feature [n, P], local features [n, L, P] with a
 * validity mask [n, L] (null: every position valid, as for image patches), and 0/1 labels [n, C].
 */
export interface RankingTrainingData {
  n: number;
  L: number;
  P: number;
  C: number;
  global: Float32Array;
  local: Float32Array;
  mask: Float32Array | null;
  labels: ArrayLike<number>;
}

export interface FitResult {
  curve: CurvePoint[];
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
}

/**
 * The multi-label loop shared by TaI-DPT (texts play the images) and the image-trained prompt
 * (multilabel-image.ts): ranking loss on the global and on the local score, the shared recipe's pieces —
 * warm-up + cosine `learningRate`, `PromptOptimizer` (PyTorch SGD with momentum and weight decay), a
 * per-epoch safetensors checkpoint of prompts and momentum (a killed run resumes after its last epoch; the
 * shuffle is seeded per epoch, so the resumed run is bit-identical), progress with ETA, cancellation between
 * steps, `TrainingDivergedError` on a NaN/Inf loss (that step not applied, the last checkpoint kept).
 */
export async function fitDualPrompts(
  prompts: TaIDPTPrompts, data: RankingTrainingData, tau: number, r: { optim: OptimConfig; epochs: number; seed: number },
  ctx: Pick<StageContext, 'signal' | 'progress' | 'log'>, io: { label: string; checkpoint?: string; format: string },
): Promise<FitResult> {
  const { optim, epochs, seed } = r;
  const { label, checkpoint } = io;
  const { n, L, P, C } = data;
  if (n === 0) throw new Error(`${label}: no training samples`);
  if (data.labels.length !== n * C) throw new Error(`${label}: labels hold ${data.labels.length} values, expected ${n} × ${C}`);
  // The features are frozen: normalised once here, not in every step's cosine (where it was half the step),
  // and kept as tensors that each step gathers its rows from (no per-step arrays for the GC, no upload).
  const all = {
    global: tf.tensor2d(await normalizedRows(data.global, P), [n, P]),
    local: tf.tensor3d(await normalizedRows(data.local, P), [n, L, P]),
    mask: data.mask ? tf.tensor2d(data.mask, [n, L]) : null,
    labels: tf.tensor2d(Float32Array.from(data.labels), [n, C]),
  };
  const vars = prompts.variables();
  const sgd = new PromptOptimizer(vars, optim);
  const curve: CurvePoint[] = [];
  let start = 0, resumedAfterEpoch = -1;
  try {
    const resumed = await sgd.restore(checkpoint);
    if (resumed) {
      curve.push(...resumed.curve);
      start = resumed.epoch + 1;
      resumedAfterEpoch = resumed.epoch;
      ctx.log(`${label}: resumed after epoch ${start} from its checkpoint`);
    }
    const B = optim.batchSize;
    const perEpoch = optim.dropLast && n >= B ? Math.floor(n / B) : Math.ceil(n / B);
    let done = 0, stepMs = 0;
    for (let epoch = start; epoch < epochs; epoch++) {
      const lr = learningRate(epoch, epochs, optim);
      const order = shuffled(Array.from({ length: n }, (_, i) => i), rng(mixSeed(seed, epoch, 101)));
      let lossSum = 0, seen = 0;
      const e0 = Date.now();
      for (let step = 0; step < perEpoch; step++) {
        if (ctx.signal.aborted) throw new CancelledError(`${label}: cancelled at epoch ${epoch + 1}, step ${step + 1}`);
        const rows = order.slice(step * B, Math.min(n, (step + 1) * B));
        const s0 = Date.now();
        const at = tf.tensor1d(rows, 'int32');
        const H = tf.gather(all.local, at) as tf.Tensor3D, g = tf.gather(all.global, at) as tf.Tensor2D;
        const mask = all.mask ? tf.gather(all.mask, at) as tf.Tensor2D : null, labels = tf.gather(all.labels, at) as tf.Tensor2D;
        const { value, grads } = tf.variableGrads(() => {
          const s = prompts.scores(g, H, mask, tau, true);
          return rankingLoss(s.global, labels).add(rankingLoss(s.local, labels)) as tf.Scalar;
        }, vars);
        const loss = (await value.data())[0];
        tf.dispose([value, at, H, g, labels, ...(mask ? [mask] : [])]);
        if (!Number.isFinite(loss)) {
          tf.dispose(grads);
          checkFinite(label, epoch, step, loss, checkpoint, epoch - 1);
        }
        sgd.step(grads, optim, lr);
        tf.dispose(grads);
        stepMs += Date.now() - s0;
        lossSum += loss * rows.length; seen += rows.length; done++;
        // The session adds the ETA beside the bar (it was printed twice).
        ctx.progress((epoch + (step + 1) / perEpoch) / epochs, `epoch ${epoch + 1}/${epochs} step ${step + 1}/${perEpoch} loss ${loss.toFixed(4)}`);
        await new Promise((res) => setImmediate(res));
      }
      curve.push({ epoch: epoch + 1, lr, loss: lossSum / seen, acc: NaN, ms: Date.now() - e0 });
      if (checkpoint) await sgd.save(checkpoint, epoch, curve, io.format);
    }
    return { curve, resumedAfterEpoch, steps: epochs * perEpoch, msPerStep: done ? stepMs / done : 0 };
  } finally {
    sgd.dispose();
    tf.dispose([all.global, all.local, all.labels, ...(all.mask ? [all.mask] : [])]);
  }
}

/** `normalizeRows` over a row-major [rows, P] array, in chunks (a copy; zero rows stay zero). */
async function normalizedRows(x: Float32Array, P: number, chunkRows = 8192): Promise<Float32Array> {
  const out = new Float32Array(x.length), rows = x.length / P;
  for (let r = 0; r < rows; r += chunkRows) {
    const m = Math.min(chunkRows, rows - r);
    const t = tf.tidy(() => normalizeRows(tf.tensor2d(x.subarray(r * P, (r + m) * P), [m, P])));
    out.set(await t.data(), r * P);
    t.dispose();
  }
  return out;
}

/** Frozen features of a multi-label image set (mosaics or COCO): image embeddings [N, P] and patch features [N, L, P], both normalised. */
export interface DenseImageSet {
  n: number;
  L: number;
  P: number;
  global: Float32Array;
  patches: Float32Array;
}

/** Stage: the image tower once over a multi-label image set (global + dense features); keyed by the set's fingerprint and the model. */
export async function mosaicFeatures(model: CLIPModel, set: MultiLabelImageSet, batchSize = 64): Promise<DenseImageSet> {
  return stage(
    { name: 'mosaicFeatures', version: 1, heavy: true, params: { batchSize }, inputs: [model.fingerprint, set.fingerprint],
      pins: [{ kind: 'model', name: model.id, fingerprint: model.fingerprint }] },
    valueCodec<DenseImageSet>(),
    async (ctx) => {
      const S = model.config.vision.imageSize, P = model.config.projectionDim, L = (S / model.config.vision.patchSize) ** 2;
      const global = new Float32Array(set.count * P), patches = new Float32Array(set.count * L * P);
      for (let s = 0; s < set.count; s += batchSize) {
        ctx.signal.throwIfAborted();
        const m = Math.min(batchSize, set.count - s);
        const px = new Float32Array(m * 3 * S * S);
        for (let i = 0; i < m; i++) preprocessInto(set.image(s + i), S, px, i * 3 * S * S);
        const pt = tf.tensor4d(px, [m, 3, S, S]);
        const d = denseImageFeatures(model, pt);
        const [g, p] = tf.tidy(() => [
          d.global.div(tf.maximum(d.global.norm('euclidean', -1, true), 1e-12)),
          d.patches.div(tf.maximum(d.patches.norm('euclidean', -1, true), 1e-12)),
        ]);
        global.set(await g.data(), s * P);
        patches.set(await p.data(), s * L * P);
        tf.dispose([pt, d.global, d.patches, g, p]);
        ctx.progress((s + m) / set.count, `${s + m}/${set.count} mosaics`);
      }
      return { n: set.count, L, P, global, patches };
    },
  );
}

/** Score matrices [N, C] (row-major) of every compared method; the last two only with an image-trained prompt. */
export interface TaIDPTScores {
  zeroShot: Float32Array;
  global: Float32Array;
  local: Float32Array;
  taidpt: Float32Array;
  /** The image-trained multi-label prompt (multilabel-image.ts). */
  image?: Float32Array;
  /** (1 − r)·minmax(TaI-DPT) + r·minmax(image-trained), the paper's fusion. */
  fused?: Float32Array;
}

/** The final score of two trained prompts on a dense image set: (1 − w)·global + w·local, and both parts. */
export async function dualPromptScores(
  model: CLIPModel, classNames: string[], config: Pick<TaIDPTConfig, 'nCtx' | 'initStd'>, seed: number, state: PromptState,
  images: DenseImageSet, tau: number, localWeight: number,
): Promise<{ global: Float32Array; local: Float32Array; final: Float32Array }> {
  const backbone = await backboneOf(model);
  const prompts = new TaIDPTPrompts(backbone, classNames, config, seed, state);
  try {
    const out = tf.tidy(() => {
      const g = tf.tensor2d(images.global, [images.n, images.P]);
      const p = tf.tensor3d(images.patches, [images.n, images.L, images.P]);
      const s = prompts.scores(g, p, null, tau);
      return [s.global, s.local, s.global.mul(1 - localWeight).add(s.local.mul(localWeight))];
    });
    const [global, local, final] = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(out);
    return { global, local, final };
  } finally {
    prompts.dispose();
  }
}

/** Zero-shot CLIP and the trained prompts' scores on a dense image set (no stage: cheap matrix products). */
export async function taidptScores(
  model: CLIPModel, trained: TrainedTaIDPT, images: DenseImageSet, opts: TaIDPTEvaluateOptions = {},
): Promise<TaIDPTScores> {
  const backbone = await backboneOf(model);
  const zsT = tf.tidy(() => cosine(tf.tensor2d(images.global, [images.n, images.P]), classTextFeatures(backbone, trained.classNames, [...(opts.zeroShotTemplates ?? HELDOUT_TEMPLATES)])));
  const zeroShot = (await zsT.data()) as Float32Array;
  zsT.dispose();
  const t = await dualPromptScores(model, trained.classNames, trained.config, trained.seed, trained.state, images, trained.config.tauImage, trained.config.localWeight);
  const scores: TaIDPTScores = { zeroShot, global: t.global, local: t.local, taidpt: t.final };
  const ip = opts.imagePrompt;
  if (ip) {
    if (ip.classNames.join('\n') !== trained.classNames.join('\n')) throw new Error(`evaluateTaIDPT: the image-trained prompt's classes (${ip.classNames.join(', ')}) differ from TaI-DPT's (${trained.classNames.join(', ')})`);
    const r = opts.r ?? FUSION_R;
    if (!(r >= 0 && r <= 1)) throw new Error(`evaluateTaIDPT: the fusion weight r must be in [0, 1], got ${r}`);
    const im = await dualPromptScores(model, ip.classNames, ip.config, ip.seed, ip.state, images, ip.config.tau, ip.config.localWeight);
    scores.image = im.final;
    scores.fused = Float32Array.from(fuseScores(t.final, im.final, r));
  }
  return scores;
}

/** The paper's fusion weight with an image-trained prompt (DualCoOp): 0.9. */
export const FUSION_R = 0.9;

/** What scoring needs of an image-trained prompt (multilabel-image.ts's TrainedImagePrompt; structural, so no import cycle). */
export interface ImagePromptForScoring {
  classNames: string[];
  config: { nCtx: number; initStd: number; tau: number; localWeight: number };
  seed: number;
  state: PromptState;
}

export interface TaIDPTEvaluateOptions {
  /** Zero-shot templates (default mini-CLIP's held-out ones). */
  zeroShotTemplates?: readonly string[];
  /** An image-trained multi-label prompt: adds its rows and the fused ensemble's. */
  imagePrompt?: ImagePromptForScoring;
  /** Fusion weight: (1 − r)·TaI-DPT + r·image-trained, each min–max normalised (default FUSION_R). */
  r?: number;
}

export interface TaIDPTEvaluation {
  scores: TaIDPTScores;
  /** One row per method: method, mAP (0–100). */
  summary: Table;
  /** Tidy per-class AP: method, className, ap (0–100), positives. */
  perClass: Table;
  mAP: Partial<Record<keyof TaIDPTScores, number>> & Record<'zeroShot' | 'global' | 'local' | 'taidpt', number>;
}

export const TAIDPT_METHOD_LABELS: Record<keyof TaIDPTScores, string> = {
  zeroShot: 'zero-shot CLIP', global: 'TaI global only', local: 'TaI local only', taidpt: 'TaI-DPT',
  image: 'image-trained prompt', fused: 'fused TaI-DPT + image',
};

/**
 * mAP and per-class AP on a mosaic set of zero-shot CLIP, TaI global only, TaI local only and TaI-DPT, and,
 * given an image-trained prompt, of it and of the fused ensemble. The test-time settings (τ, the local
 * weight, r) are read here only, so changing them never re-trains.
 */
export async function evaluateTaIDPT(model: CLIPModel, trained: TrainedTaIDPT, set: MultiLabelImageSet, opts: TaIDPTEvaluateOptions = {}): Promise<TaIDPTEvaluation> {
  const images = await mosaicFeatures(model, set);
  const scores = await taidptScores(model, trained, images, opts);
  const C = set.classNames.length;
  const methods = (Object.keys(TAIDPT_METHOD_LABELS) as (keyof TaIDPTScores)[]).filter((m) => scores[m]);
  const mAP = {} as TaIDPTEvaluation['mAP'];
  const sm: string[] = [], sv: number[] = [];
  const pm: string[] = [], pc: string[] = [], pa: number[] = [], pp: number[] = [];
  const positives = set.classNames.map((_, c) => { let k = 0; for (let i = 0; i < set.count; i++) k += set.labels[i * C + c]; return k; });
  for (const m of methods) {
    const r = meanAveragePrecision(scores[m]!, set.labels, set.count, C);
    mAP[m] = r.mAP * 100;
    sm.push(TAIDPT_METHOD_LABELS[m]); sv.push(r.mAP * 100);
    r.perClass.forEach((ap, c) => { pm.push(TAIDPT_METHOD_LABELS[m]); pc.push(set.classNames[c]); pa.push(ap * 100); pp.push(positives[c]); });
  }
  return {
    scores, mAP,
    summary: tableFromArrays({ method: sm, mAP: Float64Array.from(sv) }) as unknown as Table,
    perClass: tableFromArrays({ method: pm, className: pc, ap: Float64Array.from(pa), positives: Int32Array.from(pp) }) as unknown as Table,
  };
}

registerMultiLabelMethod<TextTrainingSet, TaIDPTOptions, TrainedTaIDPT>('taidpt', {
  trainsOn: 'texts',
  describe: 'TaI-DPT: a global and a local prompt trained on labelled texts with a ranking loss, applied to images',
  train: trainTaIDPT,
});
