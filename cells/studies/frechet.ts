// The maths behind visual task similarity, float64 throughout:
// Fréchet distance d² = ‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa Σb)^½. The cross term is computed as
// tr (Σa^½ Σb Σa^½)^½, which has the same eigenvalues as (Σa Σb)^½ but is a *symmetric* PSD matrix, so both
// square roots come from eigen-decompositions of symmetric matrices (cyclic Jacobi, float64) with
// negative round-off eigenvalues clamped to 0 — no complex parts, no Newton–Schulz iteration to diverge.

/** Symmetric eigen-decomposition (cyclic Jacobi) of an n×n row-major matrix, in float64. */
export function symmetricEigen(a: ArrayLike<number>, n: number, opts: { tolerance?: number; maxSweeps?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for a ${n}×${n} matrix`);
  const A = Float64Array.from(a);
  // Symmetrise: callers pass covariances whose float32 round-off leaves them a hair off symmetric.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += A[i] * A[i];
  const tol = (opts.tolerance ?? 1e-14) * Math.sqrt(norm);
  const maxSweeps = opts.maxSweeps ?? 100;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    if (Math.sqrt(2 * off) <= tol) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) <= 1e-300) continue;
        const app = A[p * n + p], aqq = A[q * n + q];
        // Rotation angle that zeroes A[p][q] (Golub & Van Loan's symmetric Schur step).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/** Square root of a symmetric PSD matrix (V diag(√max(λ,0)) Vᵀ), float64, row-major. */
export function sqrtPsd(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const r = Array.from(values, (l) => Math.sqrt(Math.max(0, l)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += V[i * n + k] * r[k] * V[j * n + k];
      out[i * n + j] = out[j * n + i] = s;
    }
  }
  return out;
}

/** A Gaussian fitted to a task's image features, with Σ^½ precomputed (reused by every pair). */
/** Mean and covariance of row-major samples [n, dim], accumulated in float64. */
export function gaussianOf(x: Float32Array, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  if (n < 2) throw new Error(`gaussianOf: need at least 2 samples, got ${n}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) c[d] = x[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      const ca = c[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += ca * c[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { mean, cov };
}

/** Squared Fréchet distance between two Gaussians (float64 throughout). */
export function frechetDistance(
  a: { mean: ArrayLike<number>; cov: ArrayLike<number>; covSqrt?: ArrayLike<number> },
  b: { mean: ArrayLike<number>; cov: ArrayLike<number> },
  dim: number,
): number {
  if (a.mean.length !== dim || b.mean.length !== dim) throw new Error(`frechetDistance: means of ${a.mean.length} and ${b.mean.length} values for dimension ${dim}`);
  let d2 = 0;
  for (let i = 0; i < dim; i++) d2 += (a.mean[i] - b.mean[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < dim; i++) tr += a.cov[i * dim + i] + b.cov[i * dim + i];
  const S = a.covSqrt ? Float64Array.from(a.covSqrt) : sqrtPsd(a.cov, dim);
  // M = S Σb S (symmetric PSD); tr √M = Σ √λ(M).
  const T = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let k = 0; k < dim; k++) {
    const sik = S[i * dim + k];
    if (sik === 0) continue;
    for (let j = 0; j < dim; j++) T[i * dim + j] += sik * b.cov[k * dim + j];
  }
  const M = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let k = 0; k < dim; k++) {
    const tik = T[i * dim + k];
    if (tik === 0) continue;
    for (let j = 0; j < dim; j++) M[i * dim + j] += tik * S[k * dim + j];
  }
  const { values } = symmetricEigen(M, dim);
  let cross = 0;
  for (const l of values) cross += Math.sqrt(Math.max(0, l));
  // Round-off can take a distance between identical distributions a hair below 0.
  return Math.max(0, d2 + tr - 2 * cross);
}
