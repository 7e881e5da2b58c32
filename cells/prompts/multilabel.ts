// Multi-label scoring and metrics for TaI-DPT (Guo et al., CVPR 2023): the ranking loss, the global and the
// local (softmax-weighted) class scores, per-class average precision and mAP, min–max score fusion.
import * as tf from '@tensorflow/tfjs';

/** TaI-DPT's score scale: cosine similarities are multiplied by 4 before the ranking loss / aggregation. */
export const TAI_SCALE = 4;

/** Rows of [N, P] scaled to unit length (a zero row stays zero). */
export function normalizeRows(a: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => a.div(tf.maximum(a.norm('euclidean', -1, true), 1e-12)) as tf.Tensor2D);
}

/** [B, P] · [C, P] → [B, C] cosine similarities (both sides normalised here). */
export function cosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => cosineNormalized(normalizeRows(a), b));
}

/**
 * `cosine` when `an` went through `normalizeRows` already: a training loop normalises its frozen features
 * once instead of every step (the same values: each row's norm does not depend on the batch it is in).
 */
export function cosineNormalized(an: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(an, normalizeRows(b), false, true));
}

/**
 * Local class scores: per class, Σ_l scale·S_l·softmax_l(τ·S_l) over the valid positions of each sample.
 * `sim`: cosines [B, L, C]; `mask`: [B, L] 1 = valid position (null: all valid). Invalid positions get no
 * weight and no value.
 */
export function localScores(sim: tf.Tensor3D, mask: tf.Tensor2D | null, tau: number, scale = TAI_SCALE): tf.Tensor2D {
  return tf.tidy(() => {
    let logits: tf.Tensor = sim.mul(tau);
    if (mask) logits = logits.add(tf.sub(1, mask).mul(-1e9).expandDims(2));
    const w = tf.softmax(logits.transpose([0, 2, 1])).transpose([0, 2, 1]); // softmax over L
    return sim.mul(w).sum(1).mul(scale) as tf.Tensor2D;
  });
}

/**
 * `localScores` from cosines laid out class-major, [C, B, L] (`simT[c, b, l]` = `sim[b, l, c]`): the softmax
 * runs over the last axis as stored, so neither the scores nor their gradients go through [B, L, C] ↔
 * [B, C, L] transposes, and the product that makes them, t·Hᵀ, has the long side as its output width
 * (the training step's largest product and its gradient, [C, P]·[P, B·L] and [C, B·L]·[B·L, P]).
 * Returns [B, C], the same values as `localScores` up to rounding.
 */
export function localScoresByClass(simT: tf.Tensor3D, mask: tf.Tensor2D | null, tau: number, scale = TAI_SCALE): tf.Tensor2D {
  return tf.tidy(() => {
    let logits: tf.Tensor = simT.mul(tau);
    if (mask) logits = logits.add(tf.sub(1, mask).mul(-1e9)); // [B, L] broadcast over the classes
    return simT.mul(tf.softmax(logits)).sum(-1).transpose().mul(scale) as tf.Tensor2D;
  });
}

/**
 * Ranking loss: mean over the batch of Σ_{p∈pos} Σ_{n∈neg} max(0, margin − s_p + s_n).
 * `labels`: [B, C] float 0/1. A sample with no positive or no negative contributes 0 (it still counts in the mean).
 */
export function rankingLoss(scores: tf.Tensor2D, labels: tf.Tensor2D, margin = 1): tf.Scalar {
  return tf.tidy(() => {
    const B = scores.shape[0];
    const sp = scores.expandDims(2); // [B, C, 1]: s_p
    const sn = scores.expandDims(1); // [B, 1, C]: s_n
    const pairs = labels.expandDims(2).mul(tf.sub(1, labels).expandDims(1)); // pos p × neg n
    return tf.relu(sn.sub(sp).add(margin)).mul(pairs).sum().div(B) as tf.Scalar;
  });
}

/**
 * Average precision of one class (scikit-learn's definition: Σ_k (R_k − R_{k−1})·P_k over the distinct score
 * thresholds, so tied scores count as one threshold). NaN when the class has no positive.
 */
export function averagePrecision(scores: ArrayLike<number>, positives: ArrayLike<number | boolean>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let total = 0;
  for (let i = 0; i < n; i++) if (positives[i]) total++;
  if (total === 0) return NaN;
  let tp = 0, seen = 0, ap = 0, prevRecall = 0;
  for (let k = 0; k < n;) {
    const s = scores[order[k]];
    while (k < n && scores[order[k]] === s) { if (positives[order[k]]) tp++; seen++; k++; }
    const recall = tp / total;
    ap += (recall - prevRecall) * (tp / seen);
    prevRecall = recall;
  }
  return ap;
}

export interface MapResult {
  /** Mean of the per-class APs over classes with at least one positive. */
  mAP: number;
  perClass: number[];
}

/** mAP of a row-major score matrix [N, C] against 0/1 labels [N, C]. */
export function meanAveragePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>, n: number, C: number): MapResult {
  if (scores.length !== n * C || labels.length !== n * C) throw new Error(`mAP: scores (${scores.length}) and labels (${labels.length}) must both be ${n}×${C}`);
  const perClass: number[] = [];
  for (let c = 0; c < C; c++) {
    const s = new Float64Array(n), p = new Uint8Array(n);
    for (let i = 0; i < n; i++) { s[i] = scores[i * C + c]; p[i] = labels[i * C + c] ? 1 : 0; }
    perClass.push(averagePrecision(s, p));
  }
  const valid = perClass.filter((x) => !Number.isNaN(x));
  return { mAP: valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN, perClass };
}

/** Min–max normalisation of a whole score matrix to [0, 1] (constant matrix → zeros). */
export function minMaxNormalize(scores: ArrayLike<number>): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < scores.length; i++) { lo = Math.min(lo, scores[i]); hi = Math.max(hi, scores[i]); }
  const out = new Float64Array(scores.length);
  const span = hi - lo;
  for (let i = 0; i < scores.length; i++) out[i] = span > 0 ? (scores[i] - lo) / span : 0;
  return out;
}

/** TaI-DPT's fusion with another method's scores: (1 − r)·norm(TaI) + r·norm(other). */
export function fuseScores(tai: ArrayLike<number>, other: ArrayLike<number>, r: number): Float64Array {
  if (tai.length !== other.length) throw new Error(`fuseScores: ${tai.length} vs ${other.length} scores`);
  const a = minMaxNormalize(tai), b = minMaxNormalize(other);
  return a.map((x, i) => (1 - r) * x + r * b[i]);
}
