// Another evaluation set for a few-shot task, with the training rows left exactly as they are.
//
// On the bundled test-only datasets the pool and the test subset are drawn together (a per-class hold-out:
// test images first, the pool from the rest), so asking `fewShotTask` for another test size changes the
// training images too. `evaluationTask` instead keeps the task's pool, features and K-shot split and only
// swaps the test subset: images of the same dataset outside the pool (any number per class), or images of
// another dataset with the same class names (a corrupted copy, another image folder). A method keyed on its
// training rows (`keyOnTrainingRows`, e.g. visual-reprogramming) then reuses its trained prompt; the others
// are keyed on the whole task and train again, as before.
import type { Dataset } from '../data/dataset.ts';
import { backboneOf, type ModelLike } from '../model/index.ts';
import { rng, shuffled } from './random.ts';
import { fewShotRows, imageFeatures, imageFeaturesOnDemand, promptPool, taskFromPool, type FewShotOptions, type PromptTask, type TaskSource } from './task.ts';

export type EvaluationSet =
  /** The task's own test subset (what `fewShotTask` gives). */
  | { kind: 'task' }
  /**
   * Up to `perClass` images per class of the training dataset that are not in the task's pool (drawn by
   * `seed`, default 3) — or of `view`, a view of the training dataset with its image ids (a corrupted copy:
   * `corruptedDataset(source.train, …)`), so no evaluation image is a (corrupted) training image.
   */
  | { kind: 'held-out'; perClass: number; seed?: number; view?: Dataset }
  /** Up to `perClass` images per class of another dataset whose class names include the task's (matched by name). */
  | { kind: 'dataset'; dataset: Dataset; perClass: number; seed?: number };

interface Rows { ids: Int32Array; labels: Int32Array }

/** Per class, up to `perClass` ids among `rows` whose dataset label maps to a task class, seeded; a class with none is an error. */
/** `emptyHint` ends the error for a class with nothing to draw (e.g. why its images were excluded). */
function drawPerClass(ds: Dataset, taskLabel: Map<number, number>, nClasses: number, perClass: number, seed: number, keep: (id: number, row: number) => boolean, where: string, emptyHint = ''): Rows {
  const ids = ds.rows.getChild('id')?.toArray() as Int32Array | undefined;
  const labels = ds.rows.getChild('label')?.toArray() as Int32Array | undefined;
  if (!ids || !labels) throw new Error(`${where}: dataset "${ds.name}" has no id/label columns`);
  const byClass: number[][] = Array.from({ length: nClasses }, () => []);
  for (let r = 0; r < ids.length; r++) {
    const k = taskLabel.get(labels[r]);
    if (k !== undefined && keep(ids[r], r)) byClass[k].push(ids[r]);
  }
  const out = { ids: [] as number[], labels: [] as number[] };
  const rand = rng(seed);
  byClass.forEach((list, k) => {
    if (!list.length) throw new Error(`${where}: class ${k} has no images to evaluate on in dataset "${ds.name}"${emptyHint}`);
    for (const id of shuffled(list, rand).slice(0, perClass)) {
      out.ids.push(id);
      out.labels.push(k);
    }
  });
  return { ids: Int32Array.from(out.ids), labels: Int32Array.from(out.labels) };
}

/**
 * The few-shot task for (source, K, seed) as `fewShotTask` builds it — same pool, features and K-shot split,
 * hence the same `trainKey` — evaluated on `evaluation` instead of its own test subset. Its `name` stays the
 * source's (zero-shot templates are chosen by it).
 */
export async function evaluationTask(modelLike: ModelLike, source: TaskSource, opts: FewShotOptions, evaluation: EvaluationSet): Promise<PromptTask> {
  const model = await backboneOf(modelLike);
  if (!Number.isInteger(opts.shots) || opts.shots < 1) throw new Error(`evaluationTask(${source.name}): shots must be a positive integer, got ${opts.shots}`);
  const pool = await promptPool(source, opts);
  const split = await fewShotRows(pool, source.classNames.length, opts.shots, opts.seed, opts.valShots);
  const shotSeed = { shots: opts.shots, seed: opts.seed };
  // The task's own test subset: `fewShotTask`'s task, features on demand.
  if (evaluation.kind === 'task') return taskFromPool(model, source, pool, await imageFeaturesOnDemand(model, source, pool), split, shotSeed);
  // Another evaluation set's task is keyed on the content of its features (the pool's and the evaluation
  // images'), so they are computed here, for every method.
  const feats = await imageFeatures(model, source, pool);
  if (!(Number.isInteger(evaluation.perClass) && evaluation.perClass >= 1)) {
    throw new Error(`evaluationTask(${source.name}): perClass must be a whole number ≥ 1, got ${evaluation.perClass}`);
  }
  const seed = evaluation.seed ?? 3;
  const classes = source.classes ?? source.classNames.map((_, k) => k);
  let evalDs: Dataset;
  let rows: Rows;
  if (evaluation.kind === 'held-out') {
    const where = `evaluationTask(${source.name}, held-out)`;
    if (source.test) throw new Error(`${where}: the source has its own test dataset; evaluate on it with {kind: 'dataset', dataset: source.test, perClass}`);
    evalDs = evaluation.view ?? source.train;
    if (evalDs.classNames.join('\n') !== source.train.classNames.join('\n')) {
      throw new Error(`${where}: the view "${evalDs.name}" has other classes than "${source.train.name}"; a view keeps its parent's ids and labels`);
    }
    const inPool = new Set(pool.trainIds);
    // A dataset with train and test splits: the pool came from 'train', so held-out images come from 'test'.
    const splits = evalDs.rows.getChild('split')?.toArray() as string[] | undefined;
    const both = splits ? new Set(splits).has('train') && new Set(splits).has('test') : false;
    rows = drawPerClass(evalDs, new Map(classes.map((l, k) => [l, k])), classes.length, evaluation.perClass, seed,
      (id, r) => !inPool.has(id) && (!both || splits![r] === 'test'), where, ' outside the training pool');
  } else if (evaluation.kind === 'dataset') {
    const where = `evaluationTask(${source.name}, dataset ${evaluation.dataset.name})`;
    evalDs = evaluation.dataset;
    const missing = source.classNames.filter((n) => !evalDs.classNames.includes(n));
    if (missing.length) {
      throw new Error(`${where}: the evaluation dataset lacks the task's classes ${missing.map((m) => JSON.stringify(m)).join(', ')}; its classes: ${evalDs.classNames.join(', ')}. Name its folders as the task's classes.`);
    }
    rows = drawPerClass(evalDs, new Map(source.classNames.map((n, k) => [evalDs.classNames.indexOf(n), k])), classes.length, evaluation.perClass, seed, () => true, where);
  } else {
    throw new Error(`evaluationTask: unknown evaluation set kind "${(evaluation as { kind: string }).kind}" (task, held-out, dataset)`);
  }
  // Features of the evaluation images only (the pool's are the task's, from the cache): an empty training
  // side and the evaluation images as the "test" side of a source whose training dataset is the evaluation one.
  const evalFeats = await imageFeatures(model, { name: evalDs.name, classNames: source.classNames, train: evalDs },
    { trainIds: new Int32Array(0), trainLabels: new Int32Array(0), testIds: rows.ids, testLabels: rows.labels });
  return taskFromPool(model, { ...source, test: evalDs },
    { ...pool, testIds: rows.ids, testLabels: rows.labels }, { dim: feats.dim, train: feats.train, test: evalFeats.test }, split, shotSeed);
}
