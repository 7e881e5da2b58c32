export { createDataParallel, defaultWorkerCount, splitBatch, batchRows } from './data-parallel.ts';
export type { DataParallel } from './data-parallel.ts';
export type { ArrayField, Batch, DataParallelOptions, DataParallelWorkerModule, TrainerSetup, LossAndGrads } from './types.ts';
export { lossAndGradsOf } from './grads.ts';
export { FlatAdam, VariablesAdam, type AdamConfig } from '../adam.ts';
