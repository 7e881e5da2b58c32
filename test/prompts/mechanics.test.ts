// Training mechanics on the tiny fixture CLIP: gradients reach every prompt variable and nothing else,
// the encoders stay bit-identical, UPT's released-code quirk really stops token mixing, a NaN loss stops
// with a clear error and keeps the last checkpoint, and cancellation stops mid-epoch without caching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { softmaxCrossEntropy } from '../../cells/model/ops/index.ts';
import { CancelledError } from '../../cells/exec/types.ts';
import { readSafetensors } from '../../cells/util/safetensors.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt, makeTrainer, TrainingDivergedError } from '../../cells/prompts/train.ts';
import { registerTrainer, resolveConfig } from '../../cells/prompts/registry.ts';
import { CoOpTrainer } from '../../cells/prompts/coop.ts';
import { UPTTrainer } from '../../cells/prompts/upt.ts';
import type { Batch } from '../../cells/prompts/trainer.ts';
import { COOP_DEFAULTS } from '../../cells/prompts/coop.ts';
import { UPT_DEFAULTS } from '../../cells/prompts/upt.ts';
import { assemblePrompts, classTextFeatures, frozenPromptParts } from '../../cells/prompts/text-prompt.ts';
import { fixtureModel, mnistSmall, testCell, MNIST_NAMES } from './helpers.ts';

await initBackend('wasm');
const model = await fixtureModel();
const source = await mnistSmall();
const small = { shots: 2, seed: 1, poolPerClass: 6, testPerClass: 4 };

function snapshot(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [k, t] of model.weights()) {
    const d = t.dataSync() as Float32Array;
    out.set(k, new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
  }
  return out;
}

test('every method: finite non-zero gradients reach every prompt variable; frozen encoders are bit-identical after training', async () => {
  const before = snapshot();
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, source, small);
    await task.loadFeatures();
    const pixels = tf.tensor4d(task.train.pixels([0, 1, 2, 3]), [4, 3, 32, 32]);
    const features = tf.tensor2d(task.train.features.slice(0, 4 * task.dim), [4, task.dim]);
    const batch: Batch = { labels: task.train.labels.slice(0, 4), pixels, features };
    const cases: [string, Record<string, unknown>][] = [
      ['coop', { nCtx: 4 }], ['coop', { nCtx: 4, classSpecific: true, position: 'middle' }], ['coop', { init: 'a photo of a', position: 'front' }],
      ['vpt', { tokens: 2, depth: 'shallow' }], ['vpt', { tokens: 2, depth: 'deep' }],
      ['upt', { n: 2 }], ['upt', { n: 2, releasedQuirk: true }], ['upt-mvlpt', { n: 2, sharedWidth: 16 }], ['upt-mvlpt', { n: 2, sharedWidth: 16, releasedQuirk: true }], ['linear-probe', {}],
    ];
    for (const [method, cfg] of cases) {
      const tr = makeTrainer(model, task, method, resolveConfig(method, cfg), 3);
      const vars = tr.variables();
      const { value, grads } = tf.variableGrads(() => softmaxCrossEntropy(tr.logits(batch, true, 7), tf.tensor1d(batch.labels, 'int32')), vars);
      assert.ok(Number.isFinite(value.dataSync()[0]), `${method} ${JSON.stringify(cfg)}: loss is finite`);
      for (const v of vars) {
        const g = grads[v.name];
        assert.ok(g, `${method}: variable ${v.name} gets a gradient`);
        const n = g.norm().dataSync()[0];
        assert.ok(Number.isFinite(n) && n > 0, `${method} ${JSON.stringify(cfg)}: gradient of ${v.name} [${v.shape}] has norm ${n}`);
      }
      // The only trainable variables the tape saw are the trainer's: the towers' weights are plain tensors.
      assert.equal(Object.keys(grads).length, vars.length);
      tf.dispose([value, ...Object.values(grads)]);
      tr.dispose();
    }
    tf.dispose([pixels, features]);
    // A real short training run of each kind, then compare every tower weight byte for byte.
    for (const method of ['coop', 'vpt', 'upt']) {
      await trainPrompt(model, task, { method, config: method === 'coop' ? { nCtx: 4 } : method === 'vpt' ? { tokens: 2 } : { n: 2 }, epochs: 2, optim: { batchSize: 8, lr: 0.05 } });
    }
  });
  const after = snapshot();
  assert.equal(after.size, before.size);
  for (const [k, b] of before) assert.deepEqual(after.get(k), b, `frozen weight ${k} changed during prompt training`);
});

