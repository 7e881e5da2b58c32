// TaI-DPT's mechanics on the tiny fixture CLIP: the dense-feature hooks, gradients reaching only the two
// prompts (frozen weights bit-identical), the cached training stage (keyed by text set / config / model),
// resume after a cancel bit-identical to an uninterrupted run, the NaN stop, and the mosaic set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, load, backboneOf, defaultTokenizer, denseImageFeatures, denseTextFeatures } from '../../cells/model/index.ts';
import { CancelledError } from '../../cells/exec/index.ts';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { mosaicSet } from '../../cells/data/mosaic.ts';
import { preprocessInto } from '../../cells/data/preprocess.ts';
import { textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { TrainingDivergedError } from '../../cells/prompts/train.ts';
import {
  TaIDPTPrompts, runTaIDPT, trainTaIDPT, textSetFingerprint, captionFeatures, evaluateTaIDPT, TAIDPT_DEFAULTS, TAIDPT_OPTIM,
} from '../../cells/prompts/taidpt.ts';
import { rankingLoss } from '../../cells/prompts/multilabel.ts';
import { FIXTURE, testCell } from './helpers.ts';

await initBackend('wasm');
const model = await load(FIXTURE, { id: 'fixture-tiny' });
const backbone = await backboneOf(model);
const CONFIG = { ...TAIDPT_DEFAULTS, nCtx: 4, maxTokens: 16 };
const CORPUS = [
  'transport by boat or aircraft', 'a speedy car', 'corral the horses', 'a young dog', 'a puppy chasing a kitten',
  'small slender toads', 'a large owl of North America', 'a truck equipped to carry firemen', 'a deer grazing', 'a ship at sea',
  'the act of crossing a river in a car or on a horse', 'a bird on a branch',
];
const SET = textTrainingSet(CORPUS, CIFAR10_SYNONYMS, ['a photo of a {}.', 'a picture of a {}.']);
const run = { config: CONFIG, optim: { ...TAIDPT_OPTIM, lr: 0.05, batchSize: 8 }, epochs: 3, seed: 1 };
const quiet = () => ({ signal: new AbortController().signal, progress: () => undefined, log: () => undefined });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => { for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol) return false; return a.length === b.length; };

test('dense hooks: the EOT row is the text embedding, patches are [B, (S/p)², P] beside the image embedding', () => {
  const b = defaultTokenizer().tokenize(['a photo of a cat.', 'a ship'], { contextLength: 16 });
  const d = denseTextFeatures(model, b.ids, b.n, 16, b.eotIndex);
  const ref = model.encodeText(['a photo of a cat.', 'a ship']);
  const eotRows = tf.stack([0, 1].map((i) => d.tokens.slice([i, b.eotIndex[i], 0], [1, 1, -1]).reshape([-1])));
  assert.ok(close(eotRows.dataSync(), ref.dataSync(), 1e-4));
  assert.ok(close(d.global.dataSync(), ref.dataSync(), 1e-5));
  const px = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
  const im = denseImageFeatures(model, px);
  assert.deepEqual(im.patches.shape, [2, 16, model.config.projectionDim]);
  assert.ok(close(im.global.dataSync(), model.encodeImage(px).dataSync(), 1e-5));
  tf.dispose([d.tokens, d.global, ref, eotRows, px, im.patches, im.global]);
});

test('gradients reach only the two prompts; frozen weights bit-identical after training', async () => {
  const before = new Map([...backbone.weights()].map(([k, v]) => [k, v.dataSync().slice()]));
  const feats = await captionFeatures(model, SET.texts, CONFIG.maxTokens);
  const prompts = new TaIDPTPrompts(backbone, SET.classNames, CONFIG, 1);
  const n = SET.texts.length, C = 10;
  const { grads, value } = tf.variableGrads(() => {
    const s = prompts.scores(tf.tensor2d(feats.global, [n, feats.P]), tf.tensor3d(feats.tokens, [n, feats.T, feats.P]), tf.tensor2d(feats.mask, [n, feats.T]), 50);
    const y = tf.tensor2d(Float32Array.from(SET.labels), [n, C]);
    return rankingLoss(s.global, y).add(rankingLoss(s.local, y)) as tf.Scalar;
  }); // no variable list: every trainable variable in the process
  assert.ok(value.dataSync()[0] > 0);
  assert.deepEqual(Object.keys(grads).sort(), [prompts.ctxGlobal.name, prompts.ctxLocal.name].sort());
  for (const g of Object.values(grads)) assert.ok(tf.tidy(() => g.abs().sum().dataSync()[0]) > 0);
  tf.dispose([...Object.values(grads), value]);
  prompts.dispose();
  const trained = await runTaIDPT(model, SET, textSetFingerprint(SET), run, quiet());
  assert.equal(trained.curve.length, 3);
  assert.deepEqual(Object.keys(trained.state).sort(), ['ctxGlobal', 'ctxLocal']);
  for (const [k, v] of backbone.weights()) assert.ok(Buffer.from(v.dataSync().buffer).equals(Buffer.from(before.get(k)!.buffer)), `weight ${k} changed`);
});

