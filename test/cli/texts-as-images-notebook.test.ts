// notebooks/texts-as-images.html (TaI-DPT) runs headless through `promptscope run` on a tiny setting
// (1 epoch, 1 seed, a 100-mosaic image pool) and writes its mAP table (CSV + Arrow), charts (SVG + PNG) and
// metrics; a second run that changes only the fusion weight r and τ re-trains nothing (both training stages are
// hits); a run with a narrower corpus filter re-trains TaI-DPT only; a run on COCO-mini with the tiny fixture
// CLIP (any checkpoint by path) goes end to end over COCO's 80 classes (pipeline only). Beside it, the API rule the notebook relies on:
// trainTaIDPT's key leaves out the test-time settings (tauImage, localWeight).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { tempDir } from '../engine/helpers.ts';
import { initBackend, load } from '../../cells/model/index.ts';
import { textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT } from '../../cells/prompts/taidpt.ts';
import { FIXTURE, testCell } from '../prompts/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/texts-as-images.html', import.meta.url));
const METHODS = ['zero-shot CLIP', 'TaI global only', 'TaI local only', 'TaI-DPT', 'image-trained prompt', 'fused TaI-DPT + image'];

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - t0 }));
  });
}

const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { stages: { stage: string; hit: boolean }[]; settings: Record<string, unknown> };
const hitsOf = (out: string, stage: string) => manifestOf(out).stages.filter((s) => s.stage === stage).map((s) => s.hit);
const metricsOf = (out: string) => JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
function csvRows(file: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const names = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
}

