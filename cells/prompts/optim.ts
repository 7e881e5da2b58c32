// The optimiser recipe every method trained by the shared loop uses (CoOp/UPT's by default): its
// configuration, CoOp's epochs by shots and the learning-rate schedule (warm-up + cosine, or step decay).
// One recipe, so methods are compared fairly; ILM-VP's Adam + step decay is the one named alternative.

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
  /**
   * 'sgd' (absent: PyTorch's SGD with `momentum`) or 'adam' (PyTorch's Adam, β = 0.9/0.999, ε = 1e-8;
   * `momentum` unused; `weightDecay` added to the gradient as in torch.optim.Adam). Optional, so the
   * cache keys of every SGD recipe stay what they were.
   */
  optimizer?: 'sgd' | 'adam';
  /**
   * 'cosine' (absent) or 'step': lr × gamma^k after the k-th of `milestones` (fractions of the epochs,
   * PyTorch's MultiStepLR at ⌊fraction · epochs⌋), as ILM-VP trains.
   */
  schedule?: 'cosine' | 'step';
  milestones?: number[];
  gamma?: number;
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

/** Throws saying what is wrong with the optimiser and schedule choice (before any training starts). */
export function checkOptim(o: OptimConfig): void {
  if (o.optimizer !== undefined && o.optimizer !== 'sgd' && o.optimizer !== 'adam') throw new Error(`optim.optimizer must be "sgd" or "adam", not ${JSON.stringify(o.optimizer)}`);
  if (o.schedule !== undefined && o.schedule !== 'cosine' && o.schedule !== 'step') throw new Error(`optim.schedule must be "cosine" or "step", not ${JSON.stringify(o.schedule)}`);
  if (o.schedule === 'step') {
    const m = o.milestones;
    if (!Array.isArray(m) || m.length === 0 || !m.every((f) => f > 0 && f < 1)) throw new Error(`optim.milestones must be fractions of the epochs between 0 and 1 for the step schedule, e.g. [0.5, 0.72]; got ${JSON.stringify(m)}`);
    if (!(typeof o.gamma === 'number' && o.gamma > 0 && o.gamma <= 1)) throw new Error(`optim.gamma must be in (0, 1] for the step schedule, got ${JSON.stringify(o.gamma)}`);
  }
}

/** lr for a 0-based epoch: the warm-up epochs at warmupLr, then cosine (CoOp) or step decay (ILM-VP). */
export function learningRate(epoch: number, epochs: number, o: OptimConfig): number {
  if (epoch < o.warmupEpochs) return o.warmupLr;
  if (o.schedule === 'step') {
    const passed = (o.milestones ?? []).filter((f) => epoch >= Math.floor(f * epochs)).length;
    return o.lr * (o.gamma ?? 0.1) ** passed;
  }
  return 0.5 * o.lr * (1 + Math.cos((Math.PI * epoch) / epochs));
}
