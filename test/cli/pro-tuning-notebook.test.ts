// notebooks/pro-tuning.html runs headless with `promptscope run` on a reduced setting (3 training and 5 test
// images per class, 1 epoch, one corruption, the PGD transfer scenario): its tables come out as CSV + Arrow, its charts as SVG + PNG, its
// numbers in metrics.json; every method × backbone × scenario has a row with a proportion for top-1 and the
// trainable-parameter count the method implies; scenarios that share a training view share the trained
// model; and a second run in a fresh process computes no stage at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/pro-tuning.html', import.meta.url));
const REDUCED = ['trainPerClass=3', 'testPerClass=5', 'epochs=1', 'headClassImages=4', 'imbalanceRatio=2', 'corruptions=["contrast"]'];

function run(out: string, env: Record<string, string>) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', NOTEBOOK, ...REDUCED.flatMap((s) => ['--set', s]), '--out', out], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `promptscope run exited ${r.status}:\n${r.stderr}`);
  return { ms: Date.now() - t0, manifest: JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) };
}

interface Row { backbone: string; method: string; scenario: string; kind: string; trainedOn: string; top1: number; trainableParameters: bigint | number }

test('pro-tuning notebook: reduced headless run writes its tables, charts and metrics; a re-run computes nothing', async (t) => {
  const dir = await tempDir('ps-pro-tuning-nb-');
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  const o1 = join(dir, 'o1');
  const cold = run(o1, env);

  for (const name of ['results', 'accuracyTable', 'scenarioTable']) {
    for (const ext of ['csv', 'arrow']) assert.ok(existsSync(join(o1, `${name}.${ext}`)), `${name}.${ext} written`);
  }
  for (const name of ['accuracyChart', 'parameterChart']) {
    assert.match(readFileSync(join(o1, `${name}.svg`), 'utf8'), /^<svg[\s>]/, `${name}.svg is an SVG`);
    const png = readFileSync(join(o1, `${name}.png`));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${name}.png is a PNG`);
    assert.ok(statSync(join(o1, `${name}.png`)).size > 2000, `${name}.png has content`);
  }
  const spec = JSON.parse(readFileSync(join(o1, 'parameterChart.vl.json'), 'utf8'));
  assert.equal(spec.encoding.x.scale.type, 'log', 'parameters on a log axis');

  const rows = [...tableFromIPC(readFileSync(join(o1, 'results.arrow')))].map((r) => r.toJSON() as unknown as Row);
  const scenarios = ['cifar10', 'cifar10 long-tailed ρ=2', 'cifar10-C contrast 3', 'cifar10 PGD ε=8/255', 'mnist', 'mnist → contrast 5'];
  const expected = [
    ...['linear probe', 'full fine-tuning', 'Pro-tuning', 'VPT', 'CoOp', 'UPT'].map((m) => `mini-clip|${m}`),
    ...['linear probe', 'full fine-tuning', 'Pro-tuning'].map((m) => `resnet-cifar10|${m}`),
  ].flatMap((bm) => scenarios.map((s) => `${bm}|${s}`)).sort();
  assert.deepEqual(rows.map((r) => `${r.backbone}|${r.method}|${r.scenario}`).sort(), expected, 'every method × backbone × scenario once (VPT, CoOp and UPT on the ViT only)');
  for (const r of rows) assert.ok(r.top1 >= 0 && r.top1 <= 1, `${r.backbone} ${r.method} ${r.scenario}: top-1 ${r.top1}`);

  // Parameter counts by hand: the linear head on the pooled feature (mini-CLIP: 128 → 10; ResNet: 64 → 10);
  // fine-tuning: the image path (ResNet: its 78,042 weights minus its own 650-weight classifier, plus the
  // head); Pro-tuning: blocks on top of the head, far fewer than fine-tuning.
  const params = (b: string, m: string) => Number(rows.find((r) => r.backbone === b && r.method === m)!.trainableParameters);
  assert.equal(params('mini-clip', 'linear probe'), 128 * 10 + 10);
  assert.equal(params('resnet-cifar10', 'linear probe'), 64 * 10 + 10);
  assert.equal(params('resnet-cifar10', 'full fine-tuning'), 78042 - 650 + 650);
  for (const b of ['mini-clip', 'resnet-cifar10']) {
    assert.ok(params(b, 'Pro-tuning') > params(b, 'linear probe') && params(b, 'Pro-tuning') < params(b, 'full fine-tuning') / 1.9, `${b}: Pro-tuning between the head and fine-tuning`);
  }

  // The corruption and adversarial scenarios are scored on the model trained for the generic one; the OOD on
  // clean MNIST's.
  for (const r of rows) {
    if (r.kind === 'corruption' || r.kind === 'adversarial') assert.equal(r.trainedOn, 'cifar10');
    if (r.kind === 'ood') assert.equal(r.trainedOn, 'mnist');
  }
  const metrics = JSON.parse(readFileSync(join(o1, 'metrics.json'), 'utf8'));
  assert.equal(metrics.trainedRuns, 9 * 3, '9 method-backbone pairs × 3 training views');
  const gap = (b: string) => 100 * rows.filter((r) => r.backbone === b && r.method === 'Pro-tuning')
    .reduce((a, r) => a + r.top1 - rows.find((f) => f.backbone === b && f.method === 'full fine-tuning' && f.scenario === r.scenario)!.top1, 0) / scenarios.length;
  assert.ok(Math.abs(metrics.proTuningMinusFineTuningViT - gap('mini-clip')) < 1e-9);
  assert.ok(Math.abs(metrics.proTuningMinusFineTuningResNet - gap('resnet-cifar10')) < 1e-9);
  const table = readFileSync(join(o1, 'accuracyTable.csv'), 'utf8').split('\n')[0];
  // PIVOT orders the scenario columns by name.
  assert.equal(table, `backbone,method,trainableParameters,${[...scenarios].sort().join(',')}`);

  const stagesOf = (m: { stages: { stage: string; hit: boolean }[] }) => m.stages.map((s) => `${s.stage}:${s.hit ? 'hit' : 'miss'}`);
  const firstStages = stagesOf(cold.manifest);
  assert.equal(firstStages.filter((s) => s === 'trainPrompt:miss').length, 27, 'each training computed once');
  assert.equal(firstStages.filter((s) => s === 'pgdAttack:miss').length, 1, 'the attack computed once');
  // A new process on the same cache: every stage is a hit.
  const o2 = join(dir, 'o2');
  const warm = run(o2, env);
  assert.deepEqual(stagesOf(warm.manifest).filter((s) => s.endsWith(':miss')), [], 'the re-run computes nothing');
  assert.equal(warm.manifest.stages.length, cold.manifest.stages.length);
  assert.equal(warm.manifest.cells.find((c: { names: string[] }) => c.names.includes('runs')).status, 'cached');
  assert.equal(readFileSync(join(o2, 'results.csv'), 'utf8'), readFileSync(join(o1, 'results.csv'), 'utf8'), 'same numbers');
  t.diagnostic(`cold ${(cold.ms / 1000).toFixed(1)} s, warm ${(warm.ms / 1000).toFixed(1)} s (notebook ${warm.manifest.elapsedMs} ms)`);
});
