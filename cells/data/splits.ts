// Few-shot splits, the held-out few-shot pool, and task views (class subsets, renumbered).
//
// Determinism across machines: no Math.random. Within each class, images are ranked by
// sha256(purpose, seed, source) — the image's file name / tar member, not its row position — so a split
// does not depend on listing order, survives task views and subsets, and K-shot sets are nested
// (the 4 shots of seed s contain its 2 shots and 1 shot), which keeps K comparisons paired.

import { createHash } from 'node:crypto';
import { Int32, Table, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import { subsetRows } from './assemble.ts';
import type { Dataset } from './dataset.ts';
import { mulberry32 } from '../util/random.ts';

export { mulberry32 };

interface RowView {
  id: Int32Array;
  label: Int32Array;
  source: string[];
  className: string[];
}

function rowView(ds: Dataset): RowView {
  return {
    id: ds.rows.getChild('id')!.toArray() as Int32Array,
    label: ds.rows.getChild('label')!.toArray() as Int32Array,
    source: ds.rows.getChild('source')!.toArray() as string[],
    className: ds.rows.getChild('className')!.toArray() as string[],
  };
}

function requireSingleLabel(ds: Dataset, what: string): void {
  if (ds.multiLabel) throw new Error(`${what}: dataset "${ds.name}" is multi-label; per-class sampling needs one label per image`);
}

/** Row positions grouped by class, each group ranked by the seeded hash of the image's source. */
function rankedByClass(ds: Dataset, rows: RowView, positions: Iterable<number>, purpose: string, seed: number): number[][] {
  const groups: { pos: number; key: string }[][] = ds.classNames.map(() => []);
  for (const pos of positions) {
    const key = createHash('sha256').update(`${purpose}\0${seed}\0${rows.source[pos]}`).digest('hex');
    groups[rows.label[pos]].push({ pos, key });
  }
  return groups.map((g) => g.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.pos - b.pos)).map((x) => x.pos));
}

// Sources identify images in every loader (IDX rows are `file#index`); the row position only breaks ties
// between repeated sources.

function idsOf(rows: RowView, positions: number[]): Int32Array {
  return Int32Array.from(positions, (p) => rows.id[p]);
}

/** Row positions of the given ids; ids that are not rows here (a parent's pool passed to a task view) are dropped. */
function positionsOfIds(rows: RowView, ids: ArrayLike<number>): number[] {
  const byId = new Map<number, number>();
  rows.id.forEach((id, pos) => byId.set(id, pos));
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const pos = byId.get(ids[i]);
    if (pos !== undefined) out.push(pos);
  }
  return out;
}

export interface PoolSplit {
  /** ids held out as the few-shot pool (never seen by pretraining). */
  pool: Int32Array;
  /** every other id (pretraining data, or the evaluation split of a test set). */
  rest: Int32Array;
  /** id, label, className, source, role ('pool' | 'rest'): inspectable and registrable in SQL. */
  table: Table;
  fraction: number;
  seed: number;
}

/**
 * Holds out a fixed fraction of every class (rounded, at least one image per class with two or more)
 * as the few-shot pool.
 */
export function holdOutPool(dataset: Dataset, opts: { fraction?: number; seed?: number } = {}): PoolSplit {
  requireSingleLabel(dataset, 'holdOutPool');
  const fraction = opts.fraction ?? 0.1;
  const seed = opts.seed ?? 0;
  if (!(fraction > 0 && fraction < 1)) throw new Error(`holdOutPool: fraction must be in (0, 1), got ${fraction}`);
  const rows = rowView(dataset);
  const ranked = rankedByClass(dataset, rows, rows.id.keys(), 'pool', seed);
  const inPool = new Uint8Array(rows.id.length);
  for (const group of ranked) {
    const k = group.length >= 2 ? Math.max(1, Math.round(fraction * group.length)) : 0;
    for (let i = 0; i < k; i++) inPool[group[i]] = 1;
  }
  const poolPos: number[] = [];
  const restPos: number[] = [];
  inPool.forEach((v, pos) => (v ? poolPos : restPos).push(pos));
  const role = Array.from(inPool, (v) => (v ? 'pool' : 'rest'));
  return {
    pool: idsOf(rows, poolPos),
    rest: idsOf(rows, restPos),
    table: splitTable(rows, [...rows.id.keys()], role),
    fraction,
    seed,
  };
}

export interface FewShotOptions {
  /** K images per class. */
  shots: number;
  seed: number;
  /** ids to sample from (e.g. holdOutPool(...).pool; ids not in this dataset are ignored); default: the whole dataset. */
  pool?: ArrayLike<number>;
  /** A class with fewer than K images in the pool: 'error' (default) or take all it has. */
  ifFewer?: 'error' | 'all';
}

export interface FewShotSplit {
  shots: number;
  seed: number;
  /** The K-per-class training ids, class by class. */
  train: Int32Array;
  /**
   * Evaluation ids, disjoint from `train`: with a pool, every row outside the pool (stable across K and
   * seeds); without one, every row not drawn.
   */
  eval: Int32Array;
  /** The training shots: id, label, className, source, shot (rank within its class, 0..K-1). */
  table: Table;
}

