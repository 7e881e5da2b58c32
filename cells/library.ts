// What notebook cells can call: the stage library of every layer, under the names a researcher uses.
// The engine receives this as its builtins, so the engine itself depends on no stage. Heavy layers
// (tfjs, DuckDB) load only when a notebook first uses them.
import { vegaLite } from './plots/vegalite.ts';
import { cached } from './exec/memo.ts';
import { notebookDatabase, type NotebookDatabase } from './engine/sql.ts';
import { loadDataset, cachedFewShotSplit, cachedHoldOutPool } from './data/cached.ts';
import { taskView } from './data/splits.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_NAMES, CIFAR10_CLASSES, type BundledName } from './data/bundled.ts';
import { defaultDatasetsRoot } from './model/pretrain/data.ts';
import { openNodeDatabase, type Database } from './data/db.ts';
import { currentBackend, load, DEFAULT_MODEL, pretrainMiniClip, pretrainResNet, extractFeatures, zeroShot, type BackendPreference } from './model/index.ts';
import * as prompts from './prompts/index.ts';
import * as studies from './studies/index.ts';
import { loadCorpus } from './data/corpus.ts';
import { imageGrid } from './plots/image-grid.ts';
import { labelMappingRows } from './prompts/mapping-rows.ts';
import { mosaicSet, multiLabelImageSet } from './data/mosaic.ts';
import { corruptedDataset } from './data/corrupted.ts';
import { longTailCounts, longTailDataset } from './data/long-tail.ts';
import { CORRUPTIONS, CIFAR_C_CONSTANTS } from './data/corruptions.ts';

/** A bundled dataset by name ("cifar10", "mnist", "fashion-mnist", "gtsrb"), loaded through the cache. */
export function bundled(name: BundledName, split = 'test') {
  if (!BUNDLED_NAMES.includes(name)) throw new Error(`no bundled dataset "${name}"; choose one of ${BUNDLED_NAMES.join(', ')}`);
  return loadDataset({ kind: 'bundled', name, split });
}

/**
 * CIFAR-10's train split (30,000 JPEGs) from the full datasets folder ($PROMPTSCOPE_DATASETS, else
 * ../shared/datasets), through the cache: TaI-DPT's notebook draws its image-trained prompt's pool from it,
 * disjoint from the bundled test images it evaluates on. Not shipped with the product: null when absent, so
 * the notebook leaves the image-trained rows out instead of failing.
 */
export async function cifar10Train() {
  const path = join(defaultDatasetsRoot(), 'cifar10/train.tar');
  if (!existsSync(path)) return null;
  return loadDataset({ kind: 'folder', path, options: { name: 'cifar10-train', split: 'train', classes: CIFAR10_CLASSES } });
}

/**
 * A COCO-format multi-label set (`annotations/instances_<split>.json` + `<split>/` images, a folder or a tar)
 * through the cache; an empty path reads ../shared/datasets/coco-mini/coco-mini.tar (splits train2017, val2017).
 */
export function cocoDataset(path: string, split: string) {
  return loadDataset({ kind: 'coco', path: path || join(defaultDatasetsRoot(), 'coco-mini/coco-mini.tar'), split });
}

/**
 * A model by the name the notebook uses (bundled, pulled repo id, or folder): CLIP, or the CIFAR ResNet
 * ("resnet-cifar10"), as its config.json's model_type says. A notebook's first model starts the fastest
 * backend ('auto', or --backend / $PROMPTSCOPE_BACKEND), and results name the model exactly as the notebook
 * wrote it.
 */
export function loadModel(name: string = DEFAULT_MODEL, opts: { backend?: BackendPreference } = {}) {
  return load(name, { backend: opts.backend ?? 'auto', id: name, type: 'any' });
}

