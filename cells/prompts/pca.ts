// Principal components of a feature matrix, for drawing image features in 2-D. The covariance is d × d
// (d = the projection width, 64–768), so its top components come from power iteration with deflation:
// no linear-algebra dependency, and deterministic (a fixed start vector), so the same features always
// give the same picture.

export interface Projection {
  /** [n, k] coordinates of each row on the top k components, row-major. */
  coords: Float64Array;
  k: number;
  /** The fraction of the total variance each component explains. */
  explained: number[];
}

const ITERATIONS = 200;

/** Projects the rows of `x` ([n, d], row-major) onto their top `k` principal components. */
export function pca(x: ArrayLike<number>, n: number, d: number, k = 2): Projection {
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`pca: need at least 2 rows, got ${n}`);
  if (!(Number.isInteger(d) && d >= 1) || x.length !== n * d) throw new Error(`pca: ${x.length} values is not ${n} rows × ${d} columns`);
  if (!(Number.isInteger(k) && k >= 1 && k <= d)) throw new Error(`pca: k must be an integer from 1 to ${d}, got ${k}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] /= n - 1;
  let total = 0;
  for (let a = 0; a < d; a++) total += cov[a * d + a];

  const components: Float64Array[] = [];
  const explained: number[] = [];
  for (let c = 0; c < k; c++) {
    // A start vector that is not orthogonal to any axis; re-orthogonalised against earlier components each step.
    let v = Float64Array.from({ length: d }, (_, j) => 1 + j / d);
    let lambda = 0;
    for (let it = 0; it < ITERATIONS; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      for (const u of components) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += w[j] * u[j];
        for (let j = 0; j < d; j++) w[j] -= dot * u[j];
      }
      const norm = Math.hypot(...w);
      if (norm === 0) {
        // No variance left: this and the remaining components are zero (coordinates 0), not the start vector.
        v = new Float64Array(d);
        lambda = 0;
        break;
      }
      lambda = norm;
      v = w.map((x) => x / norm);
    }
    // The sign of an eigenvector is arbitrary; fix it (largest entry positive) so pictures do not flip.
    let big = 0;
    for (let j = 0; j < d; j++) if (Math.abs(v[j]) > Math.abs(v[big])) big = j;
    if (v[big] < 0) v = v.map((x) => -x);
    components.push(v);
    explained.push(total > 0 ? lambda / total : 0);
  }
  const coords = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * components[c][j];
      coords[i * k + c] = s;
    }
  }
  return { coords, k, explained };
}