export function fewShotSplit(dataset: Dataset, opts: FewShotOptions): FewShotSplit {
  requireSingleLabel(dataset, 'fewShotSplit');
  const { shots, seed } = opts;
  if (!(Number.isInteger(shots) && shots >= 1)) throw new Error(`fewShotSplit: shots must be a positive integer, got ${shots}`);
  if (!Number.isInteger(seed)) throw new Error(`fewShotSplit: seed must be an integer, got ${seed}`);
  const rows = rowView(dataset);
  const poolPos = opts.pool ? positionsOfIds(rows, opts.pool) : [...rows.id.keys()];
  const ranked = rankedByClass(dataset, rows, poolPos, 'shots', seed);
  const trainPos: number[] = [];
  const shot: number[] = [];
  ranked.forEach((group, k) => {
    if (group.length < shots && (opts.ifFewer ?? 'error') === 'error') {
      throw new Error(
        `fewShotSplit: class ${k} "${dataset.classNames[k]}" of "${dataset.name}" has ${group.length} images in the pool, fewer than ${shots} shots` +
          ` (use a smaller K, a larger pool, or { ifFewer: 'all' })`,
      );
    }
    group.slice(0, shots).forEach((pos, i) => {
      trainPos.push(pos);
      shot.push(i);
    });
  });
  const excluded = new Uint8Array(rows.id.length);
  for (const p of opts.pool ? poolPos : trainPos) excluded[p] = 1;
  const evalPos: number[] = [];
  excluded.forEach((v, pos) => {
    if (!v) evalPos.push(pos);
  });
  const table = new Table({
    id: makeVector(idsOf(rows, trainPos)),
    label: makeVector(Int32Array.from(trainPos, (p) => rows.label[p])),
    className: vectorFromArray(trainPos.map((p) => rows.className[p]), new Utf8()),
    source: vectorFromArray(trainPos.map((p) => rows.source[p]), new Utf8()),
    shot: vectorFromArray(shot, new Int32()),
  });
  return { shots, seed, train: idsOf(rows, trainPos), eval: idsOf(rows, evalPos), table };
}

function splitTable(rows: RowView, positions: number[], role: string[]): Table {
  return new Table({
    id: makeVector(idsOf(rows, positions)),
    label: makeVector(Int32Array.from(positions, (p) => rows.label[p])),
    className: vectorFromArray(positions.map((p) => rows.className[p]), new Utf8()),
    source: vectorFromArray(positions.map((p) => rows.source[p]), new Utf8()),
    role: vectorFromArray(role, new Utf8()),
  });
}

/**
 * A dataset restricted to a class subset, labels renumbered 0..k-1 in the subset's order. Rows keep
 * their parent ids, so the parent's image store (and features cached for it) serve the view.
 * `classSubset` names classes by display name or by label index.
 */
export function taskView(dataset: Dataset, classSubset: readonly (string | number)[], name: string, classNames?: string[]): Dataset {
  if (classSubset.length === 0) throw new Error(`taskView "${name}": empty class subset`);
  const parentLabels = classSubset.map((c) => {
    const k = typeof c === 'number' ? c : dataset.classNames.indexOf(c);
    if (!(Number.isInteger(k) && k >= 0 && k < dataset.classNames.length)) {
      throw new Error(`taskView "${name}": class ${JSON.stringify(c)} is not in dataset "${dataset.name}" (classes: ${dataset.classNames.join(', ')})`);
    }
    return k;
  });
  if (new Set(parentLabels).size !== parentLabels.length) throw new Error(`taskView "${name}": a class is listed twice`);
  const names = classNames ?? parentLabels.map((k) => dataset.classNames[k]);
  if (names.length !== parentLabels.length) throw new Error(`taskView "${name}": ${names.length} class names for ${parentLabels.length} classes`);
  const remap = new Map(parentLabels.map((k, i) => [k, i]));

  const r = dataset.rows;
  const col = <T>(c: string) => r.getChild(c)!.toArray() as T;
  const ids = col<Int32Array>('id');
  const labels = col<Int32Array>('label');
  const labelSets = dataset.multiLabel ? r.getChild('labels')! : undefined;
  const keep: number[] = [];
  const newLabelSets: number[][] = [];
  for (let i = 0; i < ids.length; i++) {
    if (labelSets) {
      const set = [...(labelSets.get(i) as Iterable<number>)].filter((l) => remap.has(l)).map((l) => remap.get(l)!).sort((a, b) => a - b);
      if (set.length) {
        keep.push(i);
        newLabelSets.push(set);
      }
    } else if (remap.has(labels[i])) keep.push(i);
  }
  if (keep.length === 0) throw new Error(`taskView "${name}": no rows of "${dataset.name}" belong to the chosen classes`);
  const newLabel = Int32Array.from(keep, (i) => (labelSets ? -1 : remap.get(labels[i])!));
  const rows = subsetRows(r, keep, {
    label: newLabel,
    labels: labelSets ? newLabelSets : undefined,
    className: labelSets ? newLabelSets.map((s) => s.map((l) => names[l]).join('|')) : Array.from(newLabel, (l) => names[l]),
  }, `taskView "${name}"`);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ view: name, parent: dataset.fingerprint, classes: parentLabels, classNames: names }))
    .digest('hex');
  return {
    name,
    classNames: names,
    fingerprint,
    multiLabel: dataset.multiLabel,
    rows,
    images: dataset.images,
    skipped: [],
    origin: { kind: 'view', parent: dataset.fingerprint },
  };
}
