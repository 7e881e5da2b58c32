// Feature extraction and zero-shot as cached stages, end to end on the fixture's raw images:
// data-layer preprocessing + the CLIP vision tower must reproduce the fixture's image_embeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Cache } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { CancelledError } from '../../cells/exec/types.ts';
import { keyOf } from '../../cells/exec/keys.ts';
import type { StageRecord, ProgressUpdate } from '../../cells/exec/types.ts';
import { buildRows } from '../../cells/data/assemble.ts';
import type { Dataset, ImageStore } from '../../cells/data/dataset.ts';
import type { DecodedImage } from '../../cells/data/images.ts';
import {
  initBackend, load, randomCLIPWeights, parseCLIPConfig, extractFeatures, zeroShot, textClassifier, templateFor, scorePredictions,
  PHOTO_ENSEMBLE, type CLIPModel,
} from '../../cells/model/index.ts';
import { encoderCounters } from '../../cells/model/features.ts';
import { FIXTURE_DIR, fixture, normalizedError } from './fixture.ts';

const CLASSES = ['cat', 'dog', 'car', 'digit'];

/** The fixture's 4 raw images (various sizes, one gray) as a Dataset with labels 0..3. */
function fixtureDataset(): Dataset {
  const imgs: DecodedImage[] = fixture().preprocess.images.map((im: any) => ({
    width: im.width, height: im.height, channels: im.channels, data: Uint8Array.from(im.data.data),
  }));
  const store: ImageStore = {
    count: imgs.length,
    get: (id) => imgs[id],
    batch: (ids) => Array.from(ids, (id) => imgs[id]),
    close: () => undefined,
  };
  const n = imgs.length;
  return {
    name: 'fixture-images', classNames: CLASSES, fingerprint: 'f'.repeat(64), multiLabel: false,
    rows: buildRows({
      id: Int32Array.from([0, 1, 2, 3]), label: Int32Array.from([0, 1, 2, 3]), className: CLASSES,
      split: ['test', 'test', 'train', 'test'], source: imgs.map((_, i) => `img${i}`), offset: new Float64Array(n),
      byteLength: new Int32Array(n), width: Int32Array.from(imgs.map((i) => i.width)), height: Int32Array.from(imgs.map((i) => i.height)),
    }),
    images: store, skipped: [], origin: { kind: 'dir', root: '/nonexistent' },
  };
}

