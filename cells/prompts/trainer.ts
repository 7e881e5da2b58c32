// The one interface every prompt learner implements (Dassl/CoOp style: one file per method, a registry).
// Each method's file holds its configuration type, the paper's defaults and its registration.
//
// A trainer owns its learnable tensors and knows how to turn a batch into logits. It does not own the
// optimiser, the schedule, checkpoints or the cache: `train.ts` does, identically for every method, so
// methods are compared under one training loop. Class names are bound separately from the prompt
// (`bindTask`) so that one prompt can be shared across tasks or initialised from a source task (MVLPT).
import type * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from '../model/index.ts';

/** What a trainer needs to know about the task it classifies: the class names, in label order. */
export interface TaskClasses {
  name: string;
  classNames: string[];
}

/**
 * One training/eval batch. `features`: L2-normalised cached image features [B, P] (methods that keep the
 * image tower frozen and prompt-free read only these). `pixels`: pixel_values [B, 3, S, S] (visual prompts).
 */
export interface Batch {
  labels: Int32Array;
  features?: tf.Tensor2D;
  pixels?: tf.Tensor4D;
}

/** A prompt's learned state: named float32 arrays with shapes (what checkpoints and the cache store). */
export type PromptState = Record<string, { shape: number[]; data: Float32Array }>;

export interface PromptTrainer<C = unknown> {
  readonly method: string;
  /** 'features': batches carry cached image features only; 'pixels': the vision tower runs with prompts. */
  readonly input: 'features' | 'pixels';
  /** Creates the learnable state (seeded), optionally starting from `from` (a source prompt, MVLPT init). */
  init(model: PromptBackbone, task: TaskClasses, config: C, seed: number, from?: PromptState): void;
  /** Switches the classes (and their cached text parts) without touching the learned prompt. */
  bindTask(task: TaskClasses): void;
  variables(): tf.Variable[];
  /**
   * Logits [B, C] for the bound classes. `training` turns dropout on (seeded by `seed`, so a resumed run
   * draws the same masks). The training loop takes the cross-entropy of these inside its gradient tape.
   */
  logits(batch: Batch, training?: boolean, seed?: number): tf.Tensor2D;
  save(): PromptState;
  load(state: PromptState): void;
  dispose(): void;
  /**
   * Methods not trained by the shared SGD loop (the linear probe's regularisation sweep) implement this;
   * `train.ts` then calls it instead of its loop.
   */
  fit?(data: FitData, signal: AbortSignal, progress: (fraction: number, message: string) => void): FitReport;
  /**
   * Called by the shared loop at the start of every epoch (also the first epoch after a resume), before
   * the epoch's shuffle, with the training data: visual reprogramming recomputes a data-driven label
   * mapping here (FLM before epoch 0, ILM before every epoch). State it sets must live in `variables()`
   * (non-trainable variables are checkpointed but not updated), so a resumed run sees what it saw.
   */
  beforeEpoch?(epoch: number, data: EpochData, signal: AbortSignal): Promise<void>;
}

/** The training data as `beforeEpoch` sees it (train.ts's TrainData satisfies it). */
export interface EpochData {
  count: number;
  labels: Int32Array;
  batch(rows: number[]): { batch: Batch };
}

/** Full-batch data for `fit` (cached, L2-normalised image features). */
export interface FitData {
  train: { features: Float32Array; labels: Int32Array };
  val: { features: Float32Array; labels: Int32Array };
  dim: number;
}

export interface FitReport {
  /** One row per swept setting, for the curve table. */
  sweep: { lambda: number; valAcc: number; trainLoss: number }[];
  chosen: number;
}
