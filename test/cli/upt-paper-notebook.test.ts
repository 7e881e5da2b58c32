// notebooks/upt-paper.html at its smallest (MNIST, K = 1, one seed, one epoch): the paper's table with its
// average row, the K sweep, UPT's two variance plots and the verdict come out of one `promptscope run`.
// (The protocol's numbers are the unit tests' in test/prompts/upt-claims.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/upt-paper.html', import.meta.url));
const TINY = ['datasetNames=["mnist"]', 'shotList=[1]', 'seeds=[1]', 'epochs=1'];

test('upt-paper notebook: a tiny run writes the table, the sweep, the variance plots and the verdict', async () => {
  const dir = await tempDir('ps-upt-paper-');
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, [BIN, 'run', NOTEBOOK, ...TINY.flatMap((s) => ['--set', s]), '--out', out], {
    encoding: 'utf8', env: { ...process.env, PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') },
  });
  assert.equal(r.status, 0, `promptscope run exited ${r.status}:\n${r.stderr}`);
  const [head, ...lines] = readFileSync(join(out, 'paperResults.csv'), 'utf8').trimEnd().split('\n');
  assert.match(head, /^dataset,shots,zero-shot mean,zero-shot std,zero-shot ci95,zero-shot n,CoOp mean,.*,UPT n$/);
  assert.deepEqual(lines.map((l) => l.split(',').slice(0, 2).join(',')), ['mnist,1', 'average,NaN']);
  assert.match(readFileSync(join(out, 'paperMarkdown.md'), 'utf8'), /^\| \| mnist \(K = 1\) \| average \|\n\|---\|---:\|---:\|\n\| zero-shot \| 9\.6 \| 9\.6 \|\n\| CoOp \| /, 'the README\'s table, zero-shot first');
  for (const chart of ['shotSweep', 'coopVsImageVariance', 'vptVsTextVariance']) assert.match(readFileSync(join(out, `${chart}.svg`), 'utf8'), /^<svg/, chart);
  const verdict = readFileSync(join(out, 'verdict.md'), 'utf8');
  assert.match(verdict, /UPT at least matches the better of CoOp and VPT on average: undecided\.\*\*/, 'one seed gives no verdict');
  assert.match(verdict, /Compared at mnist K = 1; seeds 1\./);
  assert.match(verdict, /cannot be checked with 1 dataset \(a correlation needs 3\)/);
});
