// The prompt learners' public surface, for notebooks and studies.
//
//   const model = await load(dir);                               // cells/model: frozen CLIP (prompt hooks via backboneOf)
//   const task = await fewShotTask(model, source, { shots, seed }); // pool → cached features → K-shot split
//   const trained = await trainPrompt(model, task, { method: 'coop', config: { nCtx: 4 }, epochs: 10 });
//   const result = await evaluatePrompt(model, task, trained);    // top-1 + per-class
//   const { summary } = await fewShotProtocol(model, sources, { methods, shots: [1, 2, 4], seeds: [1, 2, 3] });
//   comparisonChart(summary)                                      // → { kind: 'vega-lite', spec }
import './methods.ts';
import './multilabel-methods.ts';

export { backboneOf, type PromptBackbone, type VisualPrompts, type ModelLike } from '../model/index.ts';
export { cosineLogits } from './cosine-logits.ts';
export type { PromptTrainer, PromptState, Batch, TaskClasses } from './trainer.ts';
export { CoOpTrainer, COOP_DEFAULTS, type CoOpConfig } from './coop.ts';
export { VPTTrainer, VPT_DEFAULTS, type VPTConfig } from './vpt.ts';
export { UPTTrainer, UPT_DEFAULTS, MVLPT_UPT_DEFAULTS, type UPTConfig } from './upt.ts';
export { LinearProbeTrainer, LINEAR_PROBE_DEFAULTS, type LinearProbeConfig } from './linearProbe.ts';
export { ProTuningTrainer, PROTUNING_DEFAULTS, promptSites, type ProTuningConfig } from './protuning.ts';
export { FineTuneTrainer, FINETUNE_DEFAULTS, type FineTuneConfig } from './finetune.ts';
export { promptBlock, promptedMap, promptedTokens, promptBlockParamCount, bottleneckWidth, initPromptBlock, depthwise3x3, type PromptBlockParams, type PromptBlockShape } from './prompt-block.ts';
export { OPTIM_DEFAULTS, epochsForShots, learningRate, type OptimConfig } from './optim.ts';
export type { ClassTokenPosition } from './text-prompt.ts';
export { registerTrainer, getTrainer, listTrainers, resolveConfig, registerMultiLabelMethod, getMultiLabelMethod, listMultiLabelMethods, type MultiLabelEntry } from './registry.ts';
export { fewShotTask, bundledSource, promptPool, imageFeatures, fewShotRows, pixelsOf, type TaskSource, type PromptTask, type FewShotOptions, type PoolOptions } from './task.ts';
export { trainPrompt, trainLoop, taskData, makeTrainer, trainableParameterCount, TrainingDivergedError, type TrainOptions, type TrainedPrompt, type CurvePoint, type TrainData } from './train.ts';
export { evaluatePrompt, zeroShotPrompt, DEFAULT_TEMPLATES, type EvalResult } from './evaluate.ts';
export { fewShotProtocol, summarize, runsTable, type MethodSpec, type ProtocolOptions, type ProtocolResult, type ProtocolRow } from './protocol.ts';
export { varianceStats, varianceOf, varianceCharts, gainsFromRows, perClassVarianceChart, type VarianceStats, type ClassVariance, type GainPoint } from './variance.ts';
export { classExplorer, classImages, nearestClasses, perClassAccuracy, type ClassExplorer, type ProjectedImage, type NearClass, type ClassAccuracy, type ExplorerOptions } from './class-explorer.ts';
export { classSpreadChart, projectionChart, textSimilarityChart, classAccuracyChart } from './class-explorer-charts.ts';
export { pca, type Projection } from './pca.ts';
export { pearson, type Correlation } from './correlation.ts';
export { paperTable, paperTableMarkdown, uptClaim, varianceClaims, type UptClaim, type VarianceClaim } from './upt-claims.ts';
export type { VegaLiteChart } from '../plots/vegalite.ts';
export { comparisonChart, type SummaryRow } from './charts.ts';
export { classTextFeatures } from './text-prompt.ts';
export {
  VisualReprogrammingTrainer, VISUAL_REPROGRAMMING_DEFAULTS, REPROGRAMMING_PRESETS, zeroShotTransfer, mappingTable, nameSimilarity, initialMapping,
  type VisualReprogrammingConfig, type ReprogrammingDesign, type ZeroShotTransferResult, type ZeroShotTransferOptions,
} from './visual-reprogramming.ts';
export { evaluationTask, type EvaluationSet } from './evaluation-sets.ts';
export { sourceNamesFor, nameEncoderFor, type NameEncoderSpec } from './source-model.ts';
export {
  greedyAssignment, frequencyCounts, frequencyMapping, identityMapping, randomMapping, semanticMapping, mappingMatrix, mappingFromMatrix, remapsAt,
  MAPPING_KINDS, type LabelMapping, type MappingKind,
} from './label-mapping.ts';
export { makePixelPrompt, frameMask, paddingMask, defaultFrameSize, defaultInnerSize, type PixelPrompt, type PixelDesign } from './pixel-prompts.ts';
export { sourceLabelNames, sourceTemplates, type SourceLabelSpec, type SourceTemplateSpec } from './source-labels.ts';
export {
  trainTaIDPT, evaluateTaIDPT, mosaicFeatures, taidptScores, TaIDPTPrompts, TAIDPT_DEFAULTS, TAIDPT_OPTIM, TAIDPT_METHOD_LABELS,
  type TaIDPTConfig, type TaIDPTOptions, type TrainedTaIDPT, type TaIDPTEvaluation, type TaIDPTScores,
  FUSION_R, dualPromptScores, fitDualPrompts, type TaIDPTEvaluateOptions,
} from './taidpt.ts';
export {
  trainImageMultiLabel, IMAGE_PROMPT_DEFAULTS, IMAGE_PROMPT_OPTIM, type ImagePromptConfig, type ImagePromptOptions, type TrainedImagePrompt,
} from './multilabel-image.ts';
export { textTrainingSet, labelDeriver, TAI_TEMPLATES, type TextTrainingSet, type ClassSynonyms } from './caption-labels.ts';
export { CIFAR10_SYNONYMS, COCO_SYNONYMS } from './tai-synonyms.ts';
export { rankingLoss, localScores, averagePrecision, meanAveragePrecision, fuseScores, minMaxNormalize } from './multilabel.ts';
