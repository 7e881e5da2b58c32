// The image-trained multi-label prompt (multilabel-image.ts), the fusion with TaI-DPT, and the registry's two
// kinds of method, on the tiny fixture CLIP (mechanics only; mini-CLIP's numbers are bench/taidpt.ts's):
// the pool drawn from CIFAR-10 train shares no image with the evaluation mosaics; the cached stage leaves the
// test-time settings (local weight, r) out of its key; a cancelled run resumes bit-identical; the fused
// score is (1 − r)·minmax(TaI-DPT) + r·minmax(image-trained), checked against a by-hand computation;
// multi-label methods are found through the registry and refused by the single-label door.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, load } from '../../cells/model/index.ts';
import { CancelledError } from '../../cells/exec/index.ts';
import { bundledDataset, CIFAR10_CLASSES } from '../../cells/data/bundled.ts';
import { loadImageFolder } from '../../cells/data/load-folder.ts';
import { mosaicSet } from '../../cells/data/mosaic.ts';
import { textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT, evaluateTaIDPT, mosaicFeatures } from '../../cells/prompts/taidpt.ts';
import { trainImageMultiLabel, runImageMultiLabel, IMAGE_PROMPT_DEFAULTS, IMAGE_PROMPT_OPTIM } from '../../cells/prompts/multilabel-image.ts';
import { getTrainer, getMultiLabelMethod, listMultiLabelMethods, listTrainers } from '../../cells/prompts/registry.ts';
import { makeTrainer } from '../../cells/prompts/train.ts';
import '../../cells/prompts/methods.ts';
import '../../cells/prompts/multilabel-methods.ts';
import { FIXTURE, SHARED, testCell } from './helpers.ts';

await initBackend('wasm');
const model = await load(FIXTURE, { id: 'fixture-tiny' });
const train = await loadImageFolder(join(SHARED, 'datasets/cifar10/train.tar'), { name: 'cifar10-train', split: 'train', classes: CIFAR10_CLASSES });
const pool = mosaicSet(train, { seed: 1, count: 24 });
const quiet = () => ({ signal: new AbortController().signal, progress: () => undefined, log: () => undefined });
const run = { config: { ...IMAGE_PROMPT_DEFAULTS, nCtx: 2 }, optim: { ...IMAGE_PROMPT_OPTIM, lr: 0.05, batchSize: 8 }, epochs: 3, seed: 1 };

test('the image pool (CIFAR-10 train mosaics) shares no source image with the evaluation mosaics (bundled test)', async () => {
  const evalSet = mosaicSet(await bundledDataset('cifar10'), { seed: 0 });
  const big = mosaicSet(train, { seed: 1, count: 200 }); // the notebook's and the bench's pool
  const tileHashes = (ds: typeof train, tiles: Int32Array) => new Set(Array.from(tiles, (id) => createHash('sha256').update(ds.images.get(id).data).digest('hex')));
  const evalTiles = tileHashes(await bundledDataset('cifar10'), evalSet.tiles);
  assert.equal(evalTiles.size, 1000);
  const shared = [...tileHashes(train, big.tiles)].filter((h) => evalTiles.has(h));
  assert.deepEqual(shared, [], 'a pool image has the pixels of an evaluation image');
  // offset: the next mosaics of the same permutation (a validation set) share no tile with the pool
  const val = mosaicSet(train, { seed: 1, offset: 200, count: 50 });
  assert.equal(val.count, 50);
  assert.equal(Array.from(val.tiles).filter((t) => big.tiles.includes(t)).length, 0);
  assert.deepEqual(Array.from(mosaicSet(train, { seed: 1, count: 250 }).tiles.subarray(800)), Array.from(val.tiles), 'offset continues the same permutation');
  assert.throws(() => mosaicSet(train, { offset: 7500 }), /offset must be an integer in \[0, 7500\)/);
});

