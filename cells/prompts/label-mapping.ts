// Output label mappings for visual reprogramming: how a frozen classifier's *source* labels (CLIP over the
// 1,000 ImageNet names, say) become a downstream task's labels. Pure functions on plain arrays, no tf:
//
//   identity   downstream class k ← source label k (Bahng et al.'s "first K")
//   random     a seeded one-to-one draw of source labels (RLM)
//   frequency  FLM: run the (prompted) model once over the training images, count how often each source
//              label is the argmax for each downstream class, assign one-to-one greedily by largest count
//   iterative  ILM: FLM recomputed from the current prompt at the start of every epoch (`mappingForEpoch`)
//   semantic   SeMap, as this project reads it: downstream class ↔ source label by the cosine similarity of
//              their names' text features under the model's own text encoder; one-to-one (greedy, as FLM)
//              or one-to-many (each downstream class takes its `perClass` most similar source labels,
//              overlaps allowed, and its logit is their mean)
//
// A mapping is, per downstream class, the list of its source labels; `mappingMatrix` turns it into the
// [source × downstream] matrix whose product with the source logits gives downstream logits.
//
// Score matrices are row-major [nTarget × nSource]: scores[t * nSource + s] is how well source label s fits
// downstream class t (a count for FLM, a similarity for SeMap).
import { rng, shuffled } from './random.ts';

export type MappingKind = 'identity' | 'random' | 'frequency' | 'iterative' | 'semantic';
export const MAPPING_KINDS: readonly MappingKind[] = ['identity', 'random', 'frequency', 'iterative', 'semantic'];

/** Per downstream class (in label order), its source labels (one for one-to-one mappings). */
export interface LabelMapping {
  kind: MappingKind;
  nSource: number;
  sources: number[][];
}

function checkSizes(what: string, nSource: number, nTarget: number): void {
  if (!(Number.isInteger(nSource) && nSource >= 1 && Number.isInteger(nTarget) && nTarget >= 1)) {
    throw new Error(`${what}: source and downstream label counts must be positive integers, got ${nSource} and ${nTarget}`);
  }
}

function checkOneToOne(what: string, nSource: number, nTarget: number): void {
  checkSizes(what, nSource, nTarget);
  if (nTarget > nSource) {
    throw new Error(`${what}: a one-to-one mapping needs at least as many source labels as downstream classes, ` +
      `but the downstream task has ${nTarget} classes and the source label set ${nSource}; use a larger source label set ` +
      `or a one-to-many semantic mapping (semanticPerClass > 1 allows overlaps)`);
  }
}

/**
 * Greedy one-to-one assignment on a [nTarget × nSource] score matrix (ILM-VP's rule): repeatedly take the
 * largest remaining score, assign that downstream class to that source label, and remove both. Ties go to
 * the lowest downstream class, then the lowest source label (row-major scan, strict `>`), so the result is
 * deterministic. Every downstream class gets a distinct source label (once the scores left are all equal,
 * e.g. zero counts, the rule still picks the lowest free pair).
 */
export function greedyAssignment(scores: ArrayLike<number>, nTarget: number, nSource: number, what = 'greedyAssignment'): Int32Array {
  checkOneToOne(what, nSource, nTarget);
  if (scores.length !== nTarget * nSource) throw new Error(`${what}: score matrix has ${scores.length} entries, expected ${nTarget} × ${nSource}`);
  const out = new Int32Array(nTarget).fill(-1);
  const usedSource = new Uint8Array(nSource);
  for (let round = 0; round < nTarget; round++) {
    let best = -Infinity, bt = -1, bs = -1;
    for (let t = 0; t < nTarget; t++) {
      if (out[t] >= 0) continue;
      for (let s = 0; s < nSource; s++) {
        if (usedSource[s]) continue;
        const v = scores[t * nSource + s];
        if (Number.isNaN(v)) throw new Error(`${what}: score [${t}, ${s}] is NaN`);
        if (v > best || bt < 0) {
          best = v;
          bt = t;
          bs = s;
        }
      }
    }
    out[bt] = bs;
    usedSource[bs] = 1;
  }
  return out;
}

/** FLM's counts: scores[t][s] = number of training images of downstream class t whose source argmax is s. */
export function frequencyCounts(sourcePred: ArrayLike<number>, labels: ArrayLike<number>, nTarget: number, nSource: number): Float64Array {
  checkSizes('frequencyCounts', nSource, nTarget);
  if (sourcePred.length !== labels.length) throw new Error(`frequencyCounts: ${sourcePred.length} predictions for ${labels.length} labels`);
  const counts = new Float64Array(nTarget * nSource);
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i], s = sourcePred[i];
    if (!(t >= 0 && t < nTarget)) throw new Error(`frequencyCounts: label ${t} outside 0..${nTarget - 1}`);
    if (!(s >= 0 && s < nSource)) throw new Error(`frequencyCounts: source prediction ${s} outside 0..${nSource - 1}`);
    counts[t * nSource + s]++;
  }
  return counts;
}