export async function buildLibrary(): Promise<Record<string, unknown>> {
  let database: Promise<NotebookDatabase> | undefined;
  let raw: Database | undefined;
  // One DuckDB per session, opened on first use by a SQL cell or `db.query`.
  const open = () => (database ??= openNodeDatabase(':memory:').then((d) => ((raw = d), notebookDatabase(d))));
  const db: NotebookDatabase & { close(): Promise<void> } = {
    sql: async (strings, ...values) => (await open()).sql(strings, ...values),
    query: async (sql, params) => (await open()).query(sql, params),
    registerValue: async (name, value) => (await open()).registerValue(name, value),
    close: async () => raw?.close(),
  };
  return {
    // plots and memoisation
    vegaLite,
    cached,
    db,
    // data
    loadDataset,
    bundled,
    fewShotSplit: cachedFewShotSplit,
    holdOutPool: cachedHoldOutPool,
    taskView,
    // model
    loadModel,
    extractFeatures,
    zeroShot,
    backend: () => currentBackend(),
    pretrainMiniClip,
    pretrainResNet,
    // prompt learners
    bundledSource: prompts.bundledSource,
    fewShotTask: prompts.fewShotTask,
    trainPrompt: prompts.trainPrompt,
    evaluatePrompt: prompts.evaluatePrompt,
    zeroShotPrompt: prompts.zeroShotPrompt,
    fewShotProtocol: prompts.fewShotProtocol,
    runsTable: prompts.runsTable,
    listTrainers: prompts.listTrainers,
    varianceStats: prompts.varianceStats,
    varianceCharts: prompts.varianceCharts,
    comparisonChart: prompts.comparisonChart,
    gainsFromRows: prompts.gainsFromRows,
    // UPT's comparison and its claims (notebooks/upt-paper.html)
    summarize: prompts.summarize,
    paperTable: prompts.paperTable,
    paperTableMarkdown: prompts.paperTableMarkdown,
    uptClaim: prompts.uptClaim,
    varianceClaims: prompts.varianceClaims,
    pearson: prompts.pearson,
    // the variance explorer (notebooks/variance-explorer.html)
    classExplorer: prompts.classExplorer,
    classImages: prompts.classImages,
    nearestClasses: prompts.nearestClasses,
    perClassAccuracy: prompts.perClassAccuracy,
    classSpreadChart: prompts.classSpreadChart,
    projectionChart: prompts.projectionChart,
    textSimilarityChart: prompts.textSimilarityChart,
    classAccuracyChart: prompts.classAccuracyChart,
    // visual reprogramming and label mapping
    zeroShotTransfer: prompts.zeroShotTransfer,
    evaluationTask: prompts.evaluationTask,
    REPROGRAMMING_PRESETS: prompts.REPROGRAMMING_PRESETS,
    labelMappingRows,
    // TaI-DPT (texts as images): corpus, labels from text, mosaics, training and evaluation
    loadCorpus,
    textTrainingSet: prompts.textTrainingSet,
    CIFAR10_SYNONYMS: prompts.CIFAR10_SYNONYMS,
    COCO_SYNONYMS: prompts.COCO_SYNONYMS,
    multiLabelImageSet,
    mosaicSet,
    trainTaIDPT: prompts.trainTaIDPT,
    evaluateTaIDPT: prompts.evaluateTaIDPT,
    trainImageMultiLabel: prompts.trainImageMultiLabel,
    cifar10Train,
    cocoDataset,
    TAIDPT_DEFAULTS: prompts.TAIDPT_DEFAULTS,
    TAIDPT_OPTIM: prompts.TAIDPT_OPTIM,
    imageGrid,
    // Pro-tuning: CIFAR-10-C corruptions and long tails as dataset views (scenarios: studies; the CNN backbone: loadModel)
    corruptedDataset,
    longTailDataset,
    longTailCounts,
    CORRUPTIONS,
    CIFAR_C_CONSTANTS,
    // multitask and transfer studies
    ...studies.studiesLibrary(),
  };
}
