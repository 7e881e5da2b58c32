// The optimiser recipe every SGD-trained method shares (CoOp/UPT's): its configuration, CoOp's epochs by
// shots and the warm-up + cosine learning-rate schedule. One recipe, so methods are compared fairly.

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

/** lr for a 0-based epoch under CoOp's warm-up + cosine schedule. */
export function learningRate(epoch: number, epochs: number, o: OptimConfig): number {
  if (epoch < o.warmupEpochs) return o.warmupLr;
  return 0.5 * o.lr * (1 + Math.cos((Math.PI * epoch) / epochs));
}
