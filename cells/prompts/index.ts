// The prompt learners' public surface, for notebooks and studies.
//
//   const model = await loadBackbone(dir);                       // frozen CLIP with prompt hooks
//   const task = await fewShotTask(model, source, { shots, seed }); // pool → cached features → K-shot split
//   const trained = await trainPrompt(model, task, { method: 'coop', config: { nCtx: 4 }, epochs: 10 });
//   const result = await evaluatePrompt(model, task, trained);    // top-1 + per-class
//   const { summary } = await fewShotProtocol(model, sources, { methods, shots: [1, 2, 4], seeds: [1, 2, 3] });
//   comparisonChart(summary)                                      // → { kind: 'vega-lite', spec }
import './methods.ts';

export { loadBackbone, backboneOf, cosineLogits, type PromptBackbone, type VisualPrompts, type ModelLike } from './backbone.ts';
export {
  COOP_DEFAULTS, VPT_DEFAULTS, UPT_DEFAULTS, MVLPT_UPT_DEFAULTS, LINEAR_PROBE_DEFAULTS, OPTIM_DEFAULTS, epochsForShots,
  type PromptTrainer, type PromptState, type Batch, type TaskClasses, type CoOpConfig, type VPTConfig, type UPTConfig,
  type LinearProbeConfig, type OptimConfig, type ClassTokenPosition,
} from './trainer.ts';
export { registerTrainer, getTrainer, listTrainers, resolveConfig } from './registry.ts';
export { fewShotTask, bundledSource, promptPool, imageFeatures, fewShotRows, pixelsOf, type TaskSource, type PromptTask, type FewShotOptions, type PoolOptions } from './task.ts';
export { trainPrompt, trainLoop, taskData, makeTrainer, learningRate, TrainingDivergedError, type TrainOptions, type TrainedPrompt, type CurvePoint, type TrainData } from './train.ts';
export {
  evaluatePrompt, zeroShotPrompt, fewShotProtocol, summarize, runsTable, DEFAULT_TEMPLATES,
  type EvalResult, type MethodSpec, type ProtocolOptions, type ProtocolResult, type ProtocolRow,
} from './evaluate.ts';
export { varianceStats, varianceOf, varianceCharts, gainsFromRows, perClassVarianceChart, type VarianceStats, type ClassVariance, type GainPoint, type VegaLiteChart } from './variance.ts';
export { comparisonChart, type SummaryRow } from './charts.ts';
export { classTextFeatures } from './text-prompt.ts';
