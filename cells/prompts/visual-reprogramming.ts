// Visual reprogramming with output label mapping (Bahng et al.; ILM-VP, Chen et al.; SeMap, "From Visual
// Prompt Learning to Zero-Shot Transfer: Mapping Is All You Need"): the frozen CLIP classifies into its
// *source* label space (default the 1,000 ImageNet names with CLIP's templates), a prompt changes the input
// (a pixel frame, ILM-VP's padding, or VPT tokens), and a label mapping turns source logits into the
// downstream task's logits: cross-entropy is taken through the mapping (label-mapping.ts).
//
// The mapping lives in a non-trainable variable [source × downstream] beside the prompt, so the shared loop
// checkpoints it with the prompt and a resumed run (kill -9) continues with the mapping it had: FLM is
// computed once before epoch 0, ILM before every epoch (`beforeEpoch`, from the prompt as it stands).
//
// The source may also be a supervised CNN (resnet-cifar10 with its own head; source-model.ts): pixel prompts
// only, and the semantic mapping embeds names with another model's text encoder (`nameEncoder`), loaded
// asynchronously, so for it the semantic mapping is set in `beforeEpoch` too (before epoch 0).
import * as tf from '@tensorflow/tfjs';
import { stage, valueCodec } from '../exec/index.ts';
import { backboneOf, currentBackend, isCNNBackbone, type ModelLike, type PromptBackbone } from '../model/index.ts';
import { cosineLogits } from './cosine-logits.ts';
import {
  frequencyMapping, identityMapping, mappingFromMatrix, mappingMatrix, randomMapping, remapsAt,
  semanticMapping, MAPPING_KINDS, type LabelMapping, type MappingKind,
} from './label-mapping.ts';
import { makePixelPrompt, type PixelPrompt } from './pixel-prompts.ts';
import { rng, uniformArray } from './random.ts';
import { registerTrainer } from './registry.ts';
import { IMAGENET_FILE, sourceTemplates, type SourceLabelSpec, type SourceTemplateSpec } from './source-labels.ts';
import { checkNameEncoder, cnnSourceLogits, nameEncoderFiles, nameEncoderFor, sourceNamesFor, type NameEncoderSpec } from './source-model.ts';
import { loadState, saveState, variableFrom } from './state.ts';
import type { PromptTask } from './task.ts';
import { classTextFeatures } from './text-prompt.ts';
import type { Batch, EpochData, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import type { OptimConfig } from './optim.ts';

export type ReprogrammingDesign = 'frame' | 'padding' | 'vpt';

export interface VisualReprogrammingConfig {
  /** The input prompt: Bahng's pixel frame, ILM-VP's padding, or VPT tokens (shallow/deep). */
  design: ReprogrammingDesign;
  /** Source → downstream labels (label-mapping.ts). */
  mapping: MappingKind;
  /**
   * The frozen classifier's label space: for a CLIP 'imagenet1k' (CLIP's curated names) or a list of names;
   * for a supervised CNN 'model' (its own head's labels, e.g. resnet-cifar10's 10).
   */
  sourceLabels: SourceLabelSpec | 'model';
  /** Templates for the source labels' text features (and the downstream names' in semantic matching). */
  sourceTemplates: SourceTemplateSpec;
  /** Semantic mapping: source labels per downstream class (1: one-to-one; m > 1: one-to-many, mean of logits). */
  semanticPerClass: number;
  /** Semantic mapping: whose text encoder embeds the names — 'own' (a CLIP source's) or a CLIP's name, e.g. 'mini-clip' for a CNN source. */
  nameEncoder: NameEncoderSpec;
  /** frame: border width in pixels; 0 = 30 px scaled to the model's input (4 on 32 px). */
  frameSize: number;
  /** padding: the image's size inside the input; 0 = 128/224 of the input (18 on 32 px). */
  innerSize: number;
  /** vpt design: prompt tokens and depth (as `vpt`). */
  vptTokens: number;
  vptDepth: 'shallow' | 'deep';
}

export const VISUAL_REPROGRAMMING_DEFAULTS: VisualReprogrammingConfig = {
  design: 'padding', mapping: 'semantic', sourceLabels: 'imagenet1k', sourceTemplates: 'clip7', semanticPerClass: 1, nameEncoder: 'own',
  frameSize: 0, innerSize: 0, vptTokens: 8, vptDepth: 'shallow',
};

/**
 * Named training recipes for this method (pass as `trainPrompt`'s `optim` and `epochs`). Bahng et al.'s:
 * SGD lr 40, momentum 0.9, no weight decay, cosine; their 1,000-step linear warm-up becomes the shared loop's
 * constant warm-up epoch at lr 0.4 (the loop has no linear ramp), and their 1,000 epochs are yours to set.
 * ILM-VP's (Chen et al.): Adam lr 0.01, no weight decay, no warm-up, lr × 0.1 at 50 % and 72 % of 200 epochs.
 */
export const REPROGRAMMING_PRESETS: Record<'bahng' | 'ilmvp', { optim: Partial<OptimConfig>; epochs?: number }> = {
  bahng: { optim: { lr: 40, momentum: 0.9, weightDecay: 0, warmupEpochs: 1, warmupLr: 0.4 } },
  ilmvp: { optim: { optimizer: 'adam', lr: 0.01, weightDecay: 0, warmupEpochs: 0, schedule: 'step', milestones: [0.5, 0.72], gamma: 0.1 }, epochs: 200 },
};

/** Source-label text features per (model, labels, templates): 1,000 names × 7 templates is worth computing once. */
const sourceTextMemo = new WeakMap<PromptBackbone, Map<string, tf.Tensor2D>>();
function sourceText(model: PromptBackbone, names: string[], templates: string[]): tf.Tensor2D {
  let m = sourceTextMemo.get(model);
  if (!m) sourceTextMemo.set(model, (m = new Map()));
  const key = JSON.stringify([names, templates]);
  let t = m.get(key);
  if (!t || t.isDisposed) {
    t = tf.keep(classTextFeatures(model, names, templates));
    m.set(key, t);
  }
  return t;
}

/** [nTarget × nSource] cosine similarity of downstream names and source labels (both L2-normalised features). */
export function nameSimilarity(model: PromptBackbone, classNames: string[], sourceNames: string[], templates: string[]): Float32Array {
  return tf.tidy(() => {
    const down = classTextFeatures(model, classNames, templates);
    return down.matMul(sourceText(model, sourceNames, templates), false, true).dataSync() as Float32Array;
  });
}

/** `nameSimilarity` with the config's name encoder (the model's own, or another CLIP's for a CNN source). */
export async function nameSimilarityFor(model: PromptBackbone, classNames: string[], sourceNames: string[], templates: string[], nameEncoder: NameEncoderSpec): Promise<Float32Array> {
  return nameSimilarity(await nameEncoderFor(model, nameEncoder), classNames, sourceNames, templates);
}

/**
 * The mapping a config gives before any data is seen (data-driven kinds start at identity until
 * `beforeEpoch`). A semantic mapping through another model's name encoder cannot be computed here (loading
 * it is asynchronous): `undefined`, after the same size checks, and the trainer sets it before epoch 0.
 */
export function initialMapping(model: PromptBackbone, classNames: string[], config: VisualReprogrammingConfig, seed: number): LabelMapping | undefined {
  const names = sourceNamesFor(model, config.sourceLabels);
  const C = classNames.length, Ns = names.length;
  switch (config.mapping) {
    case 'identity': return identityMapping(C, Ns);
    case 'random': return randomMapping(C, Ns, seed);
    case 'semantic':
      checkNameEncoder(model, config.nameEncoder);
      if (config.nameEncoder !== 'own') {
        // The size checks semanticMapping makes, on a similarity matrix of zeros (it has no names yet).
        semanticMapping(new Float32Array(C * Ns), C, Ns, config.semanticPerClass);
        return undefined;
      }
      return semanticMapping(nameSimilarity(model, classNames, names, sourceTemplates(config.sourceTemplates)), C, Ns, config.semanticPerClass);
    case 'frequency': case 'iterative': return { ...identityMapping(C, Ns), kind: config.mapping };
    default: throw new Error(`visual-reprogramming: unknown mapping "${config.mapping as string}"; known: ${MAPPING_KINDS.join(', ')}`);
  }
}

export class VisualReprogrammingTrainer implements PromptTrainer<VisualReprogrammingConfig> {
  readonly method = 'visual-reprogramming';
  readonly input = 'pixels' as const;
  private model!: PromptBackbone;
  private config!: VisualReprogrammingConfig;
  private seed = 0;
  private names!: string[];
  private pixel?: PixelPrompt;
  private shallow?: tf.Variable;
  private deep: tf.Variable[] = [];
  private map!: tf.Variable;
  private nClasses = 0;
  /** A semantic mapping still to compute with an external name encoder (before the first epoch). */
  private pendingNames?: string[];
  /** Source labels per downstream class as last computed (for reports; the variable is the truth). */
  current!: LabelMapping;

  init(model: PromptBackbone, task: TaskClasses, config: VisualReprogrammingConfig, seed: number, from?: PromptState): void {
    this.model = model;
    this.config = config;
    this.seed = seed;
    this.names = sourceNamesFor(model, config.sourceLabels);
    // The source labels' text features, computed here, outside any gradient tape: first computed inside
    // the training step's tape, 1,000 names × 7 templates kept every text activation for backprop and
    // aborted the wasm heap (a run whose zero-shot transfer had not filled the memo first).
    const templates = sourceTemplates(config.sourceTemplates);
    if (!isCNNBackbone(model)) sourceText(model, this.names, templates);
    const S = model.config.vision.imageSize;
    if (config.design === 'vpt' && isCNNBackbone(model)) {
      throw new Error(`visual-reprogramming: the VPT design inserts tokens into a ViT, and ${model.name} is a CNN; use design 'frame' or 'padding'`);
    }
    if (config.design === 'frame' || config.design === 'padding') {
      this.pixel = makePixelPrompt(config.design, { imageSize: S, frameSize: config.frameSize, innerSize: config.innerSize, seed });
    } else if (config.design === 'vpt') {
      const v = model.config.vision;
      if (!(Number.isInteger(config.vptTokens) && config.vptTokens >= 1)) throw new Error('visual-reprogramming: vptTokens must be a whole number ≥ 1');
      const bound = Math.sqrt(6 / (v.numChannels * v.patchSize * v.patchSize + v.hiddenSize));
      const rand = rng(seed);
      const make = () => variableFrom(tf.tensor2d(uniformArray(config.vptTokens * v.hiddenSize, bound, rand), [config.vptTokens, v.hiddenSize]));
      this.shallow = make();
      this.deep = config.vptDepth === 'deep' ? Array.from({ length: v.numLayers - 1 }, make) : [];
    } else {
      throw new Error(`visual-reprogramming: unknown design "${config.design as string}" (frame, padding, vpt)`);
    }
    this.nClasses = task.classNames.length;
    this.map = variableFrom(tf.zeros([this.names.length, this.nClasses]), false);
    this.bindTask(task);
    if (from) this.load(from);
  }

  bindTask(task: TaskClasses): void {
    if (task.classNames.length !== this.nClasses) {
      throw new Error(`visual-reprogramming: the label mapping has ${this.nClasses} downstream classes, task "${task.name}" has ${task.classNames.length}`);
    }
    const m = initialMapping(this.model, task.classNames, this.config, this.seed);
    this.pendingNames = m ? undefined : task.classNames;
    // Until then the mapping is all zeros (every downstream logit 0): nothing trains on it.
    if (m) this.setMapping(m);
    else this.map.assign(tf.zeros([this.names.length, this.nClasses]));
  }

  private setMapping(m: LabelMapping): void {
    this.current = m;
    const t = tf.tensor2d(mappingMatrix(m), [this.names.length, this.nClasses]);
    this.map.assign(t);
    t.dispose();
  }

  /** FLM before epoch 0, ILM before every epoch: the prompted model's source argmax over the training images. */
  async beforeEpoch(epoch: number, data: EpochData, signal: AbortSignal): Promise<void> {
    if (this.pendingNames) {
      const c = this.config;
      const sim = await nameSimilarityFor(this.model, this.pendingNames, this.names, sourceTemplates(c.sourceTemplates), c.nameEncoder);
      this.setMapping(semanticMapping(sim, this.nClasses, this.names.length, c.semanticPerClass));
      this.pendingNames = undefined;
    }
    if (!remapsAt(this.config.mapping, epoch)) return;
    const pred = await this.sourcePredictions(data, signal);
    this.setMapping(frequencyMapping(pred, data.labels, this.nClasses, this.names.length, this.config.mapping as 'frequency' | 'iterative'));
  }

  /** Source-label argmax per training image, in data order (prompt applied, no training mode). */
  async sourcePredictions(data: EpochData, signal: AbortSignal, batchSize = 64): Promise<Int32Array> {
    const pred = new Int32Array(data.count);
    for (let s = 0; s < data.count; s += batchSize) {
      signal.throwIfAborted();
      const rows = Array.from({ length: Math.min(batchSize, data.count - s) }, (_, i) => s + i);
      const { batch } = data.batch(rows);
      const p = tf.tidy(() => this.sourceLogits(batch).argMax(-1));
      pred.set(await p.data(), s);
      tf.dispose([p, batch.pixels, batch.features]);
    }
    return pred;
  }

  variables(): tf.Variable[] {
    return [...this.promptVariables(), this.map];
  }

  private promptVariables(): tf.Variable[] {
    return this.pixel ? [this.pixel.variable] : [this.shallow!, ...this.deep];
  }

  /** Logits over the source labels [B, nSource]. */
  sourceLogits(batch: Batch): tf.Tensor2D {
    if (!batch.pixels) throw new Error('visual-reprogramming: batches must carry pixel_values');
    const model = this.model;
    if (isCNNBackbone(model)) return tf.tidy(() => cnnSourceLogits(model, this.pixel!.apply(batch.pixels!)));
    return tf.tidy(() => {
      const img = this.pixel
        ? this.model.encodeImage(this.pixel.apply(batch.pixels!))
        : this.model.encodeImage(batch.pixels!, { shallow: this.shallow, deep: this.deep });
      return cosineLogits(img, sourceText(this.model, this.names, sourceTemplates(this.config.sourceTemplates)), this.model.logitScale);
    });
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    return tf.tidy(() => this.sourceLogits(batch).matMul(this.map) as tf.Tensor2D);
  }

  private named(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    if (this.pixel) out.prompt = this.pixel.variable;
    else {
      out.shallow = this.shallow!;
      this.deep.forEach((d, i) => (out[`deep.${i + 1}`] = d));
    }
    out.mapping = this.map;
    return out;
  }

  save(): PromptState {
    return saveState(this.named());
  }

  load(state: PromptState): void {
    loadState('visual-reprogramming', state, this.named());
    this.pendingNames = undefined;
    this.current = mappingFromMatrix(this.config.mapping, this.map.dataSync(), this.names.length, this.nClasses);
  }

  dispose(): void {
    this.pixel?.dispose();
    tf.dispose([...(this.shallow ? [this.shallow] : []), ...this.deep, this.map]);
  }
}

registerTrainer<VisualReprogrammingConfig>('visual-reprogramming', {
  // 2: a CNN source's forward folds BatchNorm into its convolutions, which run on conv-direct.c (rounds differently).
  version: 2,
  create: () => new VisualReprogrammingTrainer(),
  defaults: VISUAL_REPROGRAMMING_DEFAULTS,
  describe: 'Visual reprogramming: a pixel frame / padding / VPT prompt on a frozen source classifier (a CLIP over source label names, or a CNN\'s own head), with an output label mapping (identity, random, FLM, ILM, semantic)',
  // The config names the shipped list ('imagenet1k', 'clip7') and maybe a name encoder: their bytes, not their names, belong in the key.
  keyFiles: (c) => [
    ...(c.sourceLabels === 'imagenet1k' || typeof c.sourceTemplates === 'string' ? [IMAGENET_FILE] : []),
    ...(c.mapping === 'semantic' ? nameEncoderFiles(c.nameEncoder) : []),
  ],
  // Training reads the few-shot training images only: evaluating on another test subset reuses the prompt.
  keyOnTrainingRows: true,
});

/** A mapping as a table: per downstream class, its source label names. */
export function mappingTable(m: LabelMapping, classNames: string[], sourceNames: string[]): { class: string; sources: string[] }[] {
  return m.sources.map((list, t) => ({ class: classNames[t], sources: list.map((s) => sourceNames[s]) }));
}

export interface ZeroShotTransferResult {
  method: 'zero-shot-transfer';
  task: string;
  top1: number;
  perClass: number[];
  n: number;
  mapping: { class: string; sources: string[] }[];
  backend: string;
}

export interface ZeroShotTransferOptions {
  /** Default: 'imagenet1k' for a CLIP, 'model' (its own head) for a CNN. */
  sourceLabels?: SourceLabelSpec | 'model';
  sourceTemplates?: SourceTemplateSpec;
  semanticPerClass?: number;
  /** Default 'own' for a CLIP, 'mini-clip' for a CNN (which has no text encoder). */
  nameEncoder?: NameEncoderSpec;
}

/**
 * Stage: SeMap's zero-shot transfer — no prompt, no training: the frozen CLIP classifies the task's test
 * images into the source labels (cached, unprompted image features) and the semantic mapping turns that into
 * a downstream prediction. Compare with `zeroShotPrompt` (the model's own head on the downstream names).
 */
export async function zeroShotTransfer(modelLike: ModelLike, task: PromptTask, opts: ZeroShotTransferOptions = {}): Promise<ZeroShotTransferResult> {
  const model = await backboneOf(modelLike);
  const cnn = isCNNBackbone(model);
  const sourceLabels = opts.sourceLabels ?? (cnn ? 'model' : VISUAL_REPROGRAMMING_DEFAULTS.sourceLabels);
  const templates = opts.sourceTemplates ?? VISUAL_REPROGRAMMING_DEFAULTS.sourceTemplates;
  const semanticPerClass = opts.semanticPerClass ?? 1;
  const nameEncoder = opts.nameEncoder ?? (cnn ? 'mini-clip' : 'own');
  // Version 1's params had no nameEncoder; its keys (CLIP, 'own') are unchanged by leaving it out there.
  const params: Record<string, unknown> = { sourceLabels, templates, semanticPerClass, classNames: task.classNames, ...(nameEncoder === 'own' ? {} : { nameEncoder }) };
  return stage(
    {
      // A CNN's forward version is part of model.fingerprint (resNetCacheIdentity), so no CNN-only bump here.
      name: 'zeroShotTransfer', version: 1, heavy: true, params, inputs: [model.fingerprint, task.testKey],
      files: [...(sourceLabels === 'imagenet1k' || typeof templates === 'string' ? [IMAGENET_FILE] : []), ...nameEncoderFiles(nameEncoder)],
    },
    valueCodec<ZeroShotTransferResult>(),
    async (ctx) => {
      const names = sourceNamesFor(model, sourceLabels);
      const tpl = sourceTemplates(templates);
      const C = task.classNames.length;
      const m = semanticMapping(await nameSimilarityFor(model, task.classNames, names, tpl, nameEncoder), C, names.length, semanticPerClass);
      const w = tf.tensor2d(mappingMatrix(m), [names.length, C]);
      let pred: Int32Array;
      if (isCNNBackbone(model)) {
        // A CNN's source logits come from its head, which the cached (pooled) features do not include: run it on the test images.
        pred = new Int32Array(task.test.count);
        const S = task.imageSize;
        for (let s = 0; s < task.test.count; s += 64) {
          ctx.signal.throwIfAborted();
          const rows = Array.from({ length: Math.min(64, task.test.count - s) }, (_, i) => s + i);
          const px = tf.tensor4d(task.test.pixels(rows), [rows.length, 3, S, S]);
          const p = tf.tidy(() => cnnSourceLogits(model, px).matMul(w).argMax(-1));
          pred.set(await p.data(), s);
          tf.dispose([p, px]);
        }
      } else {
        await task.loadFeatures();
        pred = tf.tidy(() => {
          const img = tf.tensor2d(task.test.features, [task.test.count, task.dim]);
          return cosineLogits(img, sourceText(model, names, tpl), model.logitScale).matMul(w).argMax(-1).dataSync() as Int32Array;
        });
      }
      w.dispose();
      const hit = new Array<number>(C).fill(0), count = new Array<number>(C).fill(0);
      let ok = 0;
      task.test.labels.forEach((l, i) => {
        count[l]++;
        if (pred[i] === l) {
          hit[l]++;
          ok++;
        }
      });
      return {
        method: 'zero-shot-transfer', task: task.name, top1: task.test.count ? ok / task.test.count : 0,
        perClass: hit.map((h, k) => (count[k] ? h / count[k] : NaN)), n: task.test.count,
        mapping: mappingTable(m, task.classNames, names), backend: currentBackend(),
      };
    },
  );
}