async function withEnv(fn: (m: CLIPModel, run: <T>(f: () => Promise<T>, signal?: AbortSignal) => Promise<T>, records: StageRecord[], progress: ProgressUpdate[]) => Promise<void>) {
  await initBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'feat-'));
  const cache = new Cache(dir);
  const records: StageRecord[] = [];
  const progress: ProgressUpdate[] = [];
  const run = <T>(f: () => Promise<T>, signal = new AbortController().signal) =>
    runWithContext({ cache, signal, progress: (p) => progress.push(p), log: () => undefined, record: (r) => records.push(r) }, f);
  const m = await load(FIXTURE_DIR);
  try {
    await fn(m, run, records, progress);
  } finally {
    m.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

test('extractFeatures: batched, progress, equals fixture image_embeds, then a cache hit with 0 encoder calls', async () => {
  await withEnv(async (m, run, records, progress) => {
    const ds = fixtureDataset();
    const before = encoderCounters.images;
    const f = await run(() => extractFeatures(m, ds, { batchSize: 3 }));
    assert.equal(encoderCounters.images - before, 4);
    assert.equal(f.n, 4);
    assert.equal(f.dim, 24);
    assert.deepEqual([...f.ids], [0, 1, 2, 3]);
    assert.equal(f.backend, 'cpu');
    const err = normalizedError(f.features, fixture().expected.image_embeds.data);
    assert.ok(err < 1e-4, `features vs fixture image_embeds: ${err}`);
    assert.ok(progress.length >= 2 && progress.at(-1)!.fraction === 1);
    const calls = encoderCounters.imageBatches;
    const again = await run(() => extractFeatures(m, ds, { batchSize: 2 }));
    assert.equal(encoderCounters.imageBatches, calls, 'cache hit must not run the encoder');
    assert.deepEqual(again.features, f.features);
    assert.deepEqual(records.map((r) => r.hit), [false, true]);
    assert.equal(keyOf(again), keyOf(f));
    assert.ok(records[0].pins.some((p) => p.kind === 'model' && p.fingerprint === m.fingerprint));
    // a split is a different selection, hence a different key
    const test_ = await run(() => extractFeatures(m, ds, { split: 'test' }));
    assert.deepEqual([...test_.ids], [0, 1, 3]);
    assert.notEqual(keyOf(test_), keyOf(f));
  });
});

test('extractFeatures: cancellation stops between batches and stores nothing', async () => {
  await withEnv(async (m, run, records) => {
    const ds = fixtureDataset();
    const ac = new AbortController();
    const orig = ds.images.batch;
    let batches = 0;
    ds.images.batch = (ids) => {
      if (++batches === 2) ac.abort();
      return orig(ids);
    };
    await assert.rejects(run(() => extractFeatures(m, ds, { batchSize: 1 }), ac.signal), (e: Error) => e instanceof CancelledError || e.name === 'AbortError');
    assert.ok(batches < 4, `ran ${batches} batches after cancel`);
    ds.images.batch = orig;
    const calls = encoderCounters.imageBatches;
    await run(() => extractFeatures(m, ds, { batchSize: 4 }));
    assert.equal(encoderCounters.imageBatches, calls + 1, 'the cancelled run must not have been cached');
    assert.deepEqual(records.map((r) => r.hit), [false]);
  });
});

test('zero-shot: templates, ensembles, accuracy and per-class accuracy consistent with the logits', async () => {
  await withEnv(async (m, run) => {
    const ds = fixtureDataset();
    const feats = await run(() => extractFeatures(m, ds));
    const r = await run(() => zeroShot(m, feats, { templates: 'a photo of a {}.' }));
    // recompute the prediction independently from encodeText + logitsPerImage
    const txt = m.encodeText(CLASSES.map((c) => `a photo of a ${c}.`));
    const logits = m.logitsPerImage(tf.tensor2d(feats.features, [4, 24]), txt);
    const want = Int32Array.from(await logits.argMax(1).data());
    assert.deepEqual([...r.predictions], [...want]);
    const correct = [...want].filter((p, i) => p === i).length;
    assert.equal(r.accuracy, correct / 4);
    assert.equal(r.perClass.length, 4);
    assert.equal(r.perClass.reduce((a, c) => a + c.correct, 0), correct);
    tf.dispose([txt, logits]);
    // ensemble: classifier rows are unit vectors and differ from the single-template ones
    const single = textClassifier(m, CLASSES, ['a photo of a {}.']);
    const ens = textClassifier(m, CLASSES, PHOTO_ENSEMBLE);
    const norms = await ens.norm('euclidean', 1).data();
    for (const x of norms) assert.ok(Math.abs(x - 1) < 1e-5);
    assert.ok(normalizedError(await ens.data(), await single.data()) > 1e-3);
    tf.dispose([single, ens]);
    const e = await run(() => zeroShot(m, ds, { templates: 'ensemble' }));
    assert.equal(e.templates.length, PHOTO_ENSEMBLE.length);
    assert.throws(() => textClassifier(m, CLASSES, ['no placeholder']), /no "\{\}" placeholder/);
  });
});

test('templates: CoOp per-dataset templates and scoring', () => {
  assert.equal(templateFor('OxfordPets'), 'a photo of a {}, a type of pet.');
  assert.equal(templateFor('cifar10-test'), 'a photo of a {}.');
  assert.equal(templateFor('EuroSAT'), 'a centered satellite photo of {}.');
  assert.equal(templateFor('unknown-set'), 'a photo of a {}.');
  const s = scorePredictions(Int32Array.from([0, 1, 1, 2]), Int32Array.from([0, 1, 2, 2]), ['a', 'b', 'c', 'd']);
  assert.equal(s.accuracy, 0.75);
  assert.equal(s.perClass[2].accuracy, 0.5);
  assert.ok(Number.isNaN(s.perClass[3].accuracy));
  assert.throws(() => scorePredictions(Int32Array.from([0]), Int32Array.from([-1]), ['a']), /multi-label/);
});

test('extractFeatures with 2 worker threads: same features as in-process (checkpoint dir and in-memory model)', async () => {
  await withEnv(async (m, run, _records, progress) => {
    const ds = fixtureDataset();
    const f = await run(() => extractFeatures(m, ds, { batchSize: 1, workers: 2 }));
    assert.match(f.backend, /^wasm/, 'the workers record their backend (wasm+blas with the native kernels)');
    const err = normalizedError(f.features, fixture().expected.image_embeds.data);
    assert.ok(err < 1e-4, `worker features vs fixture image_embeds: ${err}`);
    assert.equal(progress.at(-1)!.fraction, 1);
    // cancelling stops the workers between batches
    const ac = new AbortController();
    const ds2 = fixtureDataset();
    const orig = ds2.images.batch;
    ds2.images.batch = (ids) => { ac.abort(); return orig(ids); };
    await assert.rejects(run(() => extractFeatures(m, ds2, { batchSize: 1, workers: 2, split: 'test' }), ac.signal), (e: Error) => e instanceof CancelledError || e.name === 'AbortError');
  });
  // a model that exists only in memory: workers receive its weights
  const cfg = parseCLIPConfig(JSON.parse(readFileSync(join(FIXTURE_DIR, 'config.json'), 'utf8')));
  const results: Float32Array[] = [];
  for (const workers of [1, 2]) {
    await withEnv(async (_m, run) => {
      await initBackend('wasm');
      const r = await load({ config: cfg, weights: randomCLIPWeights(cfg, 5) });
      const f = await run(() => extractFeatures(r, fixtureDataset(), { batchSize: 2, workers }));
      results.push(f.features);
      r.dispose();
    });
  }
  assert.ok(normalizedError(results[1], results[0]) < 1e-6, 'workers changed the features');
});
