// notebooks/pretrain-resnet.html: its inputs reach the recipe the shipped resnet-cifar10 was trained with
// (read from that model's own metrics.json), its defaults never write over the bundled model, and a tiny
// headless run (2 SGD steps, 200 test images) trains, exports a loadable checkpoint with its card, and
// writes its tables, charts and metrics; a second run in a fresh process computes no stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { tempDir } from '../engine/helpers.ts';
import { initBackend } from '../../cells/model/backend.ts';
import { load } from '../../cells/model/load.ts';
import { DEFAULT_RESNET_TRAIN } from '../../cells/model/pretrain/resnet-train.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/pretrain-resnet.html', import.meta.url));
const SHIPPED = fileURLToPath(new URL('../../data/models/resnet-cifar10/', import.meta.url));
const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The value, min and max of the notebook's `Inputs.range` for `name`. */
function rangeInput(html: string, name: string): { min: number; max: number; value: number } {
  const m = new RegExp(`const ${name} = view\\(Inputs\\.range\\(\\[([\\d.]+), ([\\d.]+)\\], \\{value: ([\\d.]+)`).exec(html);
  assert.ok(m, `the notebook has a range input "${name}"`);
  return { min: Number(m[1]), max: Number(m[2]), value: Number(m[3]) };
}

