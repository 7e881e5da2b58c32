// Tasks for multitask prompt tuning and transferability studies (MVLPT style).
//
// A Task is a named, fingerprinted view of a dataset: the dataset itself, a renumbered class subset
// (`taskView` of the data layer) or a grouping of classes into coarser ones (footwear vs clothing), plus
// a fixed few-shot *pool* (K shots are drawn from it) and the disjoint *evaluation* split (everything
// else). The fingerprint is what every study stage keys on (provenance: the parent dataset's
// fingerprint, the class selection and the pool rule), so two tasks with the same fingerprint are the same
// experiment and a study never re-hashes images.
import { Int32, Table, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import { subsetRows } from '../data/assemble.ts';
import { gtsrbClassNames } from '../data/bundled.ts';
import type { BundledName } from '../data/bundled.ts';
import { loadDataset } from '../data/cached.ts';
import type { Dataset } from '../data/dataset.ts';
import { fewShotSplit, taskView } from '../data/splits.ts';
import type { TaskSource } from '../prompts/task.ts';
import { hashJson } from '../util/hash.ts';

export interface StudyTask {
  name: string;
  /** Coarse domain label, used to colour plots ("natural images", "digits", ...). */
  domain: string;
  description: string;
  /** Class names in label order (what the text side of CLIP reads). */
  classNames: string[];
  /** sha256 of the view's fingerprint and the pool rule: the identity every study stage keys on. */
  fingerprint: string;
  /** The whole (renumbered) view. */
  dataset: Dataset;
  /** Few-shot pool: `poolPerClass` images per class; K training + validation shots are drawn from it. */
  pool: Dataset;
  /** Evaluation split: every image of the view outside the pool. */
  eval: Dataset;
  poolPerClass: number;
  poolSeed: number;
}

export interface TaskOptions {
  /** Display name (default: the dataset's). Not part of the fingerprint. */
  name?: string;
  domain?: string;
  description?: string;
  /** Keep only these classes (names or label indices), renumbered in this order. */
  classes?: readonly (string | number)[];
  /** Merge classes: new class name → parent classes (names or indices). Exclusive with `classes`. */
  groups?: Record<string, readonly (string | number)[]>;
  /** Display names for the kept classes (with `classes`). */
  classNames?: string[];
  /**
   * Images per class held out as the few-shot pool (default 12: K ≤ 8 with CoOp's min(K, 4) validation
   * shots). Every class needs at least one more image than this, for evaluation.
   */
  poolPerClass?: number;
  /** Seed of the pool draw (hash-ranked per image source, the same on every machine). Default 0. */
  poolSeed?: number;
  /**
   * For datasets that carry their own splits (a `split` column, e.g. a loader over train and test): draw
   * the pool from rows of `pool` and evaluate on rows of `eval`. Default: one split for both, disjoint.
   */
  splits?: { pool: string; eval: string };
}

export const DEFAULT_POOL_PER_CLASS = 12;

/** Rows of `dataset` at the given positions, optionally relabelled, as a Dataset sharing its image store. */
function rowSubset(dataset: Dataset, positions: number[], name: string, fingerprint: string, relabel?: { labels: Int32Array; classNames: string[] }): Dataset {
  const parentLabels = dataset.rows.getChild('label')!.toArray() as Int32Array;
  const labels = relabel ? relabel.labels : Int32Array.from(positions, (p) => parentLabels[p]);
  const classNames = relabel ? relabel.classNames : dataset.classNames;
  const rows = subsetRows(dataset.rows, positions, { label: labels, className: Array.from(labels, (l) => classNames[l]) }, `task "${name}" (dataset "${dataset.name}")`);
  return {
    name,
    classNames,
    fingerprint,
    multiLabel: false,
    rows,
    images: dataset.images,
    skipped: [],
    origin: { kind: 'view', parent: dataset.fingerprint },
  };
}

function classIndex(dataset: Dataset, c: string | number, where: string): number {
  const k = typeof c === 'number' ? c : dataset.classNames.indexOf(c);
  if (!(Number.isInteger(k) && k >= 0 && k < dataset.classNames.length)) {
    throw new Error(`${where}: class ${JSON.stringify(c)} is not in dataset "${dataset.name}" (classes: ${dataset.classNames.join(', ')})`);
  }
  return k;
}

/**
 * Several parent classes merged into each new class (e.g. sandal + sneaker + ankle boot → footwear);
 * images of classes in no group are dropped. The data layer's `taskView` keeps classes one to one.
 */
export function groupView(dataset: Dataset, groups: Record<string, readonly (string | number)[]>, name: string): Dataset {
  const where = `groupView "${name}"`;
  if (dataset.multiLabel) throw new Error(`${where}: dataset "${dataset.name}" is multi-label; grouping needs one label per image`);
  const newNames = Object.keys(groups);
  if (newNames.length < 2) throw new Error(`${where}: need at least two groups, got ${newNames.length}`);
  const map = new Map<number, number>();
  newNames.forEach((g, i) => {
    if (groups[g].length === 0) throw new Error(`${where}: group "${g}" is empty`);
    for (const c of groups[g]) {
      const k = classIndex(dataset, c, where);
      if (map.has(k)) throw new Error(`${where}: class "${dataset.classNames[k]}" is in two groups`);
      map.set(k, i);
    }
  });
  const labels = dataset.rows.getChild('label')!.toArray() as Int32Array;
  const keep: number[] = [];
  labels.forEach((l, p) => {
    if (map.has(l)) keep.push(p);
  });
  if (keep.length === 0) throw new Error(`${where}: no rows of "${dataset.name}" belong to the grouped classes`);
  const fingerprint = hashJson({
    view: 'group', parent: dataset.fingerprint,
    groups: newNames.map((g) => [g, groups[g].map((c) => classIndex(dataset, c, where))]),
  });
  return rowSubset(dataset, keep, name, fingerprint, { labels: Int32Array.from(keep, (p) => map.get(labels[p])!), classNames: newNames });
}

/** Builds a task from any single-label dataset (a loader's result in a cell, a bundled set, a view). */
export function makeTask(dataset: Dataset, opts: TaskOptions = {}): StudyTask {
  const name = opts.name ?? dataset.name;
  const where = `task "${name}"`;
  if (opts.classes && opts.groups) throw new Error(`${where}: give either classes or groups, not both`);
  const view = opts.groups
    ? groupView(dataset, opts.groups, name)
    : opts.classes || opts.classNames
      ? taskView(dataset, opts.classes ?? dataset.classNames.map((_, i) => i), name, opts.classNames)
      : dataset;
  if (view.multiLabel) throw new Error(`${where}: dataset "${dataset.name}" is multi-label; prompt-tuning studies need single-label classification`);
  const poolPerClass = opts.poolPerClass ?? DEFAULT_POOL_PER_CLASS;
  const poolSeed = opts.poolSeed ?? 0;
  if (!(Number.isInteger(poolPerClass) && poolPerClass >= 2)) throw new Error(`${where}: poolPerClass must be an integer ≥ 2, got ${poolPerClass}`);
  // Pool = the first `poolPerClass` images of each class in hash order (the data layer's few-shot rule,
  // so the pool is the same on every machine and nested across pool sizes).
  const labels = view.rows.getChild('label')!.toArray() as Int32Array;
  const ids = view.rows.getChild('id')!.toArray() as Int32Array;
  const splitOf = opts.splits ? (view.rows.getChild('split')?.toArray() as string[] | undefined) : undefined;
  if (opts.splits && !splitOf) throw new Error(`${where}: dataset "${dataset.name}" has no split column; drop the splits option`);
  const candidates = opts.splits ? Int32Array.from(ids.filter((_, p) => splitOf![p] === opts.splits!.pool)) : undefined;
  if (candidates && candidates.length === 0) throw new Error(`${where}: no rows of split "${opts.splits!.pool}" in "${dataset.name}" for the few-shot pool`);
  const split = fewShotSplit(view, { shots: poolPerClass, seed: poolSeed, pool: candidates });
  const evalCount = new Array<number>(view.classNames.length).fill(0);
  const inPool = new Set(split.train);
  const poolPos: number[] = [];
  const evalPos: number[] = [];
  ids.forEach((id, p) => {
    if (inPool.has(id)) poolPos.push(p);
    else if (!opts.splits || splitOf![p] === opts.splits.eval) {
      evalPos.push(p);
      evalCount[labels[p]]++;
    }
  });
  const empty = evalCount.findIndex((n) => n === 0);
  if (empty >= 0) {
    throw new Error(`${where}: class "${view.classNames[empty]}" has no image left for evaluation after a pool of ${poolPerClass} per class; lower poolPerClass`);
  }
  const fingerprint = hashJson({ kind: 'promptscope-task', view: view.fingerprint, poolPerClass, poolSeed, splits: opts.splits ?? null });
  return {
    name,
    domain: opts.domain ?? 'other',
    description: opts.description ?? `${view.classNames.length} classes of ${dataset.name}`,
    classNames: view.classNames,
    fingerprint,
    dataset: view,
    pool: rowSubset(view, poolPos, `${name} (pool)`, hashJson({ task: fingerprint, role: 'pool' })),
    eval: rowSubset(view, evalPos, `${name} (eval)`, hashJson({ task: fingerprint, role: 'eval' })),
    poolPerClass,
    poolSeed,
  };
}

/** What the prompt learners consume: few-shot pool as the training set, the evaluation split as test. */
export function taskSource(task: StudyTask): TaskSource {
  return { name: task.name, classNames: task.classNames, train: task.pool, test: task.eval };
}

/** One row per task: name, domain, classes, pool and evaluation sizes, fingerprint (for a table cell). */
export function taskTable(tasks: readonly StudyTask[]): Table {
  return new Table({
    task: vectorFromArray(tasks.map((t) => t.name), new Utf8()),
    domain: vectorFromArray(tasks.map((t) => t.domain), new Utf8()),
    classes: vectorFromArray(tasks.map((t) => t.classNames.length), new Int32()),
    pool: makeVector(Int32Array.from(tasks, (t) => t.pool.rows.numRows)),
    eval: makeVector(Int32Array.from(tasks, (t) => t.eval.rows.numRows)),
    classNames: vectorFromArray(tasks.map((t) => t.classNames.join(', ')), new Utf8()),
    fingerprint: vectorFromArray(tasks.map((t) => t.fingerprint.slice(0, 16)), new Utf8()),
  });
}

/** A recipe of the default suite: which bundled set, which classes, which domain. */
export interface TaskRecipe {
  name: string;
  dataset: BundledName;
  domain: string;
  description: string;
  classes?: (string | number)[];
  groups?: Record<string, (string | number)[]>;
}

/** GTSRB's speed-limit signs: ClassIds 0–5, 7, 8 (6 is "End of speed limit (80km/h)", a different sign). */
export const GTSRB_SPEED_LIMITS = [0, 1, 2, 3, 4, 5, 7, 8];

/**
 * The default suite: near domains (CIFAR-10 and its animal / vehicle halves; Fashion-MNIST and its
 * footwear-vs-clothing split; GTSRB and its speed limits, whose digits relate to MNIST) and far ones
 * (natural photos vs grey digits vs traffic signs).
 */
export const DEFAULT_TASK_RECIPES: readonly TaskRecipe[] = [
  { name: 'CIFAR-10', dataset: 'cifar10', domain: 'natural images', description: 'all 10 CIFAR-10 classes' },
  { name: 'CIFAR-10 animals', dataset: 'cifar10', domain: 'natural images', description: 'the 6 animal classes of CIFAR-10',
    classes: ['bird', 'cat', 'deer', 'dog', 'frog', 'horse'] },
  { name: 'CIFAR-10 vehicles', dataset: 'cifar10', domain: 'natural images', description: 'the 4 vehicle classes of CIFAR-10',
    classes: ['airplane', 'automobile', 'ship', 'truck'] },
  { name: 'Fashion-MNIST', dataset: 'fashion-mnist', domain: 'clothing', description: 'all 10 Fashion-MNIST classes' },
  { name: 'Fashion footwear vs clothing', dataset: 'fashion-mnist', domain: 'clothing',
    description: 'Fashion-MNIST as 2 classes: sandal, sneaker, ankle boot → footwear; T-shirt/top, trouser, pullover, dress, coat, shirt → clothing (bag dropped)',
    groups: { footwear: ['sandal', 'sneaker', 'ankle boot'], clothing: ['T-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'shirt'] } },
  { name: 'MNIST', dataset: 'mnist', domain: 'digits', description: 'the 10 digits, spelled out ("seven")' },
  { name: 'GTSRB', dataset: 'gtsrb', domain: 'traffic signs', description: 'all 43 German traffic signs' },
  { name: 'GTSRB speed limits', dataset: 'gtsrb', domain: 'traffic signs', description: 'the 8 speed-limit signs (20–120 km/h)',
    classes: GTSRB_SPEED_LIMITS },
];

export const DEFAULT_TASK_NAMES: readonly string[] = DEFAULT_TASK_RECIPES.map((r) => r.name);

export interface SuiteOptions {
  /** Build only these tasks (by name), in this order. */
  only?: readonly string[];
  poolPerClass?: number;
  poolSeed?: number;
}

/** Loads the bundled datasets (cached stages) and builds the default tasks (≥ 8). */
export async function defaultTaskSuite(opts: SuiteOptions = {}): Promise<StudyTask[]> {
  const recipes = opts.only
    ? opts.only.map((n) => {
      const r = DEFAULT_TASK_RECIPES.find((x) => x.name === n);
      if (!r) throw new Error(`defaultTaskSuite: no default task "${n}" (tasks: ${DEFAULT_TASK_NAMES.join(', ')})`);
      return r;
    })
    : DEFAULT_TASK_RECIPES;
  const datasets = new Map<BundledName, Dataset>();
  for (const r of recipes) if (!datasets.has(r.dataset)) datasets.set(r.dataset, await loadDataset({ kind: 'bundled', name: r.dataset }));
  // The GTSRB speed-limit ids above are checked against the shipped class names, so a changed CSV fails loudly.
  if (recipes.some((r) => r.classes === GTSRB_SPEED_LIMITS)) {
    const names = gtsrbClassNames();
    const bad = GTSRB_SPEED_LIMITS.filter((k) => !/^Speed limit \(\d+km\/h\)$/.test(names[k] ?? ''));
    if (bad.length) throw new Error(`defaultTaskSuite: GTSRB classes ${bad.join(', ')} are not speed limits in gtsrb-classes.csv (${bad.map((k) => names[k]).join('; ')})`);
  }
  return recipes.map((r) => makeTask(datasets.get(r.dataset)!, {
    name: r.name, domain: r.domain, description: r.description, classes: r.classes, groups: r.groups,
    poolPerClass: opts.poolPerClass, poolSeed: opts.poolSeed,
  }));
}

/** Picks tasks by name, in the order given (a multi-select input's value). */
export function selectTasks(tasks: readonly StudyTask[], names: readonly string[]): StudyTask[] {
  return names.map((n) => {
    const t = tasks.find((x) => x.name === n);
    if (!t) throw new Error(`selectTasks: no task "${n}" (tasks: ${tasks.map((x) => x.name).join(', ')})`);
    return t;
  });
}
