// Full fine-tuning, the baseline Pro-tuning is measured against: every weight of the image path trains,
// with the same linear task head, on the same shared loop (optimiser, schedule, checkpoints, resume).
// The frozen model other cells use is never touched: the trainer trains a private copy of the weights.
//   - CLIP: the vision tower and its projection are copied as trainable variables into a second CLIPModel;
//     the text tower (unused here) is shared by reference and never disposed by the copy.
//   - CIFAR ResNet: the whole checkpoint is copied into a second ResNet; convolutions and BatchNorm's γ/β
//     train, BatchNorm runs on its running statistics (frozen, as in the frozen backbone: a few-shot batch is
//     too small for batch statistics, and frozen statistics keep a resumed run bit-identical). Its own
//     CIFAR-10 classifier is not used (the task head replaces it) and does not train.
import * as tf from '@tensorflow/tfjs';
import { CLIPModel, buildResNet, cnnBackbone, isCNNBackbone, type PromptBackbone } from '../model/index.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { createHead, headLogits, type TaskHead } from './task-head.ts';
import { loadState, saveState, variableFrom } from './state.ts';

export interface FineTuneConfig {
  /** Which of the image path's weights train: 'all', or those whose checkpoint name starts with one of these. */
  train: 'all' | string[];
}
export const FINETUNE_DEFAULTS: FineTuneConfig = { train: 'all' };

/** The image path's weights of a CLIP model (the text tower and the temperature are not on it). */
const onImagePath = (name: string): boolean => name.startsWith('vision_model.') || name === 'visual_projection.weight';

export class FineTuneTrainer implements PromptTrainer<FineTuneConfig> {
  readonly method = 'finetune';
  readonly input = 'pixels' as const;
  /** The copy's trainable weights by checkpoint name. */
  private trained = new Map<string, tf.Variable>();
  /** Variables this trainer created (the copies, trainable or not); the shared text tower is not among them. */
  private owned: tf.Variable[] = [];
  private encode!: (pixels: tf.Tensor4D) => tf.Tensor2D;
  private head!: TaskHead;
  private nClasses = 0;

  init(model: PromptBackbone, task: TaskClasses, config: FineTuneConfig, _seed: number, from?: PromptState): void {
    const picks = (name: string) => config.train === 'all' || config.train.some((p) => name.startsWith(p));
    if (config.train !== 'all' && !(Array.isArray(config.train) && config.train.length)) {
      throw new Error(`finetune: train must be 'all' or a non-empty list of weight-name prefixes, got ${JSON.stringify(config.train)}`);
    }
    if (isCNNBackbone(model)) {
      const src = model.resnet;
      const raw = new Map(src.exportWeights().map((w) => [w.name, { shape: w.shape, data: w.data }]));
      const copy = buildResNet(src.config, raw, `${src.id}+finetune`);
      copy.setTrainable(true, (n) => !n.startsWith('classifier.') && picks(n));
      this.owned = [...copy.variables.values()];
      for (const [n, v] of copy.variables) if (v.trainable) this.trained.set(n, v);
      const view = cnnBackbone(copy);
      this.encode = (px) => view.encodeImage(px);
    } else {
      const vars = new Map<string, tf.Variable>();
      for (const [n, w] of model.weights()) {
        if (onImagePath(n)) {
          const v = variableFrom(w.clone(), picks(n));
          vars.set(n, v);
          this.owned.push(v);
          if (v.trainable) this.trained.set(n, v);
        } else {
          vars.set(n, w as tf.Variable);
        }
      }
      const copy = new CLIPModel(model.config, vars, `${model.fingerprint}+finetune`, `${model.name}+finetune`);
      this.encode = (px) => copy.encodeImage(px);
    }
    if (!this.trained.size) throw new Error(`finetune: no weight matches train ${JSON.stringify(config.train)}`);
    this.nClasses = task.classNames.length;
    this.head = createHead(model.config.projectionDim, this.nClasses);
    if (from) this.load(from);
  }

  bindTask(task: TaskClasses): void {
    if (task.classNames.length !== this.nClasses) throw new Error(`finetune: the head has ${this.nClasses} classes, task "${task.name}" has ${task.classNames.length}; a task head cannot change tasks`);
  }

  variables(): tf.Variable[] {
    return [...this.trained.values(), this.head.w, this.head.b];
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    if (!batch.pixels) throw new Error('finetune: batches must carry pixel_values');
    return tf.tidy(() => headLogits(this.encode(batch.pixels!), this.head));
  }

  private named(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { 'head.w': this.head.w, 'head.b': this.head.b };
    for (const [n, v] of this.trained) out[`backbone.${n}`] = v;
    return out;
  }

  save(): PromptState {
    return saveState(this.named());
  }

  load(state: PromptState): void {
    loadState('finetune', state, this.named());
  }

  dispose(): void {
    tf.dispose([...this.owned, this.head.w, this.head.b]);
    this.owned = [];
    this.trained.clear();
  }
}

registerTrainer<FineTuneConfig>('finetune', {
  // 2: on a CNN, BatchNorm folded into the convolutions (the gradient goes through the fold), which run on
  // conv-direct.c: rounds differently.
  version: 2,
  create: () => new FineTuneTrainer(),
  defaults: FINETUNE_DEFAULTS,
  describe: 'Full fine-tuning: every weight of a private copy of the image path trains, with a linear head',
});