test('pretrain-resnet notebook: the shipped recipe is reachable by its inputs; the defaults are short and write elsewhere', () => {
  const html = readFileSync(NOTEBOOK, 'utf8');
  const shipped = JSON.parse(readFileSync(join(SHIPPED, 'metrics.json'), 'utf8'));
  // The notebook passes epochs and seed over the recipe's defaults: the shipped run must be exactly that.
  const { epochs: _e, seed: _s, ...rest } = DEFAULT_RESNET_TRAIN;
  for (const [k, v] of Object.entries(rest)) assert.deepEqual(shipped.options[k], v, `shipped model's ${k} is the recipe default`);
  const epochs = rangeInput(html, 'epochs'), seed = rangeInput(html, 'seed'), testImages = rangeInput(html, 'testImages');
  assert.ok(shipped.options.epochs >= epochs.min && shipped.options.epochs <= epochs.max, 'shipped epochs within the input');
  assert.ok(shipped.options.seed >= seed.min && shipped.options.seed <= seed.max, 'shipped seed within the input');
  assert.ok(shipped.testImages <= testImages.max, 'the full test set within the input');
  // The command the notebook shows for the shipped model sets what the shipped metrics record.
  const cmd = /npx promptscope run notebooks\/pretrain-resnet\.html (.*)/.exec(html);
  assert.ok(cmd, 'the notebook shows the command for the shipped model');
  assert.match(cmd[1], new RegExp(`--set epochs=${shipped.options.epochs}\\b`));
  assert.match(cmd[1], new RegExp(`--set testImages=${shipped.testImages}\\b`));
  assert.match(cmd[1], /--set outDir=data\/models\/resnet-cifar10\b/);
  assert.equal(seed.value, shipped.options.seed);
  // Short by default (one epoch is a tenth of the shipped run), and never into the bundled model's folder.
  assert.ok(epochs.value <= 1, `default epochs ${epochs.value}`);
  const outDir = /const outDir = view\(Inputs\.text\(\{value: "([^"]*)"/.exec(html);
  assert.ok(outDir && outDir[1] && !outDir[1].includes('data/models'), `default outDir ${outDir?.[1]}`);
});

function run(args: string[], env: Record<string, string>) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', NOTEBOOK, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `promptscope run exited ${r.status}:\n${r.stderr}`);
  return Date.now() - t0;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('pretrain-resnet notebook: a tiny headless run trains, exports a loadable model and writes its outputs; a re-run computes nothing', async () => {
  const dir = await tempDir('ps-pretrain-resnet-nb-');
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  const model = join(dir, 'model');
  const tiny = ['epochs=0.01', 'testImages=200', `outDir=${model}`].flatMap((s) => ['--set', s]);
  const shippedBefore = sha(join(SHIPPED, 'model.safetensors'));
  run([...tiny, '--out', join(dir, 'o1')], env);
  const o1 = join(dir, 'o1');

  // 0.01 epochs of ⌊26,500 / 128⌋ = 207 steps per epoch: 2 steps, each with its loss recorded.
  const metrics = JSON.parse(readFileSync(join(o1, 'metrics.json'), 'utf8'));
  const result = JSON.parse(readFileSync(join(o1, 'run.json'), 'utf8'));
  assert.equal(result.metrics.trainImages, 26500, 'trained on the pool- and validation-free training images');
  assert.equal(metrics.stepsTrained, 2);
  assert.equal(result.metrics.history.length, 2);
  for (const h of result.metrics.history) assert.ok(Number.isFinite(h.loss) && h.loss > 0, `loss ${h.loss}`);
  assert.equal(metrics.parameters, 78042, 'the recipe shape: the shipped model\'s parameter count');
  assert.equal(result.metrics.testImages, 200);

  // Per class: all ten classes evaluated, 20 images each, so the overall accuracy is their mean.
  const perClass = [...tableFromIPC(readFileSync(join(o1, 'perClass.arrow')))].map((r) => r.toJSON() as { label: string; accuracy: number });
  assert.deepEqual(perClass.map((r) => r.label), CIFAR10);
  for (const r of perClass) assert.ok(r.accuracy >= 0 && r.accuracy <= 1, `${r.label}: ${r.accuracy}`);
  const mean = perClass.reduce((a, r) => a + r.accuracy, 0) / perClass.length;
  assert.ok(Math.abs(metrics.testAccuracy - mean) < 1e-12, `overall ${metrics.testAccuracy} = mean of classes ${mean}`);
  const validation = [...tableFromIPC(readFileSync(join(o1, 'validation.arrow')))].map((r) => r.toJSON() as { step: number; accuracy: number });
  assert.equal(validation.at(-1)?.step, 2, 'validated at the last step');
  assert.ok(readFileSync(join(o1, 'perClass.csv'), 'utf8').startsWith('label,accuracy\nairplane,'));
  for (const name of ['perClassChart', 'lossChart']) {
    assert.match(readFileSync(join(o1, `${name}.svg`), 'utf8'), /^<svg[\s>]/, `${name}.svg`);
    assert.deepEqual([...readFileSync(join(o1, `${name}.png`)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${name}.png`);
  }

  // The exported checkpoint loads through the ordinary loader and is the one the metrics describe.
  for (const f of ['config.json', 'model.safetensors', 'README.md', 'metrics.json', 'training-curve.png']) assert.ok(existsSync(join(model, f)), `${f} written`);
  await initBackend('cpu');
  const loaded = await load(model, { type: 'resnet' });
  assert.equal(loaded.fingerprint, result.metrics.fingerprint);
  assert.deepEqual(loaded.classNames, CIFAR10);
  loaded.dispose();
  const card = readFileSync(join(model, 'README.md'), 'utf8');
  assert.ok(card.includes(`**${(100 * metrics.testAccuracy).toFixed(1)}%** (200 test images`), 'the card states the measured accuracy');
  assert.ok(card.includes('--set epochs=0.01'), 'the card says how this model was made');
  assert.equal(sha(join(SHIPPED, 'model.safetensors')), shippedBefore, 'the bundled model is untouched');

  // Fresh process, same cache: the training stage is a hit, nothing is recomputed.
  const ms = run([...tiny, '--out', join(dir, 'o2')], env);
  const manifest = JSON.parse(readFileSync(join(dir, 'o2', 'manifest.json'), 'utf8'));
  const stages = manifest.stages as Array<{ stage: string; hit: boolean }>;
  assert.deepEqual(stages.map((s) => `${s.stage}:${s.hit}`), ['pretrainResNet:true']);
  assert.equal(JSON.parse(readFileSync(join(dir, 'o2', 'metrics.json'), 'utf8')).testAccuracy, metrics.testAccuracy);
  // Mostly Node and tsx start-up (a few seconds idle); the bound leaves room for a loaded CI machine and still
  // fails if anything outside the stage re-decoded the 30,000 training images or retrained.
  assert.ok(ms < 30_000, `cached re-run took ${ms} ms`);
});