test('image-trained prompt: a cached stage without the test-time settings in its key; cancel + resume bit-identical', async () => {
  const cell = testCell(mkdtempSync(join(tmpdir(), 'img-ml-')));
  const opts = { config: { nCtx: 2 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 2 };
  const a = await cell.run(() => trainImageMultiLabel(model, pool, opts));
  const b = await cell.run(() => trainImageMultiLabel(model, pool, { ...opts, config: { nCtx: 2, localWeight: 0.2 } }));
  await cell.run(() => trainImageMultiLabel(model, pool, { ...opts, config: { nCtx: 2, tau: 10 } }));
  await cell.run(() => trainImageMultiLabel(model, mosaicSet(train, { seed: 1, count: 20 }), opts));
  assert.deepEqual(cell.records.filter((r) => r.stage === 'trainImageMultiLabel').map((r) => r.hit), [false, true, false, false],
    'the local weight is test-time; τ trains; a different pool trains');
  assert.equal(b.config.localWeight, 0.2);
  assert.deepEqual(Array.from(b.state.ctxLocal.data), Array.from(a.state.ctxLocal.data));
  assert.ok(a.curve.every((p) => Number.isFinite(p.loss)));
  await assert.rejects(trainImageMultiLabel(model, pool, { config: { tauImage: 3 } as never }), /unknown config key "tauImage"/);

  const feats = await cell.run(() => mosaicFeatures(model, pool));
  const whole = await runImageMultiLabel(model, pool, feats, run, quiet());
  const ckpt = join(mkdtempSync(join(tmpdir(), 'img-ml-ckpt-')), 'checkpoint.safetensors');
  const ac = new AbortController();
  await assert.rejects(runImageMultiLabel(model, pool, feats, run, {
    signal: ac.signal, log: () => undefined, progress: (_f, m) => { if (m?.startsWith('epoch 2/3 step 2/')) ac.abort(); },
  }, ckpt), CancelledError);
  const resumed = await runImageMultiLabel(model, pool, feats, run, quiet(), ckpt);
  assert.equal(resumed.resumedAfterEpoch, 0);
  assert.deepEqual(Array.from(resumed.state.ctxGlobal.data), Array.from(whole.state.ctxGlobal.data));
  assert.deepEqual(resumed.curve.map((c) => c.loss), whole.curve.map((c) => c.loss));
});

test('fusion: (1 − r)·minmax(TaI-DPT) + r·minmax(image-trained); r re-evaluates only; rows in order', async () => {
  const cell = testCell(mkdtempSync(join(tmpdir(), 'img-fuse-')));
  const texts = textTrainingSet(['a speedy car', 'a puppy chasing a kitten', 'a ship at sea', 'a truck and a car', 'a deer grazing'], CIFAR10_SYNONYMS, ['a photo of a {}.']);
  const tai = await cell.run(() => trainTaIDPT(model, texts, { config: { nCtx: 2, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 1 }));
  const img = await cell.run(() => trainImageMultiLabel(model, pool, { config: { nCtx: 2 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 1 }));
  const evalSet = mosaicSet(await bundledDataset('cifar10'), { seed: 0, count: 40 });
  const before = cell.records.length;
  const e9 = await cell.run(() => evaluateTaIDPT(model, tai, evalSet, { imagePrompt: img }));
  const e3 = await cell.run(() => evaluateTaIDPT(model, tai, evalSet, { imagePrompt: img, r: 0.3 }));
  assert.ok(cell.records.slice(before).every((r) => r.stage === 'mosaicFeatures'), 'evaluating trains nothing');
  assert.deepEqual(e9.summary.getChild('method')!.toArray(),
    ['zero-shot CLIP', 'TaI global only', 'TaI local only', 'TaI-DPT', 'image-trained prompt', 'fused TaI-DPT + image']);
  const norm = (x: Float32Array) => { const lo = Math.min(...x), hi = Math.max(...x); return Array.from(x, (v) => (v - lo) / (hi - lo)); };
  for (const [ev, r] of [[e9, 0.9], [e3, 0.3]] as const) {
    const a = norm(ev.scores.taidpt), b = norm(ev.scores.image!);
    ev.scores.fused!.forEach((v, i) => assert.ok(Math.abs(v - ((1 - r) * a[i] + r * b[i])) < 1e-6, `fused[${i}] at r = ${r}`));
  }
  assert.deepEqual(Array.from(e3.scores.taidpt), Array.from(e9.scores.taidpt));
  const noImage = await cell.run(() => evaluateTaIDPT(model, tai, evalSet));
  assert.equal(noImage.summary.numRows, 4);
  await assert.rejects(evaluateTaIDPT(model, tai, evalSet, { imagePrompt: img, r: 1.5 }), /r must be in \[0, 1\]/);
});

test('registry: multi-label methods are found by name and refused by the single-label door', () => {
  assert.deepEqual(listMultiLabelMethods(), ['image-multilabel', 'taidpt']);
  assert.equal(getMultiLabelMethod('taidpt').train, trainTaIDPT);
  assert.equal(getMultiLabelMethod('taidpt').trainsOn, 'texts');
  assert.equal(getMultiLabelMethod('image-multilabel').train, trainImageMultiLabel);
  assert.equal(getMultiLabelMethod('image-multilabel').trainsOn, 'images');
  assert.ok(!listTrainers().includes('taidpt') && listTrainers().includes('coop'));
  assert.throws(() => getTrainer('taidpt'), /"taidpt" is a multi-label method .*getMultiLabelMethod\("taidpt"\)/);
  // trainPrompt / the few-shot protocol build trainers through makeTrainer → getTrainer
  assert.throws(() => makeTrainer(null as never, { classNames: ['a', 'b'] } as never, 'image-multilabel', {}, 1), /multi-label method/);
  assert.throws(() => getMultiLabelMethod('coop'), /"coop" is a single-label method/);
  assert.throws(() => getMultiLabelMethod('nope'), /unknown multi-label method "nope"; registered: image-multilabel, taidpt/);
});
