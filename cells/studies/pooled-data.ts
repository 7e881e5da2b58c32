// MVLPT's multitask training data: the shots of several tasks pooled into one training set over the union
// of their classes, and a wrapper that masks each row's softmax down to its own task's classes (so a
// CIFAR-10 image never competes with MNIST's digits).
import * as tf from '@tensorflow/tfjs';
import type { PromptTask } from '../prompts/task.ts';
import type { TrainData } from '../prompts/train.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from '../prompts/trainer.ts';

/** Added to the logits of other tasks' classes: far below any real logit, finite so gradients stay clean. */
const MASKED = -1e4;

/**
 * Wraps a trainer bound to the union of the tasks' classes and adds, per row, the mask that leaves only
 * the row's own task's classes in the softmax.
 */
export class TaskMaskedTrainer implements PromptTrainer {
  private mask?: tf.Tensor2D;
  constructor(private readonly inner: PromptTrainer) {}
  get method(): string {
    return this.inner.method;
  }
  get input(): 'features' | 'pixels' {
    return this.inner.input;
  }
  init(): void {
    throw new Error('TaskMaskedTrainer wraps an initialised trainer');
  }
  bindTask(task: TaskClasses): void {
    this.inner.bindTask(task);
  }
  variables(): tf.Variable[] {
    return this.inner.variables();
  }
  setMask(mask: tf.Tensor2D): void {
    this.mask?.dispose();
    this.mask = mask;
  }
  logits(batch: Batch, training?: boolean, seed?: number): tf.Tensor2D {
    const mask = this.mask;
    if (!mask) return this.inner.logits(batch, training, seed);
    return tf.tidy(() => this.inner.logits(batch, training, seed).add(mask) as tf.Tensor2D);
  }
  save(): PromptState {
    return this.inner.save();
  }
  load(state: PromptState): void {
    this.inner.load(state);
  }
  dispose(): void {
    this.mask?.dispose();
    this.inner.dispose();
  }
}

/** MVLPT's pooled sampling: one training set over all tasks' shots, labels offset into the union of classes. */
export function pooledData(tasks: PromptTask[], input: 'features' | 'pixels', masked: TaskMaskedTrainer): TrainData {
  const offsets: number[] = [];
  let C = 0;
  for (const t of tasks) {
    offsets.push(C);
    C += t.classNames.length;
  }
  const taskOf: number[] = [];
  const localOf: number[] = [];
  const labels: number[] = [];
  tasks.forEach((t, ti) => {
    for (let r = 0; r < t.train.count; r++) {
      taskOf.push(ti);
      localOf.push(r);
      labels.push(offsets[ti] + t.train.labels[r]);
    }
  });
  const P = tasks[0].dim, S = tasks[0].imageSize, per = 3 * S * S;
  return {
    count: labels.length,
    labels: Int32Array.from(labels),
    batch(rows) {
      const B = rows.length;
      const y = new Int32Array(B);
      const mask = new Float32Array(B * C).fill(MASKED);
      const feats = input === 'features' ? new Float32Array(B * P) : undefined;
      const pixels = input === 'pixels' ? new Float32Array(B * per) : undefined;
      rows.forEach((row, i) => {
        const ti = taskOf[row], local = localOf[row], t = tasks[ti];
        y[i] = labels[row];
        mask.fill(0, i * C + offsets[ti], i * C + offsets[ti] + t.classNames.length);
        if (feats) feats.set(t.train.features.subarray(local * P, (local + 1) * P), i * P);
        if (pixels) pixels.set(t.train.pixels([local]), i * per);
      });
      masked.setMask(tf.tensor2d(mask, [B, C]));
      const batch: Batch = { labels: y };
      if (feats) batch.features = tf.tensor2d(feats, [B, P]);
      if (pixels) batch.pixels = tf.tensor4d(pixels, [B, 3, S, S]);
      return { batch };
    },
  };
}