test('UPT: token mixing by default; releasedQuirk reproduces the length-1 attention (no mixing)', () => {
  const outputs = (quirk: boolean) => {
    const tr = new UPTTrainer();
    tr.init(model, { name: 't', classNames: MNIST_NAMES.slice(0, 3) }, { ...UPT_DEFAULTS, n: 2, releasedQuirk: quirk }, 5);
    const v = tr.variables()[0]; // the unified prompt [2n, D]
    const base = tf.tidy(() => tr.prompts(false).ctx.dataSync());
    // Perturb only the last unified token (a visual-side token): the text context (first n tokens) can
    // only change through attention.
    const bump = tf.tidy(() => {
      const mask = tf.oneHot([3], 4).reshape([4, 1]).mul(tf.onesLike(v)).mul(0.5);
      return v.add(mask);
    });
    v.assign(bump);
    const moved = tf.tidy(() => tr.prompts(false).ctx.dataSync());
    bump.dispose();
    tr.dispose();
    let diff = 0;
    for (let i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i] - moved[i]));
    return diff;
  };
  assert.ok(outputs(false) > 1e-4, 'with token mixing, a visual-side token changes the text context');
  assert.equal(outputs(true), 0, 'with the released quirk, tokens never mix');
});

class NaNAfter extends CoOpTrainer {
  calls = 0;
  override logits(batch: Batch, training = false, seed = 0): tf.Tensor2D {
    const l = super.logits(batch, training, seed);
    // Epoch 3 of a 1-step-per-epoch run: poison the loss.
    return ++this.calls >= 3 ? tf.tidy(() => l.add(NaN)) as tf.Tensor2D : l;
  }
}
registerTrainer('test-nan-coop', { create: () => new NaNAfter(), defaults: COOP_DEFAULTS, describe: 'test: CoOp whose loss turns NaN at step 3' });

test('a NaN loss stops training with a clear error and keeps the last good checkpoint', async () => {
  const cell = testCell();
  await cell.run(async () => {
    const task = await fewShotTask(model, source, small);
    // 20 training images, batch 32 → one (short) step per epoch.
    await assert.rejects(
      trainPrompt(model, task, { method: 'test-nan-coop', config: { nCtx: 2 }, epochs: 5 }),
      (err: unknown) => {
        assert.ok(err instanceof TrainingDivergedError);
        assert.match(err.message, /loss became NaN at epoch 3, step 1/);
        assert.match(err.message, /last good checkpoint \(after epoch 2\)/);
        return true;
      },
    );
  });
  const work = join(cell.cacheDir, 'v1', 'work');
  const dirs = readdirSync(work);
  assert.equal(dirs.length, 1);
  const ckpt = join(work, dirs[0], 'checkpoint.safetensors');
  assert.ok(existsSync(ckpt));
  const file = await readSafetensors(ckpt);
  assert.equal(file.metadata.epoch, '1', 'checkpoint holds the state after the 2nd epoch (0-based 1)');
  for (const name of file.names()) {
    assert.ok((file.get(name).data as Float32Array).every(Number.isFinite), `${name} in the kept checkpoint is finite`);
  }
  assert.ok(!cell.records.some((r) => r.stage === 'trainPrompt'), 'a failed training run is not recorded as a cached result');
});

test('cancellation stops mid-epoch; nothing is cached and a re-run trains', async () => {
  const ac = new AbortController();
  const cell = testCell(undefined, ac.signal);
  const task = await cell.run(() => fewShotTask(model, source, { ...small, shots: 4, poolPerClass: 8 }));
  // 40 images, batch 8 → 5 steps per epoch; abort after the 2nd step of epoch 1.
  const origProgress = cell.ctx.progress;
  cell.ctx.progress = (u) => {
    origProgress(u);
    if (u.message?.includes('epoch 1/3 step 2/5')) ac.abort();
  };
  const t0 = Date.now();
  await assert.rejects(
    cell.run(() => trainPrompt(model, task, { method: 'coop', config: { nCtx: 2 }, epochs: 3, optim: { batchSize: 8 } })),
    (err: unknown) => err instanceof CancelledError || (err as Error).name === 'AbortError',
  );
  const steps = cell.progress.filter((p) => p.message?.startsWith('trainPrompt: epoch')).map((p) => p.message!);
  assert.ok(steps.at(-1)!.includes('epoch 1/3 step 2/5'), `stopped right after the aborting step, last progress: ${steps.at(-1)}`);
  assert.ok(Date.now() - t0 < 30_000);
  const again = testCell(cell.cacheDir);
  const result = await again.run(() => trainPrompt(model, task, { method: 'coop', config: { nCtx: 2 }, epochs: 3, optim: { batchSize: 8 } }));
  assert.equal(again.records.find((r) => r.stage === 'trainPrompt')?.hit, false, 'the cancelled run left no cache entry');
  assert.equal(result.curve.length, 3);
});

