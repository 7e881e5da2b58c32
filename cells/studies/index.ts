// The studies layer's public surface: what notebook cells call (cells/library.ts lists these names).
export {
  makeTask, groupView, taskSource, taskTable, defaultTaskSuite, selectTasks,
  DEFAULT_TASK_RECIPES, DEFAULT_TASK_NAMES, DEFAULT_POOL_PER_CLASS, GTSRB_SPEED_LIMITS,
  type StudyTask, type TaskOptions, type TaskRecipe, type SuiteOptions,
} from './tasks.ts';
export {
  multitaskPrompt, trainOnTask, promptTaskFor, defaultInitAccuracy, sourceInitAccuracy, transferGain, jointTuning,
  resolveMethod, assertShareable, meanStd, DEFAULT_TEST_PER_CLASS,
  type PromptMethod, type ResolvedMethod, type FewShotSetting, type SourceBudget, type RunAccuracy, type MeanStd,
  type TransferGain, type JointResult,
} from './multitask.ts';
export {
  transferMatrix, multiSourceTransfer, studyPairs, matrixTable, seedTable,
  type TransferMatrix, type TransferCell, type TransferStudyOptions, type StudyProgress, type UnitTiming, type MultiSourceTransfer, type MultiSourceRow,
} from './transfer.ts';
export {
  visualSimilarity, labelSimilarity, similarityScatter, gainVsSimilarity, taskFeatureGaussian, classNameEmbeddings, labelSimilarityOf,
  type SimilarityMatrix, type FeatureGaussian, type LabelEmbeddings, type GainSimilarityPoint,
} from './similarity.ts';
export { frechetDistance, gaussianOf, sqrtPsd, symmetricEigen } from './frechet.ts';
export { transferHeatmap, multiSourceChart, matrixOrder, clusterOrder, gainGrid, type HeatmapOptions } from './heatmap.ts';
export { loadStudyModel, STUDY_DEFAULT_MODEL, type StudyModel } from './study-model.ts';
export { transferFindings, ASYMMETRY_MARGIN, type TransferFindings, type AsymmetryFinding, type SimilarityFinding, type Verdict } from './findings.ts';
export { genericScenario, imbalanceScenario, corruptionScenario, outOfDistributionScenario, adversarialScenario, trainTestSplit, type Scenario, type ScenarioKind, type SplitOptions } from './scenarios.ts';
export { scenarioTask } from './scenario-task.ts';
export { adversarialDataset, pgdImages, checkPGD, PGD_DEFAULTS, type PGDSpec, type AdversarialImages } from './adversarial.ts';

import { defaultTaskSuite, selectTasks, makeTask, taskTable, DEFAULT_TASK_NAMES } from './tasks.ts';
import { multitaskPrompt, transferGain, jointTuning } from './multitask.ts';
import { transferMatrix, multiSourceTransfer } from './transfer.ts';
import { visualSimilarity, labelSimilarity, similarityScatter } from './similarity.ts';
import { transferHeatmap, multiSourceChart } from './heatmap.ts';
import { loadStudyModel } from './study-model.ts';
import { transferFindings } from './findings.ts';
import { genericScenario, imbalanceScenario, corruptionScenario, outOfDistributionScenario, adversarialScenario, trainTestSplit } from './scenarios.ts';
import { adversarialDataset } from './adversarial.ts';
import { scenarioTask } from './scenario-task.ts';

/** The names notebook cells use (spread into cells/library.ts's builtins). */
export function studiesLibrary(): Record<string, unknown> {
  return {
    loadStudyModel,
    defaultTaskSuite, selectTasks, makeTask, taskTable, DEFAULT_TASK_NAMES,
    multitaskPrompt, transferGain, jointTuning,
    transferMatrix, transferHeatmap, multiSourceTransfer, multiSourceChart,
    visualSimilarity, labelSimilarity, similarityScatter, transferFindings,
    // Pro-tuning's scenarios: fingerprinted train/test views any method runs on, and the task over one
    genericScenario, imbalanceScenario, corruptionScenario, outOfDistributionScenario, adversarialScenario, adversarialDataset, trainTestSplit, scenarioTask,
  };
}
