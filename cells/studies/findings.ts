// MVLPT's two findings about transfer, as numbers a notebook states instead of a reader eyeballing a
// heatmap: (1) transfer is asymmetric — a source that helps a target is not helped back the same amount —
// and (2) task similarity predicts transferability — gain rises with label similarity and falls with the
// visual (Fréchet) distance. A study of a handful of tasks gives wide intervals, so a claim is called
// "holds" only when the 95 % interval of its correlation excludes 0 on the predicted side.
import { pearson, signVerdict, type Correlation, type SignVerdict } from '../prompts/correlation.ts';
import type { SimilarityMatrix } from './similarity.ts';
import type { TransferMatrix } from './transfer.ts';

/** Two directions of a pair whose gains differ by more than this (accuracy) count as asymmetric: 2 points. */
export const ASYMMETRY_MARGIN = 0.02;

export interface AsymmetryFinding {
  /** Unordered task pairs with a gain in both directions. */
  pairs: number;
  /** Mean |gain(s→t) − gain(t→s)| over the pairs. */
  meanAbsDifference: number;
  /** Pairs whose two directions differ by more than ASYMMETRY_MARGIN. */
  differing: number;
  /** Pairs where one direction helps and the other hurts. */
  oppositeSign: number;
  /** Pearson r between gain(s→t) and gain(t→s) (1 would be perfectly symmetric). */
  correlation: Correlation;
}

export type Verdict = SignVerdict;

export interface SimilarityFinding {
  kind: SimilarityMatrix['kind'];
  measure: string;
  /** Ordered (source, target) pairs, source ≠ target. */
  pairs: number;
  /** +1: gain should rise with this measure (a similarity); −1: fall (a distance). */
  expectedSign: 1 | -1;
  correlation: Correlation;
  verdict: Verdict;
}

export interface TransferFindings {
  method: string;
  shots: number;
  seeds: number[];
  asymmetry: AsymmetryFinding;
  similarity: SimilarityFinding[];
}

/** MVLPT's asymmetry and similarity findings on a transfer matrix, against each given similarity (or distance) matrix. */
export function transferFindings(matrix: TransferMatrix, similarities: SimilarityMatrix[]): TransferFindings {
  const gain = new Map(matrix.cells.map((c) => [`${c.source}\u0000${c.target}`, c.gain.mean]));
  const forward: number[] = [], backward: number[] = [];
  for (let i = 0; i < matrix.tasks.length; i++) {
    for (let j = i + 1; j < matrix.tasks.length; j++) {
      const a = gain.get(`${matrix.tasks[i]}\u0000${matrix.tasks[j]}`), b = gain.get(`${matrix.tasks[j]}\u0000${matrix.tasks[i]}`);
      if (a !== undefined && b !== undefined) {
        forward.push(a);
        backward.push(b);
      }
    }
  }
  if (forward.length < 2) throw new Error(`transferFindings: need at least 2 task pairs with both directions, the matrix has ${forward.length}; select 3 or more tasks`);
  const diffs = forward.map((a, k) => Math.abs(a - backward[k]));
  const asymmetry: AsymmetryFinding = {
    pairs: forward.length,
    meanAbsDifference: diffs.reduce((s, d) => s + d, 0) / diffs.length,
    differing: diffs.filter((d) => d > ASYMMETRY_MARGIN).length,
    oppositeSign: forward.filter((a, k) => a * backward[k] < 0).length,
    correlation: pearson(forward, backward),
  };
  const similarity = similarities.map((sim): SimilarityFinding => {
    const index = new Map(sim.tasks.map((t, i) => [t, i]));
    const xs: number[] = [], ys: number[] = [];
    for (const c of matrix.cells) {
      if (c.source === c.target) continue;
      const i = index.get(c.source), j = index.get(c.target);
      if (i === undefined || j === undefined) throw new Error(`transferFindings: the ${sim.kind} matrix has no task "${i === undefined ? c.source : c.target}"; compute it over the transfer matrix's tasks`);
      xs.push(sim.values[i][j]);
      ys.push(c.gain.mean);
    }
    // The label measure is a similarity; the visual one is a Fréchet distance (0 on the diagonal).
    const expectedSign = sim.kind === 'visual' ? -1 : 1;
    const correlation = pearson(xs, ys);
    return { kind: sim.kind, measure: sim.measure, pairs: xs.length, expectedSign, correlation, verdict: signVerdict(correlation, expectedSign) };
  });
  return { method: matrix.method, shots: matrix.shots, seeds: matrix.seeds, asymmetry, similarity };
}
