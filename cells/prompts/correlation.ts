// Pearson's r with its uncertainty, for UPT's variance plots: a handful of datasets (four bundled) give a
// correlation whose 95 % interval is wide, and the notebook must say so rather than quote r alone.
// The interval is Fisher's: z = atanh(r) is about normal with standard error 1/√(n−3).

export interface Correlation {
  n: number;
  r: number;
  /** 95 % interval for r (Fisher z); [-1, 1] when n ≤ 3, where it is undefined. */
  lo: number;
  hi: number;
}

const Z975 = 1.959964;

export function pearson(xs: number[], ys: number[]): Correlation {
  if (xs.length !== ys.length) throw new Error(`pearson: ${xs.length} x values but ${ys.length} y values`);
  const n = xs.length;
  if (n < 2) throw new Error(`pearson: need at least 2 points, got ${n}`);
  if (![...xs, ...ys].every(Number.isFinite)) throw new Error('pearson: every value must be a finite number');
  const mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  // A constant variable has no correlation with anything: NaN says so rather than a made-up 0.
  const r = sxx > 0 && syy > 0 ? Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy))) : NaN;
  if (n <= 3 || !Number.isFinite(r)) return { n, r, lo: -1, hi: 1 };
  const z = Math.atanh(Math.min(0.999999, Math.max(-0.999999, r))), se = 1 / Math.sqrt(n - 3);
  return { n, r, lo: Math.tanh(z - Z975 * se), hi: Math.tanh(z + Z975 * se) };
}

export type SignVerdict = 'holds' | 'contradicted' | 'not shown';

/**
 * Whether a claimed sign of correlation is borne out: 'holds' when the 95 % interval lies wholly on the
 * expected side of 0, 'contradicted' when it lies wholly on the other, else 'not shown' (NaN r included).
 */
export function signVerdict(c: Correlation, expectedSign: 1 | -1): SignVerdict {
  if (!Number.isFinite(c.r)) return 'not shown';
  // The interval with the expected sign made positive: [near, far].
  const [near, far] = expectedSign > 0 ? [c.lo, c.hi] : [-c.hi, -c.lo];
  return near > 0 ? 'holds' : far < 0 ? 'contradicted' : 'not shown';
}