const oneToOne = (kind: MappingKind, nSource: number, a: Int32Array): LabelMapping => ({ kind, nSource, sources: Array.from(a, (s) => [s]) });

/** FLM from the source argmax of every training image (also ILM's per-epoch update). */
export function frequencyMapping(sourcePred: ArrayLike<number>, labels: ArrayLike<number>, nTarget: number, nSource: number, kind: 'frequency' | 'iterative' = 'frequency'): LabelMapping {
  checkOneToOne(`${kind} label mapping`, nSource, nTarget);
  return oneToOne(kind, nSource, greedyAssignment(frequencyCounts(sourcePred, labels, nTarget, nSource), nTarget, nSource, `${kind} label mapping`));
}

/** Downstream class k ← source label k. */
export function identityMapping(nTarget: number, nSource: number): LabelMapping {
  checkOneToOne('identity label mapping', nSource, nTarget);
  return oneToOne('identity', nSource, Int32Array.from({ length: nTarget }, (_, k) => k));
}

/** RLM: distinct source labels drawn by seed (a seeded permutation's first nTarget entries). */
export function randomMapping(nTarget: number, nSource: number, seed: number): LabelMapping {
  checkOneToOne('random label mapping', nSource, nTarget);
  const perm = shuffled(Array.from({ length: nSource }, (_, i) => i), rng(seed ^ 0x5eed));
  return oneToOne('random', nSource, Int32Array.from(perm.slice(0, nTarget)));
}

/**
 * SeMap on a [nTarget × nSource] similarity matrix. perClass = 1: one-to-one, greedy by largest similarity
 * (needs nSource ≥ nTarget). perClass = m > 1: one-to-many, each downstream class keeps its m most similar
 * source labels (ties → lower index), overlaps between classes allowed.
 */
export function semanticMapping(similarity: ArrayLike<number>, nTarget: number, nSource: number, perClass = 1): LabelMapping {
  if (!(Number.isInteger(perClass) && perClass >= 1)) throw new Error(`semantic label mapping: semanticPerClass must be a positive integer, got ${perClass}`);
  if (perClass === 1) return oneToOne('semantic', nSource, greedyAssignment(similarity, nTarget, nSource, 'semantic label mapping'));
  checkSizes('semantic label mapping', nSource, nTarget);
  if (perClass > nSource) throw new Error(`semantic label mapping: ${perClass} source labels per class, but the source label set has ${nSource}`);
  if (similarity.length !== nTarget * nSource) throw new Error(`semantic label mapping: similarity matrix has ${similarity.length} entries, expected ${nTarget} × ${nSource}`);
  const sources: number[][] = [];
  for (let t = 0; t < nTarget; t++) {
    const idx = Array.from({ length: nSource }, (_, s) => s);
    idx.sort((a, b) => similarity[t * nSource + b] - similarity[t * nSource + a] || a - b);
    sources.push(idx.slice(0, perClass));
  }
  return { kind: 'semantic', nSource, sources };
}

/**
 * [nSource × nTarget] row-major matrix W with W[s][t] = 1/|sources(t)| for s in sources(t): source logits
 * [B, nSource] · W = downstream logits [B, nTarget] (the mean of each class's source logits).
 */
export function mappingMatrix(m: LabelMapping): Float32Array {
  const nTarget = m.sources.length;
  const w = new Float32Array(m.nSource * nTarget);
  m.sources.forEach((list, t) => {
    if (list.length === 0) throw new Error(`label mapping: downstream class ${t} has no source label`);
    for (const s of list) {
      if (!(s >= 0 && s < m.nSource)) throw new Error(`label mapping: source label ${s} outside 0..${m.nSource - 1}`);
      w[s * nTarget + t] += 1 / list.length;
    }
  });
  return w;
}

/** The inverse of `mappingMatrix` (a stored prompt keeps the matrix): per downstream class, its source labels. */
export function mappingFromMatrix(kind: MappingKind, w: ArrayLike<number>, nSource: number, nTarget: number): LabelMapping {
  const sources: number[][] = Array.from({ length: nTarget }, () => []);
  for (let s = 0; s < nSource; s++) for (let t = 0; t < nTarget; t++) if (w[s * nTarget + t] > 0) sources[t].push(s);
  return { kind, nSource, sources };
}

/**
 * When a data-driven mapping is (re)computed in training: FLM once, before the first epoch; ILM before every
 * epoch (from the prompt as it stands then); the others never (they are fixed at initialisation).
 */
export function remapsAt(kind: MappingKind, epoch: number): boolean {
  if (kind === 'iterative') return true;
  if (kind === 'frequency') return epoch === 0;
  return false;
}