test('source init (MVLPT): a target prompt starts from a source task\'s prompt, shares it across class sets, and is keyed apart', async () => {
  const cell = testCell();
  await cell.run(async () => {
    const src = await fewShotTask(model, { ...source, name: 'digits 0-4', classes: [0, 1, 2, 3, 4], classNames: MNIST_NAMES.slice(0, 5) }, small);
    const tgt = await fewShotTask(model, { ...source, name: 'digits 5-9', classes: [5, 6, 7, 8, 9], classNames: MNIST_NAMES.slice(5) }, small);
    const run = { method: 'coop', config: { nCtx: 2 }, epochs: 1, optim: { batchSize: 8 } };
    const sourcePrompt = await trainPrompt(model, src, { ...run, epochs: 3, optim: { batchSize: 8, lr: 0.5, warmupEpochs: 0 } });
    // One warm-up epoch at lr 1e-5: the target barely moves from where it started.
    const fromSource = await trainPrompt(model, tgt, { ...run, init: sourcePrompt });
    const fromScratch = await trainPrompt(model, tgt, run);
    const dist = (a: Float32Array, b: Float32Array) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    assert.ok(dist(fromSource.state.ctx.data, sourcePrompt.state.ctx.data) < 1e-3, 'source-initialised prompt starts at the source prompt');
    assert.ok(dist(fromScratch.state.ctx.data, sourcePrompt.state.ctx.data) > 1e-2, 'default init is elsewhere');
    const trains = cell.records.filter((r) => r.stage === 'trainPrompt');
    assert.equal(new Set(trains.map((r) => r.key)).size, 3, 'source-init and default-init runs are different cache entries');
    await assert.rejects(trainPrompt(model, tgt, { method: 'vpt', init: sourcePrompt, epochs: 1 }), /cannot start from a coop prompt/);
  });
});

test('CoOp layout: context initialised from "a photo of a" reproduces the hand-written prompt exactly (end, middle, front; unified and class-specific)', () => {
  const names = ['zero', 'seven', 'traffic light', 'T-shirt/top'];
  const cases = [
    { position: 'end', classSpecific: false, template: 'a photo of a {}.' },
    { position: 'middle', classSpecific: false, template: 'a photo {} of a.' },
    { position: 'front', classSpecific: false, template: '{} a photo of a.' },
    { position: 'end', classSpecific: true, template: 'a photo of a {}.' },
  ] as const;
  for (const c of cases) {
    const coop = new CoOpTrainer();
    coop.init(model, { name: 't', classNames: names }, { ...COOP_DEFAULTS, init: 'a photo of a', position: c.position, classSpecific: c.classSpecific }, 1);
    const learned = tf.tidy(() => {
      const t = coop.textFeatures();
      return t.div(t.norm('euclidean', -1, true)).dataSync();
    });
    const fixed = tf.tidy(() => classTextFeatures(model, names, [c.template]).dataSync());
    coop.dispose();
    let diff = 0;
    for (let i = 0; i < fixed.length; i++) diff = Math.max(diff, Math.abs(learned[i] - fixed[i]));
    assert.ok(diff < 1e-5, `${JSON.stringify(c)}: max difference ${diff}`);
  }
});

test('text prompts: a context that cannot fit the text tower, or of the wrong shape, is a clear error', () => {
  const maxPositions = model.config.text.maxPositions;
  assert.throws(() => frozenPromptParts(model, MNIST_NAMES, maxPositions), /context tokens plus the class name .* need \d+ positions; this text tower takes \d+\. Use a context length of at most \d+/);
  assert.throws(() => frozenPromptParts(model, MNIST_NAMES, 0), /whole number ≥ 1/);
  const parts = frozenPromptParts(model, MNIST_NAMES.slice(0, 3), 4);
  const D = model.config.text.hiddenSize;
  try {
    assert.throws(() => assemblePrompts(parts, tf.zeros([3, D]), 'end'), /context of shape \[3,\d+\] does not fit 3 classes × 4 context tokens/);
    assert.throws(() => assemblePrompts(parts, tf.zeros([2, 4, D]), 'end'), /does not fit 3 classes/);
    const ok = assemblePrompts(parts, tf.zeros([4, D]), 'end');
    assert.deepEqual(ok.shape, [3, parts.length, D]);
    ok.dispose();
  } finally {
    parts.dispose();
  }
});

test('a file a method config names (keyFiles) joins the training key: editing it re-trains, leaving it reuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyfile-'));
  const file = join(dir, 'labels.json');
  writeFileSync(file, '["a", "b"]');
  registerTrainer('test-keyfile-coop', { create: () => new CoOpTrainer(), defaults: COOP_DEFAULTS, describe: 'test: CoOp whose key reads a file', keyFiles: () => [file] });
  const cell = testCell();
  const task = await cell.run(() => fewShotTask(model, source, small));
  const train = () => cell.run(() => trainPrompt(model, task, { method: 'test-keyfile-coop', config: { nCtx: 2 }, epochs: 1, optim: { batchSize: 8 } }));
  const hits = () => cell.records.filter((r) => r.stage === 'trainPrompt').map((r) => r.hit);
  await train();
  await train();
  writeFileSync(file, '["a", "c"]');
  await train();
  assert.deepEqual(hits(), [false, true, false]);
});