test('trainTaIDPT is a cached stage keyed by text set, config and model', async () => {
  const cell = testCell();
  const a = await cell.run(() => trainTaIDPT(model, SET, { config: { nCtx: 4, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 2 }));
  const b = await cell.run(() => trainTaIDPT(model, SET, { config: { nCtx: 4, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 2 }));
  const recs = cell.records.filter((r) => r.stage === 'trainTaIDPT');
  assert.deepEqual(recs.map((r) => r.hit), [false, true]);
  assert.deepEqual(Array.from(a.state.ctxLocal.data), Array.from(b.state.ctxLocal.data));
  const fewer = textTrainingSet(CORPUS.slice(1), CIFAR10_SYNONYMS, ['a photo of a {}.', 'a picture of a {}.']);
  await cell.run(() => trainTaIDPT(model, fewer, { config: { nCtx: 4, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 2 }));
  await cell.run(() => trainTaIDPT(model, SET, { config: { nCtx: 3, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 2 }));
  const keys = new Set(cell.records.filter((r) => r.stage === 'trainTaIDPT').map((r) => r.key));
  assert.equal(keys.size, 3);
  await assert.rejects(trainTaIDPT(model, SET, { config: { nctx: 4 } as never }), /unknown config key "nctx"/);
});

test('cancel mid-run, resume from the checkpoint: bit-identical to an uninterrupted run; NaN stops with the checkpoint kept', async () => {
  const whole = await runTaIDPT(model, SET, 'fp', run, quiet());
  const ckpt = join(mkdtempSync(join(tmpdir(), 'taidpt-')), 'checkpoint.safetensors');
  const ac = new AbortController();
  await assert.rejects(runTaIDPT(model, SET, 'fp', run, {
    signal: ac.signal, log: () => undefined, progress: (_f, m) => { if (m?.startsWith('epoch 2/3 step 2/')) ac.abort(); },
  }, ckpt), CancelledError);
  const resumed = await runTaIDPT(model, SET, 'fp', run, quiet(), ckpt);
  assert.equal(resumed.resumedAfterEpoch, 0);
  assert.deepEqual(Array.from(resumed.state.ctxGlobal.data), Array.from(whole.state.ctxGlobal.data));
  assert.deepEqual(Array.from(resumed.state.ctxLocal.data), Array.from(whole.state.ctxLocal.data));
  assert.deepEqual(resumed.curve.map((c) => c.loss), whole.curve.map((c) => c.loss));
  const bad = { ...run, optim: { ...run.optim, lr: NaN, warmupEpochs: 0 } };
  await assert.rejects(runTaIDPT(model, SET, 'fp', bad, quiet()), (e: unknown) => e instanceof TrainingDivergedError && /epoch 1, step 2/.test(String(e)));
});

test('2×2 mosaics: deterministic, every image once, labels = classes of the tiles, tiles in place', async () => {
  const ds = await bundledDataset('cifar10');
  const a = mosaicSet(ds, { seed: 0 }), b = mosaicSet(ds, { seed: 0 }), c = mosaicSet(ds, { seed: 1 });
  assert.equal(a.count, 250);
  assert.equal(a.fingerprint, b.fingerprint);
  assert.notEqual(a.fingerprint, c.fingerprint);
  assert.equal(new Set(a.tiles).size, 1000);
  const label = ds.rows.getChild('label')!.toArray() as Int32Array;
  for (let m = 0; m < a.count; m++) {
    const want = new Set([0, 1, 2, 3].map((t) => label[a.tiles[m * 4 + t]]));
    for (let k = 0; k < 10; k++) assert.equal(a.labels[m * 10 + k], want.has(k) ? 1 : 0);
  }
  const img = a.image(7), tr = ds.images.get(a.tiles[7 * 4 + 1]); // top-right tile
  assert.deepEqual([img.width, img.height], [64, 64]);
  for (let y = 0; y < 32; y++) assert.ok(Buffer.from(img.data.subarray((y * 64 + 32) * 3, (y * 64 + 64) * 3)).equals(Buffer.from(tr.data.subarray(y * 32 * 3, (y + 1) * 32 * 3))));
  const px = new Float32Array(3 * 32 * 32);
  preprocessInto(img, 32, px); // the model's input: the mosaic down to 32 × 32
  assert.ok(px.every(Number.isFinite));
  // the evaluation runs end to end on the fixture (numbers are the fixture's random towers: not asserted)
  const cell = testCell();
  const trained = await runTaIDPT(model, SET, 'fp', { ...run, epochs: 1 }, quiet());
  const ev = await cell.run(() => evaluateTaIDPT(model, trained, a));
  assert.deepEqual(ev.summary.getChild('method')!.toArray(), ['zero-shot CLIP', 'TaI global only', 'TaI local only', 'TaI-DPT']);
  assert.equal(ev.perClass.numRows, 40);
  for (const v of Object.values(ev.mAP)) assert.ok(v > 0 && v <= 100);
});
