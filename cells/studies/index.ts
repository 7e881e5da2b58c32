// The studies layer's public surface: what notebook cells call (cells/library.ts lists these names).
export {
  makeTask, groupView, taskSource, taskTable, defaultTaskSuite, selectTasks,
  DEFAULT_TASK_RECIPES, DEFAULT_TASK_NAMES, DEFAULT_POOL_PER_CLASS, GTSRB_SPEED_LIMITS,
  type Task, type TaskOptions, type TaskRecipe, type SuiteOptions,
} from './tasks.ts';
export {
  multitaskPrompt, trainOnTask, promptTaskFor, defaultInitAccuracy, sourceInitAccuracy, transferGain, jointTuning,
  resolveMethod, assertShareable, meanStd, DEFAULT_TEST_PER_CLASS,
  type PromptMethod, type ResolvedMethod, type FewShotSetting, type SourceBudget, type RunAccuracy, type MeanStd,
  type TransferGain, type JointResult,
} from './multitask.ts';
export {
  transferMatrix, studyPairs, matrixTable, seedTable,
  type TransferMatrix, type TransferCell, type TransferStudyOptions, type StudyProgress,
} from './transfer.ts';
export {
  visualSimilarity, labelSimilarity, similarityScatter, gainVsSimilarity, frechetDistance, gaussianOf, sqrtPsd, symmetricEigen,
  taskFeatureGaussian, classNameEmbeddings, labelSimilarityOf, pearson,
  type SimilarityMatrix, type FeatureGaussian, type LabelEmbeddings, type GainSimilarityPoint,
} from './similarity.ts';
export { transferHeatmap, matrixOrder, clusterOrder, gainGrid, type HeatmapOptions } from './heatmap.ts';
