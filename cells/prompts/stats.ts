// Mean, sample standard deviation and the 95 % confidence half-width over seeds (Student's t), shared by
// the few-shot protocol's summary and UPT's paper table so the two report the same interval.

/** Student-t 0.975 quantiles by degrees of freedom (1..30); more: 1.96. */
const T975 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export interface SeedStat {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one value. */
  std: number;
  /** Half-width of the 95 % interval of the mean; 0 for one value. */
  ci95: number;
}

export function seedStat(xs: readonly number[]): SeedStat {
  const n = xs.length;
  // No values (a method with no complete seed): a NaN mean the table shows as missing, not an error.
  if (n === 0) return { n, mean: NaN, std: 0, ci95: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const t = n - 1 < T975.length ? T975[n - 1] : 1.96;
  return { n, mean, std, ci95: n > 1 ? (t * std) / Math.sqrt(n) : 0 };
}
