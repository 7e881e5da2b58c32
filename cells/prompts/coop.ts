// CoOp (Zhou et al., "Learning to Prompt for Vision-Language Models"): M learned context vectors replace
// the hand-written words of the prompt. Only the text tower runs during training; image features come
// from the feature cache (batches carry `features`), so the image encoder never runs here.
import * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from '../model/index.ts';
import { cosineLogits } from './cosine-logits.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { frozenPromptParts, assemblePrompts, wordEmbeddings, type ClassTokenPosition, type FrozenPromptParts } from './text-prompt.ts';
import { normalArray, rng } from './random.ts';
import { loadState, saveState, variableFrom } from './state.ts';

/** CoOp (Zhou et al., IJCV 2022). Defaults as in the paper's main configuration (rn50_ep50 family, 16 ctx). */
export interface CoOpConfig {
  /** Number of context vectors M (ignored when `init` is given: M = its token count, as in CoOp). */
  nCtx: number;
  /** Initialise the context from these words' embeddings, e.g. "a photo of a"; '' = random N(0, 0.02²). */
  init: string;
  /** Class-specific context (CSC): one context per class instead of one unified context. */
  classSpecific: boolean;
  position: ClassTokenPosition;
}
export const COOP_DEFAULTS: CoOpConfig = { nCtx: 16, init: '', classSpecific: false, position: 'end' };

export class CoOpTrainer implements PromptTrainer<CoOpConfig> {
  readonly method = 'coop';
  readonly input = 'features' as const;
  private model!: PromptBackbone;
  private config!: CoOpConfig;
  private ctx!: tf.Variable;
  private parts?: FrozenPromptParts;
  private nCtx = 0;

  init(model: PromptBackbone, task: TaskClasses, config: CoOpConfig, seed: number, from?: PromptState): void {
    this.model = model;
    this.config = config;
    const D = model.config.text.hiddenSize;
    let init: tf.Tensor;
    if (config.init) {
      // CoOp: with an initialisation phrase, M is its token count and the vectors start as its embeddings.
      const words = wordEmbeddings(model, config.init);
      this.nCtx = words.shape[0];
      init = config.classSpecific ? words.expandDims(0).tile([task.classNames.length, 1, 1]) : words;
      if (init !== words) words.dispose();
    } else {
      this.nCtx = config.nCtx;
      const shape = config.classSpecific ? [task.classNames.length, this.nCtx, D] : [this.nCtx, D];
      init = tf.tensor(normalArray(shape.reduce((a, b) => a * b, 1), 0.02, rng(seed)), shape);
    }
    if (this.nCtx < 1) throw new Error('coop: nCtx must be at least 1');
    this.ctx = variableFrom(init);
    if (from) this.load(from);
    this.bindTask(task);
  }

  bindTask(task: TaskClasses): void {
    if (this.config.classSpecific && this.ctx.shape[0] !== task.classNames.length) {
      throw new Error(`coop: class-specific context has ${this.ctx.shape[0]} classes, task "${task.name}" has ${task.classNames.length}; use a unified context to share prompts across tasks`);
    }
    this.parts?.dispose();
    this.parts = frozenPromptParts(this.model, task.classNames, this.nCtx);
  }

  variables(): tf.Variable[] {
    return [this.ctx];
  }

  /** Class text features [C, P] from the current context. */
  textFeatures(): tf.Tensor2D {
    return tf.tidy(() => this.model.encodeTextEmbeddings(assemblePrompts(this.parts!, this.ctx, this.config.position), this.parts!.eot));
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    if (!batch.features) throw new Error('coop: batches must carry cached image features');
    return tf.tidy(() => cosineLogits(batch.features!, this.textFeatures(), this.model.logitScale));
  }


  save(): PromptState {
    return saveState({ ctx: this.ctx });
  }

  load(state: PromptState): void {
    loadState('coop', state, { ctx: this.ctx });
  }

  dispose(): void {
    this.parts?.dispose();
    this.ctx?.dispose();
  }
}

registerTrainer<CoOpConfig>('coop', {
  create: () => new CoOpTrainer(),
  defaults: COOP_DEFAULTS,
  describe: 'CoOp: learned text context vectors (unified or class-specific), cached image features',
});