test('texts-as-images notebook: tiny run writes its outputs; changing r re-trains nothing, the corpus filter re-trains', async (t) => {
  const dir = await tempDir('ps-tai-');
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  const tiny = ['--set', 'epochs=1', '--set', 'seeds=[1]', '--set', 'poolSize=100'];

  const o1 = join(dir, 'o1');
  const first = await cli(['run', NOTEBOOK, ...tiny, '--out', o1], env);
  assert.equal(first.code, 0, first.stderr);
  for (const f of ['mAPTable.csv', 'mAPTable.arrow', 'mAPChart.svg', 'mAPChart.png', 'perClassAP.csv', 'perClassAP.arrow', 'labelCounts.csv', 'labelSummary.csv', 'lossCurve.svg', 'mosaicChart.png', 'mosaicScores.json', 'metrics.json']) {
    assert.ok(existsSync(join(o1, f)), `${f} was not written`);
  }
  assert.match(readFileSync(join(o1, 'mAPChart.svg'), 'utf8'), /<svg[\s>]/);
  assert.deepEqual([...readFileSync(join(o1, 'mAPChart.png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.deepEqual(hitsOf(o1, 'trainTaIDPT'), [false]);
  assert.deepEqual(hitsOf(o1, 'trainImageMultiLabel'), [false]);
  assert.deepEqual(hitsOf(o1, 'mosaicFeatures'), [false, false], 'the image pool and the test mosaics');

  // The mAP table: the six methods in order, one seed, values in (chance − 15, 100]; CSV and Arrow agree.
  const m1 = metricsOf(o1);
  const table = csvRows(join(o1, 'mAPTable.csv'));
  assert.deepEqual(table.map((r) => r.method), METHODS);
  const arrow = tableFromIPC(readFileSync(join(o1, 'mAPTable.arrow')));
  assert.equal(arrow.numRows, 6);
  for (const [i, r] of table.entries()) {
    const mAP = Number(r.meanMAP);
    assert.ok(mAP > m1.chanceMAP - 15 && mAP <= 100, `${r.method}: mAP ${mAP}`);
    assert.equal(Number(r.seeds), 1);
    assert.equal(r.stdMAP, '', 'one seed: no standard deviation');
    assert.ok(Math.abs(Number(arrow.get(i)!.meanMAP) - mAP) < 1e-9);
  }
  // Figures that do not depend on training: the shipped corpus, its labels and the mosaics.
  assert.equal(m1.trainingTexts, 3853 + 80, '3,853 corpus sentences + 8 templates × 10 classes');
  assert.equal(m1.textsWith2Labels, 73);
  assert.ok(Math.abs(m1.chanceMAP - 34.28) < 0.01, `chance ${m1.chanceMAP}`);
  assert.ok(Math.abs(m1.zeroShotMAP - 46.36) < 0.05, `zero-shot mAP ${m1.zeroShotMAP} (cells/prompts/README.md: 46.4)`);
  const counts = csvRows(join(o1, 'labelCounts.csv'));
  assert.equal(counts.length, 10);
  for (const c of counts) assert.ok(Number(c.texts) === Number(c.corpusTexts) + 8, `${c.className}: 8 template texts`);
  assert.equal(csvRows(join(o1, 'perClassAP.csv')).length, 10);

  // Only r and τ change: training and the image features come from the cache; TaI-DPT's local branch and the
  // fused score move, zero-shot, the global prompt and the image-trained prompt (global only) do not.
  const o2 = join(dir, 'o2');
  const second = await cli(['run', NOTEBOOK, ...tiny, '--set', 'r=0.25', '--set', 'tau=20', '--out', o2], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(hitsOf(o2, 'trainTaIDPT'), [true], 'changing r re-trains nothing');
  assert.deepEqual(hitsOf(o2, 'trainImageMultiLabel'), [true], 'changing r re-trains nothing');
  assert.deepEqual(hitsOf(o2, 'mosaicFeatures'), [true, true]);
  assert.ok(manifestOf(o2).stages.every((s) => s.hit), 'nothing recomputed');
  const m2 = metricsOf(o2);
  assert.equal(m2.r, 0.25);
  assert.equal(m2.tau, 20);
  for (const k of ['zeroShotMAP', 'globalMAP', 'imageMAP']) assert.equal(m2[k], m1[k], k);
  assert.notEqual(m2.localMAP, m1.localMAP, 'τ re-weights the local branch');
  assert.notEqual(m2.fusedMAP, m1.fusedMAP, 'the fused score depends on r');

  // A narrower corpus filter changes the training texts: the prompts re-train.
  const o3 = join(dir, 'o3');
  const third = await cli(['run', NOTEBOOK, ...tiny, '--set', 'maxWords=10', '--out', o3], env);
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(hitsOf(o3, 'trainTaIDPT'), [false], 'a new corpus filter re-trains');
  assert.deepEqual(hitsOf(o3, 'trainImageMultiLabel'), [true], 'the image-trained prompt does not read the corpus');
  assert.deepEqual(hitsOf(o3, 'mosaicFeatures'), [true, true]);
  assert.ok(metricsOf(o3).trainingTexts < m1.trainingTexts);

  // The COCO path with another CLIP checkpoint (the tiny random fixture: pipeline only, no accuracy): COCO-mini's
  // val2017 as test images, its train2017 as the image pool, COCO's 80 classes.
  const o4 = join(dir, 'o4');
  const fourth = await cli(['run', NOTEBOOK, ...tiny, '--set', 'testSet="COCO"', '--set', `modelName=${JSON.stringify(FIXTURE)}`, '--out', o4], env);
  assert.equal(fourth.code, 0, fourth.stderr);
  assert.deepEqual(csvRows(join(o4, 'mAPTable.csv')).map((r) => r.method), METHODS);
  assert.equal(csvRows(join(o4, 'perClassAP.csv')).length, 80, 'one row per COCO class');
  assert.ok(metricsOf(o4).trainingTexts >= 80 * 8, "8 template sentences for each of the 80 classes");
  assert.deepEqual(hitsOf(o4, 'trainTaIDPT'), [false]);
  t.diagnostic(`cold ${(first.ms / 1000).toFixed(1)} s, r only ${(second.ms / 1000).toFixed(1)} s, corpus filter ${(third.ms / 1000).toFixed(1)} s, COCO ${(fourth.ms / 1000).toFixed(1)} s`);
});

test('trainTaIDPT: the test-time settings (tauImage, localWeight) are not part of the training key', async () => {
  await initBackend('wasm');
  const model = await load(FIXTURE, { id: 'fixture-tiny' });
  const set = textTrainingSet(['a speedy car', 'a puppy chasing a kitten', 'a ship at sea', 'a truck and a car'], CIFAR10_SYNONYMS, ['a photo of a {}.']);
  const cell = testCell(mkdtempSync(join(tmpdir(), 'tai-key-')));
  const opts = { optim: { lr: 0.05, batchSize: 8 }, epochs: 1 };
  const a = await cell.run(() => trainTaIDPT(model, set, { ...opts, config: { nCtx: 2, maxTokens: 16 } }));
  const b = await cell.run(() => trainTaIDPT(model, set, { ...opts, config: { nCtx: 2, maxTokens: 16, tauImage: 10, localWeight: 0.2 } }));
  await cell.run(() => trainTaIDPT(model, set, { ...opts, config: { nCtx: 2, maxTokens: 16, tauText: 20 } }));
  assert.deepEqual(cell.records.filter((r) => r.stage === 'trainTaIDPT').map((r) => r.hit), [false, true, false], 'τ_text trains, τ_image and r do not');
  assert.equal(b.config.tauImage, 10, 'the result carries the requested test-time settings');
  assert.equal(b.config.localWeight, 0.2);
  assert.equal(a.config.tauImage, 40);
  assert.deepEqual(Array.from(b.state.ctxGlobal.data), Array.from(a.state.ctxGlobal.data));
});
