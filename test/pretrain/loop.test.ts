// The pretraining loop on a tiny model and synthetic images: the loss goes down, and a run resumed from
// a checkpoint ends with exactly the parameters of an uninterrupted run.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../cells/model/backend.ts';
import { createTrainer, DEFAULT_TRAIN, learningRate } from '../../cells/model/pretrain/train.ts';
import type { TrainOptions } from '../../cells/model/pretrain/train.ts';
import { loadLexicon } from '../../cells/model/pretrain/lexicon.ts';
import type { ImageSet } from '../../cells/model/pretrain/data.ts';
import { syntheticImageSet } from '../support/synthetic-images.ts';

const TINY: TrainOptions = {
  ...DEFAULT_TRAIN,
  shape: { visionWidth: 32, visionLayers: 1, visionHeads: 2, patchSize: 8, textWidth: 32, textLayers: 1, textHeads: 2, projectionDim: 16, logitScaleInit: Math.log(10) },
  batchSize: 20, warmupSteps: 2, totalSteps: 40, lr: 3e-3, augment: { maxShift: 1, flip: true },
};

let data: ImageSet;
before(async () => {
  await initBackend('wasm');
  data = syntheticImageSet(6);
});

test('warmup then cosine: the learning rate rises, peaks, and decays to the floor', () => {
  const o = { ...TINY, warmupSteps: 10, totalSteps: 110 };
  assert.ok(learningRate(o, 0) < learningRate(o, 5));
  assert.equal(learningRate(o, 9), o.lr);
  assert.ok(learningRate(o, 60) < o.lr && learningRate(o, 60) > o.lr * o.minLrFraction);
  assert.ok(Math.abs(learningRate(o, 110) - o.lr * o.minLrFraction) < 1e-12);
});

test('a few steps on a tiny model lower the contrastive loss', () => {
  const tr = createTrainer(TINY, loadLexicon(), data);
  try {
    const losses: number[] = [];
    for (let i = 0; i < 14; i++) losses.push(tr.step());
    const first = (losses[0] + losses[1] + losses[2]) / 3;
    const last = (losses[11] + losses[12] + losses[13]) / 3;
    assert.ok(losses.every(Number.isFinite));
    assert.ok(last < first - 0.1, `loss did not fall: first ${first.toFixed(3)}, last ${last.toFixed(3)}`);
  } finally {
    tr.dispose();
  }
});

test('resuming from a checkpoint gives the same parameters as an uninterrupted run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-resume-'));
  try {
    const lex = loadLexicon();
    const straight = createTrainer(TINY, lex, data);
    for (let i = 0; i < 4; i++) straight.step();

    const first = createTrainer(TINY, lex, data);
    first.step();
    first.step();
    await first.save(join(dir, 'ckpt.safetensors'));
    first.dispose();
    const resumed = createTrainer(TINY, lex, data);
    await resumed.load(join(dir, 'ckpt.safetensors'));
    assert.equal(resumed.state.step, 2);
    resumed.step();
    resumed.step();

    const a = straight.model.params();
    const b = resumed.model.params();
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [name, v] of a) {
      const x = v.dataSync();
      const y = b.get(name)!.dataSync();
      assert.deepEqual(Array.from(y), Array.from(x), `parameter ${name} differs after resume`);
    }
    assert.deepEqual(resumed.state.history.map((h) => h.loss), straight.state.history.map((h) => h.loss));
    // A second phase starts from those weights, with the earlier steps kept as prior history.
    const phase2 = createTrainer({ ...TINY, lr: 1e-3, initFrom: { path: join(dir, 'ckpt.safetensors'), sha256: 'test' } }, lex, data);
    await phase2.initFrom(join(dir, 'ckpt.safetensors'));
    assert.equal(phase2.state.step, 0);
    assert.equal(phase2.state.prior?.steps, 2);
    assert.deepEqual(phase2.state.prior?.history.map((h) => h.loss), straight.state.history.slice(0, 2).map((h) => h.loss));
    const w = 'vision_model.encoder.layers.0.mlp.fc1.weight';
    const resumedAt2 = createTrainer(TINY, lex, data);
    await resumedAt2.load(join(dir, 'ckpt.safetensors'));
    assert.deepEqual(Array.from(phase2.model.params().get(w)!.dataSync()), Array.from(resumedAt2.model.params().get(w)!.dataSync()));
    phase2.dispose();
    resumedAt2.dispose();
    // A checkpoint of another run is refused, not silently mixed in.
    const other = createTrainer({ ...TINY, seed: 1 }, lex, data);
    await assert.rejects(other.load(join(dir, 'ckpt.safetensors')), /checkpoint of another run/);
    other.dispose();
    straight.dispose();
    resumed.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
