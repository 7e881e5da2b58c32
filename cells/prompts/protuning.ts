// Pro-tuning (Nie et al., "Pro-tuning: Unified Prompt Tuning for Vision Tasks", 2022): a frozen vision
// backbone adapted by learned prompt blocks before each stage, x ← x + β·PromptBlock(x) with β starting at
// 0, and a linear task head on the pooled output. One trainer for both backbone kinds:
//   - a CNN (a CIFAR ResNet through backboneOf): a block before every chosen stage, on its feature map;
//   - CLIP's ViT image tower: a block before every chosen encoder layer, on the patch tokens reshaped to a
//     grid (class token and any prompt tokens pass through).
// The block itself is prompt-block.ts; the loop, checkpoints, resume, progress, cancel and the NaN stop
// are the shared ones (train.ts). `sites: 'none'` trains the head alone on the same loop and schedule:
// the linear baseline that shares everything with Pro-tuning but the blocks.
import * as tf from '@tensorflow/tfjs';
import { isCNNBackbone, type ImageSite, type PromptBackbone } from '../model/index.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { blockVariables, initPromptBlock, promptedMap, promptedTokens, type PromptBlockParams } from './prompt-block.ts';
import { createHead, headLogits, type TaskHead } from './task-head.ts';
import { loadState, saveState } from './state.ts';

export interface ProTuningConfig {
  /** Where blocks go: 'all' (before every ViT layer / CNN stage), 'none' (the head alone), or 0-based indices. */
  sites: 'all' | 'none' | number[];
  /** Bottleneck width of a block as a fraction of its channels (m = ⌈C·ratio⌉, at least 4). */
  ratio: number;
}
export const PROTUNING_DEFAULTS: ProTuningConfig = { sites: 'all', ratio: 0.25 };

/** Where a backbone takes prompt blocks: the input of every CNN stage, or of every ViT layer (patch grid). */
export function promptSites(model: PromptBackbone): ImageSite[] {
  if (isCNNBackbone(model)) return model.stages;
  const v = model.config.vision;
  const grid = v.imageSize / v.patchSize;
  return Array.from({ length: v.numLayers }, (_, layer) => ({ layer, channels: v.hiddenSize, height: grid, width: grid }));
}

function chosenSites(all: ImageSite[], sites: ProTuningConfig['sites']): ImageSite[] {
  if (sites === 'all') return all;
  if (sites === 'none') return [];
  if (!Array.isArray(sites) || sites.length === 0) throw new Error(`protuning: sites must be 'all', 'none' or a non-empty list of indices, got ${JSON.stringify(sites)}`);
  const seen = new Set<number>();
  return sites.map((i) => {
    if (!(Number.isInteger(i) && i >= 0 && i < all.length)) throw new Error(`protuning: site ${i} does not exist; this backbone has sites 0..${all.length - 1}`);
    if (seen.has(i)) throw new Error(`protuning: site ${i} is listed twice`);
    seen.add(i);
    return all[i];
  }).sort((a, b) => a.layer - b.layer);
}

export class ProTuningTrainer implements PromptTrainer<ProTuningConfig> {
  readonly method = 'protuning';
  private model!: PromptBackbone;
  private blocks = new Map<number, PromptBlockParams>();
  private head!: TaskHead;
  private nClasses = 0;
  private cnn = false;
  private grid = 0;

  /** Head alone reads the cached features (the same values the image tower would give); blocks need pixels. */
  get input(): 'features' | 'pixels' {
    return this.blocks.size ? 'pixels' : 'features';
  }

  init(model: PromptBackbone, task: TaskClasses, config: ProTuningConfig, seed: number, from?: PromptState): void {
    this.model = model;
    this.cnn = isCNNBackbone(model);
    const all = promptSites(model);
    this.grid = all[0]?.height ?? 0;
    if (!this.cnn && !Number.isInteger(this.grid)) throw new Error(`protuning: image size ${model.config.vision.imageSize} is not a multiple of the patch size ${model.config.vision.patchSize}`);
    for (const site of chosenSites(all, config.sites)) {
      this.blocks.set(site.layer, initPromptBlock({ channels: site.channels, ratio: config.ratio }, seed, site.layer));
    }
    this.nClasses = task.classNames.length;
    this.head = createHead(model.config.projectionDim, this.nClasses);
    if (from) this.load(from);
  }

  bindTask(task: TaskClasses): void {
    if (task.classNames.length !== this.nClasses) throw new Error(`protuning: the head has ${this.nClasses} classes, task "${task.name}" has ${task.classNames.length}; a task head cannot change tasks`);
  }

  variables(): tf.Variable[] {
    return [...[...this.blocks.values()].flatMap(blockVariables), this.head.w, this.head.b];
  }

  /** The hook the backbone calls before each layer/stage: x + β·Block(x) where a block sits, else x. */
  private hook = (layer: number, hidden: tf.Tensor): tf.Tensor => {
    const p = this.blocks.get(layer);
    if (!p) return hidden;
    return this.cnn ? promptedMap(hidden as tf.Tensor4D, p) : promptedTokens(hidden as tf.Tensor3D, this.grid, p);
  };

  /** Pooled features [B, P] of the prompted backbone (not normalised): what the head reads. */
  features(pixels: tf.Tensor4D): tf.Tensor2D {
    return this.model.encodeImage(pixels, { beforeLayer: this.hook });
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    return tf.tidy(() => {
      if (!this.blocks.size) {
        if (!batch.features) throw new Error('protuning (sites: none): batches must carry cached image features');
        return headLogits(batch.features, this.head);
      }
      if (!batch.pixels) throw new Error('protuning: batches must carry pixel_values');
      return headLogits(this.features(batch.pixels), this.head);
    });
  }

  private named(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { 'head.w': this.head.w, 'head.b': this.head.b };
    for (const [layer, p] of this.blocks) {
      for (const [k, v] of Object.entries(p)) out[`block${layer}.${k}`] = v;
    }
    return out;
  }

  save(): PromptState {
    return saveState(this.named());
  }

  load(state: PromptState): void {
    loadState('protuning', state, this.named());
  }

  dispose(): void {
    tf.dispose(this.variables());
    this.blocks.clear();
  }
}

registerTrainer<ProTuningConfig>('protuning', {
  // 2: the block's depthwise convolution is one op (was nine shifted slices; rounds differently).
  // 3: the CNN backbone's eval-mode BatchNorm folded into its convolutions, which run on conv-direct.c;
  // the block's normalisation and 1×1 convolutions as layerNorm / linear (all round differently).
  version: 3,
  create: () => new ProTuningTrainer(),
  inputOf: (config) => (config.sites === 'none' ? 'features' : 'pixels'),
  defaults: PROTUNING_DEFAULTS,
  describe: 'Pro-tuning: prompt blocks x + β·Block(x) before each CNN stage / ViT layer of a frozen backbone, β from 0, and a linear head',
});
