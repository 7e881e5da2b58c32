// UPT's table and claims from protocol rows, against numbers worked out by hand: Pearson's r and its
// Fisher interval, the per-dataset table at the largest K each dataset ran with its average row, and the
// verdicts on UPT's headline and its two variance readings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pearson } from '../../cells/prompts/correlation.ts';
import { paperTable, paperTableMarkdown, uptClaim, varianceClaims } from '../../cells/prompts/upt-claims.ts';
import type { ProtocolRow } from '../../cells/prompts/protocol.ts';
import type { VarianceStats } from '../../cells/prompts/variance.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

test('pearson: r and its Fisher 95 % interval; small n and bad input', () => {
  // dx = [-2,-1,0,1,2], dy = [-2,0,1,0,1]: Sxy 6, Sxx 10, Syy 6, r = 6/√60.
  const c = pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);
  close(c.r, 0.7745966692414834, 'r');
  close(c.lo, -0.3400820448550131, 'lo');
  close(c.hi, 0.9842357554926742, 'hi');
  assert.deepEqual(pearson([1, 2, 3], [3, 2, 1]), { n: 3, r: -1, lo: -1, hi: 1 }, 'n = 3: no interval');
  assert.ok(Number.isNaN(pearson([1, 2, 3, 4], [5, 5, 5, 5]).r), 'a constant has no correlation');
  assert.throws(() => pearson([1, 2], [1]), /2 x values but 1 y values/);
  assert.throws(() => pearson([1, NaN], [1, 2]), /finite/);
});

const row = (dataset: string, method: string, shots: number, seed: number, top1: number): ProtocolRow => ({ dataset, method, shots, seed, top1, backend: 'cpu' });
// Two datasets; "small" only ran K = 4, "big" ran 4 and 16. Two seeds.
const ROWS: ProtocolRow[] = [
  row('big', 'zero-shot', 0, 0, 0.4), row('small', 'zero-shot', 0, 0, 0.2),
  ...[1, 2].flatMap((s) => [
    row('big', 'CoOp', 4, s, 0.1), row('big', 'VPT', 4, s, 0.1), row('big', 'UPT', 4, s, 0.1),
    row('big', 'CoOp', 16, s, s === 1 ? 0.5 : 0.7), row('big', 'VPT', 16, s, 0.55), row('big', 'UPT', 16, s, s === 1 ? 0.62 : 0.66),
    row('small', 'CoOp', 4, s, 0.3), row('small', 'VPT', 4, s, s === 1 ? 0.2 : 0.3), row('small', 'UPT', 4, s, 0.34),
  ]),
];

test('paperTable: each dataset at its largest K, mean ± std ± CI over seeds, and the per-seed average row', () => {
  const t = paperTable(ROWS, ['CoOp', 'VPT', 'UPT']);
  const rows = t.toArray().map((r) => r.toJSON() as Record<string, number | string>);
  assert.deepEqual(rows.map((r) => [r.dataset, r.shots]), [['big', 16], ['small', 4], ['average', NaN]]);
  close(rows[0]['CoOp mean'] as number, 0.6, 'big CoOp mean');
  close(rows[0]['CoOp std'] as number, Math.sqrt(0.02), 'big CoOp std (0.5, 0.7)');
  close(rows[0]['CoOp ci95'] as number, (12.706 * Math.sqrt(0.02)) / Math.sqrt(2), 'big CoOp CI: t(1) · s/√n');
  close(rows[1]['VPT mean'] as number, 0.25, 'small VPT mean');
  // Average: seed 1 UPT (0.62 + 0.34)/2 = 0.48, seed 2 (0.66 + 0.34)/2 = 0.50 → 0.49.
  close(rows[2]['UPT mean'] as number, 0.49, 'average UPT');
  close(rows[2]['UPT n'] as number, 2, 'two seeds');
  close(rows[2]['zero-shot mean'] as number, 0.3, 'zero-shot average');
  assert.throws(() => paperTable(ROWS, ['CoOp', 'Pro-tuning']), /no dataset has rows for every method \(CoOp, Pro-tuning\)/);
  // A protocol run without zero-shot (fewShotProtocol({zeroShot: false})) has no reference row: say so.
  assert.throws(() => paperTable(ROWS.filter((r) => r.method !== 'zero-shot'), ['CoOp', 'VPT', 'UPT']), /no zero-shot row for big, small/);
});

