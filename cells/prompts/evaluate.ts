// Evaluation on the test subset (top-1 and per-class accuracy) and the zero-shot baseline on the same
// subset. The few-shot protocol that runs methods × K × seeds over these is protocol.ts.
import * as tf from '@tensorflow/tfjs';
import { stage, valueCodec } from '../exec/index.ts';
import { currentBackend, backboneOf, templateFor, type ModelLike } from '../model/index.ts';
import { cosineLogits } from './cosine-logits.ts';
import { classTextFeatures } from './text-prompt.ts';
import type { PromptTask } from './task.ts';
import { makeTrainer, taskData, disposeBatch, type TrainedPrompt } from './train.ts';

export interface EvalResult {
  method: string;
  task: string;
  shots: number;
  seed: number;
  top1: number;
  /** Accuracy per class, in label order. */
  perClass: number[];
  n: number;
  backend: string;
}

function accuracyOf(pred: ArrayLike<number>, labels: Int32Array, nClasses: number): { top1: number; perClass: number[] } {
  const hit = new Array<number>(nClasses).fill(0), count = new Array<number>(nClasses).fill(0);
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    count[labels[i]]++;
    if (pred[i] === labels[i]) {
      hit[labels[i]]++;
      ok++;
    }
  }
  return { top1: labels.length ? ok / labels.length : 0, perClass: hit.map((h, k) => (count[k] ? h / count[k] : NaN)) };
}

/** Stage: a trained prompt's accuracy on the task's test subset. */
export async function evaluatePrompt(modelLike: ModelLike, task: PromptTask, trained: TrainedPrompt, batchSize = 64): Promise<EvalResult> {
  const model = await backboneOf(modelLike);
  return stage(
    { name: 'evaluatePrompt', version: 1, heavy: true, params: { batchSize }, inputs: [model.fingerprint, task.key, trained] },
    valueCodec<EvalResult>(),
    async (ctx) => {
      const trainer = makeTrainer(model, task, trained.method, trained.config, trained.seed, trained.state);
      try {
        if (trainer.input === 'features') await task.loadFeatures();
        const data = taskData(task, trainer.input, 'test');
        const pred = new Int32Array(data.count);
        for (let s = 0; s < data.count; s += batchSize) {
          ctx.signal.throwIfAborted();
          const rows = Array.from({ length: Math.min(batchSize, data.count - s) }, (_, i) => s + i);
          const { batch } = data.batch(rows);
          const p = tf.tidy(() => trainer.logits(batch).argMax(-1));
          pred.set(await p.data(), s);
          p.dispose();
          disposeBatch(batch);
          ctx.progress(Math.min(1, (s + rows.length) / data.count), `${s + rows.length}/${data.count} test images`);
        }
        const acc = accuracyOf(pred, data.labels, task.classNames.length);
        return { method: trained.method, task: task.name, shots: task.shots, seed: trained.seed, ...acc, n: data.count, backend: currentBackend() };
      } finally {
        trainer.dispose();
      }
    },
  );
}

export const DEFAULT_TEMPLATES = ['a photo of a {}.'];

/**
 * Stage: zero-shot CLIP on the task's test subset (cached image features, class-template text features).
 * Default templates: CoOp's hand-written template for the dataset (`templateFor(task.name)`, e.g. MNIST's
 * 'a photo of the number: "{}".'), 'a photo of a {}.' for unknown names.
 */
export async function zeroShotPrompt(modelLike: ModelLike, task: PromptTask, templates: string[] = [templateFor(task.name)]): Promise<EvalResult> {
  const model = await backboneOf(modelLike);
  return stage(
    // Keyed without the few-shot split: zero-shot does not depend on K or the seed, only on the test subset.
    { name: 'zeroShotPrompt', version: 1, params: { templates, classNames: task.classNames }, inputs: [model.fingerprint, task.testKey] },
    valueCodec<EvalResult>(),
    async () => {
      await task.loadFeatures();
      const pred = tf.tidy(() => {
        const text = classTextFeatures(model, task.classNames, templates);
        const img = tf.tensor2d(task.test.features, [task.test.count, task.dim]);
        return cosineLogits(img, text, model.logitScale).argMax(-1).dataSync();
      });
      const acc = accuracyOf(pred, task.test.labels, task.classNames.length);
      return { method: 'zero-shot', task: task.name, shots: 0, seed: 0, ...acc, n: task.test.count, backend: currentBackend() };
    },
  );
}
