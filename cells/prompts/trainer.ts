// The one interface every prompt learner implements (Dassl/CoOp style: one file per method, a registry),
// plus the method configurations with the papers' defaults.
//
// A trainer owns its learnable tensors and knows how to turn a batch into logits. It does not own the
// optimiser, the schedule, checkpoints or the cache: `train.ts` does, identically for every method, so
// methods are compared under one training loop. Class names are bound separately from the prompt
// (`bindTask`) so that one prompt can be shared across tasks or initialised from a source task (MVLPT).
import type * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from './backbone.ts';

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

export type ClassTokenPosition = 'end' | 'middle' | 'front';

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

/** VPT (Jia et al., ECCV 2022) on CLIP's image tower; class-template text features stay frozen and cached. */
export interface VPTConfig {
  tokens: number;
  depth: 'shallow' | 'deep';
  /** Template for the frozen class text features. */
  template: string;
}
export const VPT_DEFAULTS: VPTConfig = { tokens: 8, depth: 'deep', template: 'a photo of a {}.' };

/** UPT (Zang et al., 2022) as in the authors' released trainer, plus MVLPT's UPT variant. */
export interface UPTConfig {
  /** n: text context tokens = visual prompt tokens; the unified prompt has 2n tokens. */
  n: number;
  dropout: number;
  /**
   * false (default, the paper's intent): the transformer layer's self-attention mixes the 2n prompt tokens.
   * true: the released code's behaviour — its attention runs over a length-1 sequence (batch and sequence
   * axes swapped), so each token only attends to itself and the prompts never mix.
   */
  releasedQuirk: boolean;
  /**
   * 'upt': unified prompt in the text width → layer → first n to text, last n → Linear(text→vision) → shallow
   * visual prompts. 'mvlpt': MVLPT's variant — text prompts [n, Dt] and deep visual prompts [L, n, Dv] are
   * projected to `sharedWidth`, pass one 1-head CLIP residual block of that width together, and are projected
   * back; there `dropout` is MVLPT's visual-prompt dropout (its default 0).
   */
  variant: 'upt' | 'mvlpt';
  sharedWidth: number;
}
export const UPT_DEFAULTS: UPTConfig = { n: 4, dropout: 0.1, releasedQuirk: false, variant: 'upt', sharedWidth: 128 };
/** MVLPT's UPT configuration (deep visual prompts through a shared 128-wide layer). */
export const MVLPT_UPT_DEFAULTS: UPTConfig = { n: 4, dropout: 0, releasedQuirk: false, variant: 'mvlpt', sharedWidth: 128 };

/** Linear probe (CLIP §3.2 / CoOp): L2-regularised multinomial logistic regression on frozen features. */
export interface LinearProbeConfig {
  /** Regularisation strengths λ swept on the validation split (weight decay on W, CLIP's 1/C). */
  lambdas: number[];
  iterations: number;
}
export const LINEAR_PROBE_DEFAULTS: LinearProbeConfig = {
  lambdas: [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1],
  iterations: 300,
};

/** The shared optimiser (CoOp/UPT): SGD, momentum 0.9, weight decay 5e-4, cosine, 1 warm-up epoch at 1e-5. */
export interface OptimConfig {
  lr: number;
  momentum: number;
  weightDecay: number;
  batchSize: number;
  warmupEpochs: number;
  warmupLr: number;
  /** Dassl drops the last incomplete batch when the set holds at least one full batch. */
  dropLast: boolean;
}
export const OPTIM_DEFAULTS: OptimConfig = {
  lr: 0.002, momentum: 0.9, weightDecay: 5e-4, batchSize: 32, warmupEpochs: 1, warmupLr: 1e-5, dropLast: true,
};

/** CoOp's epochs by shots: 1 shot 50, 2–4 shots 100, 8–16 shots 200. */
export function epochsForShots(shots: number): number {
  if (shots <= 1) return 50;
  if (shots <= 4) return 100;
  return 200;
}