test('uptClaim: UPT against the better of CoOp and VPT on average, per-seed CI', () => {
  const c = uptClaim(ROWS);
  assert.deepEqual(c.compared, [{ dataset: 'big', shots: 16 }, { dataset: 'small', shots: 4 }]);
  close(c.average.CoOp, 0.45, 'CoOp (0.6 + 0.3) / 2');
  close(c.average.VPT, 0.4, 'VPT (0.55 + 0.25) / 2');
  assert.equal(c.best, 'CoOp');
  // Per seed UPT − CoOp: seed 1 (0.48 − 0.40) = 0.08, seed 2 (0.50 − 0.50) = 0.
  close(c.difference.mean, 0.04, 'difference');
  assert.equal(c.holds, 'undecided', 'two seeds: the CI (t = 12.7) spans both sides');
  // UPT = CoOp + 0.05 (resp. − 0.1) in every run: the same difference on both seeds, so a zero-width CI.
  const shifted = (by: number) => ROWS.map((r) => (r.method === 'UPT' ? { ...r, top1: ROWS.find((c) => c.method === 'CoOp' && c.dataset === r.dataset && c.shots === r.shots && c.seed === r.seed)!.top1 + by } : r));
  assert.equal(uptClaim(shifted(0.05)).holds, 'yes');
  assert.equal(uptClaim(shifted(-0.005)).holds, 'yes', 'within a point counts as a match');
  assert.equal(uptClaim(shifted(-0.1)).holds, 'no');
  assert.equal(uptClaim(shifted(-0.1).filter((r) => r.seed !== 2)).holds, 'undecided', 'one seed: no verdict');
});

test('varianceClaims: the sign UPT predicts, and whether the interval excludes 0', () => {
  const stats = (iv: number[], tv: number[]) => iv.map((imageVariance, i) => ({ dataset: `d${i}`, imageVariance, textVariance: tv[i], perClass: [], templates: [] }) as VarianceStats);
  const xs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
  const gains = xs.map((x, i) => ({ dataset: `d${i}`, coopGain: 0.5 - x + (i % 2) * 0.01, vptGain: x + (i % 3) * 0.01 }));
  const [coop, vpt] = varianceClaims(stats(xs, xs), gains);
  assert.equal(coop.expected, 'negative');
  assert.match(coop.verdict, /^holds: r = -1\.00, its 95 % CI excludes 0/);
  assert.match(vpt.verdict, /^holds: r = 1\.00/);
  const [few] = varianceClaims(stats([0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]), gains.slice(0, 4).map((g, i) => ({ ...g, coopGain: [0.1, 0.3, 0.2, 0.25][i] })));
  assert.match(few.verdict, /is not shown: r = 0\.\d+ \(the opposite sign\), but the 95 % CI \[-?\d\.\d+, \d\.\d+\] includes 0 with 4 datasets/);
});

test('paperTableMarkdown: methods as rows, datasets (with K) and the average as columns, % with ± std over seeds', () => {
  // The same ROWS, worked by hand: big K = 16 CoOp 0.5/0.7 → 60.0 ± 14.1, UPT 0.62/0.66 → 64.0 ± 2.8; the
  // average row per seed, e.g. VPT (0.55 + 0.2)/2 and (0.55 + 0.3)/2 → 40.0 ± 3.5. Zero-shot ran once: no ±.
  assert.equal(paperTableMarkdown(paperTable(ROWS, ['CoOp', 'VPT', 'UPT'])), [
    '| | big (K = 16) | small (K = 4) | average |',
    '|---|---:|---:|---:|',
    '| zero-shot | 40.0 | 20.0 | 30.0 |',
    '| CoOp | 60.0 ± 14.1 | 30.0 ± 0.0 | 45.0 ± 7.1 |',
    '| VPT | 55.0 ± 0.0 | 25.0 ± 7.1 | 40.0 ± 3.5 |',
    '| UPT | 64.0 ± 2.8 | 34.0 ± 0.0 | 49.0 ± 1.4 |',
  ].join('\n'));
  assert.throws(() => paperTableMarkdown(paperTable(ROWS, ['CoOp']).select(['CoOp mean'])), /expects paperTable/);
});
