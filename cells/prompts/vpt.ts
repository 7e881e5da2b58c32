// VPT (Jia et al., "Visual Prompt Tuning") on CLIP's image tower: n learned tokens after the class token,
// at the input only (shallow) or replaced at every layer (deep). The text side is frozen: the class
// template features are computed once per task binding and held, never re-encoded during training.
import * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from '../model/index.ts';
import { cosineLogits } from './cosine-logits.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { classTextFeatures } from './text-prompt.ts';
import { rng, uniformArray } from './random.ts';
import { loadState, saveState, variableFrom } from './state.ts';

/** VPT (Jia et al., ECCV 2022) on CLIP's image tower; class-template text features stay frozen and cached. */
export interface VPTConfig {
  tokens: number;
  depth: 'shallow' | 'deep';
  /** Template for the frozen class text features. */
  template: string;
}
export const VPT_DEFAULTS: VPTConfig = { tokens: 8, depth: 'deep', template: 'a photo of a {}.' };

export class VPTTrainer implements PromptTrainer<VPTConfig> {
  readonly method = 'vpt';
  readonly input = 'pixels' as const;
  private model!: PromptBackbone;
  private config!: VPTConfig;
  private shallow!: tf.Variable;
  private deep: tf.Variable[] = [];
  private text?: tf.Tensor2D;

  init(model: PromptBackbone, task: TaskClasses, config: VPTConfig, seed: number, from?: PromptState): void {
    this.model = model;
    this.config = config;
    const v = model.config.vision;
    if (!(config.tokens >= 1)) throw new Error('vpt: tokens must be at least 1');
    // VPT's initialisation: Xavier-uniform over (patch fan-in, width).
    const bound = Math.sqrt(6 / (v.numChannels * v.patchSize * v.patchSize + v.hiddenSize));
    const rand = rng(seed);
    const make = () => variableFrom(tf.tensor2d(uniformArray(config.tokens * v.hiddenSize, bound, rand), [config.tokens, v.hiddenSize]), true);
    this.shallow = make();
    this.deep = config.depth === 'deep' ? Array.from({ length: v.numLayers - 1 }, make) : [];
    if (from) this.load(from);
    this.bindTask(task);
  }

  bindTask(task: TaskClasses): void {
    this.text?.dispose();
    this.text = classTextFeatures(this.model, task.classNames, [this.config.template]);
  }

  variables(): tf.Variable[] {
    return [this.shallow, ...this.deep];
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    if (!batch.pixels) throw new Error('vpt: batches must carry pixel_values');
    return tf.tidy(() => {
      const img = this.model.encodeImage(batch.pixels!, { shallow: this.shallow, deep: this.deep });
      return cosineLogits(img, this.text!, this.model.logitScale);
    });
  }


  private named(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { shallow: this.shallow };
    this.deep.forEach((d, i) => (out[`deep.${i + 1}`] = d));
    return out;
  }

  save(): PromptState {
    return saveState(this.named());
  }

  load(state: PromptState): void {
    loadState('vpt', state, this.named());
  }

  dispose(): void {
    this.text?.dispose();
    tf.dispose([this.shallow, ...this.deep]);
  }
}

registerTrainer<VPTConfig>('vpt', {
  create: () => new VPTTrainer(),
  defaults: VPT_DEFAULTS,
  describe: 'VPT: learned visual prompt tokens (shallow or deep) in the image tower, frozen class-template text',
});
