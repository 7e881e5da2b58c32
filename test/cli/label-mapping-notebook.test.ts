// notebooks/label-mapping.html runs headless with `promptscope run` on a tiny setting (one dataset, 1 shot,
// 1 epoch, the frame design, two mappings): its tables come out as CSV + Arrow, its charts as SVG + PNG, its
// numbers in metrics.json; the accuracies are proportions and the zero-shot-transfer row is there beside the
// model's own zero-shot head; a second run in a fresh process computes no stage at all; and another
// evaluation set (held-out images) evaluates again without training anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/label-mapping.html', import.meta.url));
const TINY = ['datasetNames=["mnist"]', 'shots=1', 'epochs=1', 'designs=["frame"]', 'mappings=["frequency","semantic"]'];

function run(out: string, env: Record<string, string>, extra: string[] = []) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', NOTEBOOK, ...[...TINY, ...extra].flatMap((s) => ['--set', s]), '--out', out], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
  assert.equal(r.status, 0, `promptscope run exited ${r.status}:\n${r.stderr}`);
  return { ms: Date.now() - t0, manifest: JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) };
}

const csvRows = (file: string) => {
  const [head, ...lines] = readFileSync(file, 'utf8').trimEnd().split('\n');
  const names = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
};

test('label-mapping notebook: tiny headless run writes its tables, charts and metrics; a re-run computes nothing', async (t) => {
  const dir = await tempDir('ps-label-mapping-nb-');
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  const o1 = join(dir, 'o1');
  const cold = run(o1, env);

  for (const name of ['results', 'summary', 'transferVsOwnHead', 'mappingTable']) {
    for (const ext of ['csv', 'arrow']) assert.ok(existsSync(join(o1, `${name}.${ext}`)), `${name}.${ext} written`);
  }
  for (const name of ['accuracyChart', 'mappingChart']) {
    const svg = readFileSync(join(o1, `${name}.svg`), 'utf8');
    assert.match(svg, /^<svg[\s>]/, `${name}.svg is an SVG`);
    const png = readFileSync(join(o1, `${name}.png`));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${name}.png is a PNG`);
    assert.ok(statSync(join(o1, `${name}.png`)).size > 2000, `${name}.png has content`);
  }
  assert.match(readFileSync(join(o1, 'mappingChart.svg'), 'utf8'), /scabbard|obelisk|[a-z]{4,}/, 'the mapping chart names source labels');

  // The tidy table: the two zero-shot rows and the two trained runs, every top-1 a proportion.
  const results = tableFromIPC(readFileSync(join(o1, 'results.arrow')));
  assert.deepEqual(results.schema.fields.map((f) => f.name), ['dataset', 'design', 'mapping', 'seed', 'shots', 'top1']);
  const rows = [...results].map((r) => r.toJSON() as { dataset: string; design: string; mapping: string; seed: number; shots: number; top1: number });
  assert.deepEqual(rows.map((r) => `${r.dataset}|${r.design}|${r.mapping}|${r.seed}|${r.shots}`).sort(),
    ['mnist|frame|frequency|1|1', 'mnist|frame|semantic|1|1', 'mnist|none|own head|1|1', 'mnist|none|semantic|1|1']);
  for (const r of rows) assert.ok(r.top1 >= 0 && r.top1 <= 1, `${r.design} + ${r.mapping}: top-1 ${r.top1} is a proportion`);
  assert.deepEqual(csvRows(join(o1, 'results.csv')).map((r) => Number(r.top1)), rows.map((r) => r.top1), 'CSV and Arrow agree');

  // The summary (mean ± std over one seed) and the zero-shot-transfer row against the own head.
  const summary = csvRows(join(o1, 'summary.csv'));
  assert.equal(summary.length, 4);
  for (const s of summary) {
    assert.equal(s.seeds, '1', `${s.design} + ${s.mapping}: one run per seed`);
    assert.equal(Number(s.stdTop1), 0);
    assert.match(s['top1 % (mean ± std)'], /^\d{1,3}\.\d ± 0\.0$/);
  }
  const zst = tableFromIPC(readFileSync(join(o1, 'transferVsOwnHead.arrow')));
  assert.equal(zst.numRows, 1);
  const z = zst.get(0)!.toJSON() as { dataset: string; ownHead: number; transfer: number; transferMinusOwnHead: number };
  assert.equal(z.dataset, 'mnist');
  assert.ok(z.ownHead > 0 && z.ownHead <= 1 && z.transfer > 0 && z.transfer <= 1, JSON.stringify(z));
  assert.ok(Math.abs(z.transfer - z.ownHead - z.transferMinusOwnHead) < 1e-9);
  const metrics = JSON.parse(readFileSync(join(o1, 'metrics.json'), 'utf8'));
  assert.equal(metrics.trainedRuns, 2);
  assert.ok(Math.abs(metrics.transferMinusOwnHeadPoints - 100 * z.transferMinusOwnHead) < 1e-6);

  // The mapping view: every downstream class once per run, similarity a cosine, rank within the 1,000 labels;
  // the semantic mapping is the zero-shot transfer's own (same rows), and picks labels by name similarity.
  // (Arrow: a source label may hold a comma.)
  const mapping = [...tableFromIPC(readFileSync(join(o1, 'mappingTable.arrow')))].map((r) => r.toJSON() as { run: string; class: string; source: string; similarity: number; rank: number });
  const runs = [...new Set(mapping.map((r) => r.run))].sort();
  assert.deepEqual(runs, ['frame + frequency', 'frame + semantic', 'zero-shot transfer']);
  for (const run of runs) assert.equal(mapping.filter((r) => r.run === run).length, 10, `${run}: one row per MNIST class`);
  for (const r of mapping) {
    assert.ok(Math.abs(r.similarity) <= 1 + 1e-6, `similarity ${r.similarity}`);
    assert.ok(r.rank >= 1 && r.rank <= 1000, `rank ${r.rank}`);
  }
  const pick = (run: string) => mapping.filter((r) => r.run === run).map((r) => `${r.class}→${r.source}`);
  assert.deepEqual(pick('frame + semantic'), pick('zero-shot transfer'));
  assert.ok(mapping.filter((r) => r.run === 'zero-shot transfer').some((r) => r.rank === 1), 'greedy semantic gives some class its most similar name');

  const stagesOf = (m: { stages: { stage: string; hit: boolean }[] }) => m.stages.map((s) => `${s.stage}:${s.hit ? 'hit' : 'miss'}`);
  const firstStages = stagesOf(cold.manifest);
  for (const name of ['zeroShotPrompt', 'zeroShotTransfer', 'trainPrompt', 'evaluatePrompt', 'labelMappingRows']) {
    assert.ok(firstStages.includes(`${name}:miss`), `the first run computed ${name}`);
  }

  // A new process on the same cache: every stage is a hit and every cell with stages reports "cached".
  const o2 = join(dir, 'o2');
  const warm = run(o2, env);
  const misses = stagesOf(warm.manifest).filter((s) => s.endsWith(':miss'));
  assert.deepEqual(misses, [], 'the re-run computes nothing');
  // Frozen features are read on demand, inside the stages that compute (zero-shot transfer here): a re-run
  // whose readers are all hits does not ask for them; every other stage it asks for again.
  const besidesFeatures = (m: { stages: { stage: string }[] }) => m.stages.filter((s) => s.stage !== 'imageFeatures').length;
  assert.equal(besidesFeatures(warm.manifest), besidesFeatures(cold.manifest), 'the re-run asks for the same stages');
  assert.ok(!warm.manifest.stages.some((s: { stage: string }) => s.stage === 'imageFeatures'), 'no reader of the features computed, so none were asked for');
  const runsCell = warm.manifest.cells.find((c: { names: string[] }) => c.names.includes('runs'));
  assert.equal(runsCell.status, 'cached');
  assert.equal(readFileSync(join(o2, 'results.csv'), 'utf8'), readFileSync(join(o1, 'results.csv'), 'utf8'), 'same numbers');

  // Another evaluation set: 3 held-out images per class instead of the task's 50. The training stages are
  // all hits (a prompt is keyed on the images it trained on); the evaluations are new.
  const o3 = join(dir, 'o3');
  const other = run(o3, env, ['evaluationKind="held-out images"', 'evaluationPerClass=3']);
  const third = stagesOf(other.manifest);
  assert.ok(third.filter((s) => s.startsWith('trainPrompt:')).length === 2 && !third.includes('trainPrompt:miss'), `no training: ${third.join(' ')}`);
  assert.ok(third.includes('evaluatePrompt:miss'), 'the new evaluation set is evaluated');
  assert.match(readFileSync(join(o3, 'summary.csv'), 'utf8'), /mnist,frame,frequency,1,/);

  t.diagnostic(`cold ${(cold.ms / 1000).toFixed(1)} s (${firstStages.filter((s) => s.endsWith(':miss')).length} stages computed), warm ${(warm.ms / 1000).toFixed(1)} s`);
});
