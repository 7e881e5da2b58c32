// What notebook cells can call: the stage library of every layer, under the names a researcher uses.
// The engine receives this as its builtins, so the engine itself depends on no stage. Heavy layers
// (tfjs, DuckDB) load only when a notebook first uses them.
import { vegaLite } from './plots/vegalite.ts';
import { cached } from './exec/memo.ts';
import { stage, valueCodec } from './exec/index.ts';
import { notebookDatabase, type NotebookDatabase } from './engine/sql.ts';
import { loadDataset, cachedFewShotSplit, cachedHoldOutPool } from './data/cached.ts';
import { taskView } from './data/splits.ts';
import { BUNDLED_NAMES, type BundledName } from './data/bundled.ts';
import { openNodeDatabase, type Database } from './data/db.ts';
import { currentBackend, load, DEFAULT_MODEL, pretrainMiniClip, extractFeatures, zeroShot, type BackendPreference } from './model/index.ts';
import * as prompts from './prompts/index.ts';
import * as studies from './studies/index.ts';
import type { ModelLike, PromptTask, TrainedPrompt, ZeroShotTransferResult } from './prompts/index.ts';
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { mosaicSet } from './data/mosaic.ts';
import type { DecodedImage } from './data/images.ts';

/** A bundled dataset by name ("cifar10", "mnist", "fashion-mnist", "gtsrb"), loaded through the cache. */
export function bundled(name: BundledName, split = 'test') {
  if (!BUNDLED_NAMES.includes(name)) throw new Error(`no bundled dataset "${name}"; choose one of ${BUNDLED_NAMES.join(', ')}`);
  return loadDataset({ kind: 'bundled', name, split });
}

/**
 * A CLIP checkpoint by the name the notebook uses (bundled, pulled repo id, or folder). A notebook's first
 * model starts the fastest backend ('auto', or --backend / $PROMPTSCOPE_BACKEND), and results name the model
 * exactly as the notebook wrote it.
 */
export function loadModel(name: string = DEFAULT_MODEL, opts: { backend?: BackendPreference } = {}) {
  return load(name, { backend: opts.backend ?? 'auto', id: name });
}

/** A shipped text corpus (`data/corpora/NAME.jsonl`) as rows: text, source, kind, and its length in words. */
export async function loadCorpus(name = 'wordnet-cifar10'): Promise<{ text: string; source: string; kind: string; words: number }[]> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`loadCorpus: "${name}" is not a corpus name (data/corpora/NAME.jsonl)`);
  const text = await readFile(new URL(`../data/corpora/${name}.jsonl`, import.meta.url), 'utf8');
  return text.trim().split('\n').map((line) => {
    const r = JSON.parse(line) as { text: string; source?: string; kind?: string };
    return { text: r.text, source: r.source ?? '', kind: r.kind ?? '', words: r.text.split(/\s+/).filter(Boolean).length };
  });
}

/** Images as an output the UI shows as a grid of inline PNGs (`scale`: integer nearest-neighbour upscaling). */
export function imageGrid(list: { image: DecodedImage; label?: string }[], opts: { scale?: number } = {}) {
  const k = Math.max(1, Math.round(opts.scale ?? 1));
  const items = list.map(({ image: img, label }) => {
    const png = new PNG({ width: img.width * k, height: img.height * k });
    for (let y = 0; y < img.height * k; y++) {
      for (let x = 0; x < img.width * k; x++) {
        const i = (Math.floor(y / k) * img.width + Math.floor(x / k)) * img.channels, o = (y * img.width * k + x) * 4;
        for (let c = 0; c < 3; c++) png.data[o + c] = img.data[i + (img.channels >= 3 ? c : 0)];
        png.data[o + 3] = 255;
      }
    }
    return { png: new Uint8Array(PNG.sync.write(png)), label };
  });
  return { kind: 'images' as const, items };
}

/** One downstream class → one of its source labels, with how similar their names read to the model. */
export interface MappingRow {
  class: string;
  source: string;
  /** Cosine similarity of the class name's and the source label's text features (the model's own encoder). */
  similarity: number;
  /** The source label's rank among all source labels by that similarity (1: the most similar). */
  rank: number;
}

/**
 * Stage: a visual-reprogramming label mapping as rows — from a trained `visual-reprogramming` prompt (the
 * mapping it ended with) or a `zeroShotTransfer` result — each with the name similarity that semantic
 * mapping maximises, so a data-driven mapping (FLM, ILM) can be read against it.
 */
export async function labelMappingRows(modelLike: ModelLike, task: PromptTask, from: TrainedPrompt | ZeroShotTransferResult): Promise<MappingRow[]> {
  const model = await prompts.backboneOf(modelLike);
  const defaults = prompts.VISUAL_REPROGRAMMING_DEFAULTS;
  const trained = 'state' in from ? from : undefined;
  if (trained && trained.method !== 'visual-reprogramming') throw new Error(`labelMappingRows: a ${trained.method} prompt has no label mapping`);
  const config = (trained?.config ?? {}) as Partial<typeof defaults>;
  const sourceLabels = config.sourceLabels ?? defaults.sourceLabels;
  const templates = config.sourceTemplates ?? defaults.sourceTemplates;
  return stage(
    { name: 'labelMappingRows', version: 1, params: { sourceLabels, templates, classNames: task.classNames }, inputs: [model.fingerprint, from] },
    valueCodec<MappingRow[]>(),
    async () => {
      const names = prompts.sourceLabelNames(sourceLabels);
      const C = task.classNames.length, Ns = names.length;
      let sources: number[][];
      if (trained) {
        const m = trained.state.mapping;
        if (!m) throw new Error('labelMappingRows: the trained prompt has no "mapping" tensor');
        sources = prompts.mappingFromMatrix(config.mapping ?? defaults.mapping, m.data, Ns, C).sources;
      } else {
        const index = new Map(names.map((n, i) => [n, i]));
        sources = (from as ZeroShotTransferResult).mapping.map((r) => r.sources.map((n) => index.get(n)!));
      }
      const sim = prompts.nameSimilarity(model, task.classNames, names, prompts.sourceTemplates(templates));
      return sources.flatMap((list, t) => list.map((s) => {
        const v = sim[t * Ns + s];
        let rank = 1;
        for (let j = 0; j < Ns; j++) if (sim[t * Ns + j] > v) rank++;
        return { class: task.classNames[t], source: names[s], similarity: v, rank };
      }));
    },
  );
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
    // visual reprogramming and label mapping
    zeroShotTransfer: prompts.zeroShotTransfer,
    REPROGRAMMING_PRESETS: prompts.REPROGRAMMING_PRESETS,
    labelMappingRows,
    // TaI-DPT (texts as images): corpus, labels from text, mosaics, training and evaluation
    loadCorpus,
    textTrainingSet: prompts.textTrainingSet,
    CIFAR10_SYNONYMS: prompts.CIFAR10_SYNONYMS,
    mosaicSet,
    trainTaIDPT: prompts.trainTaIDPT,
    evaluateTaIDPT: prompts.evaluateTaIDPT,
    TAIDPT_DEFAULTS: prompts.TAIDPT_DEFAULTS,
    TAIDPT_OPTIM: prompts.TAIDPT_OPTIM,
    imageGrid,
    // multitask and transfer studies
    ...studies.studiesLibrary(),
  };
}
