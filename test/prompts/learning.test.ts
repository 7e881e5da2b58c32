// Real learning on real images with the project's pretrained mini-CLIP (data/models/mini-clip, loaded through
// the product path) on bundled MNIST, which mini-CLIP never saw in pretraining: 4-shot, digits zero–four.
//
// Why this task and these settings (all measured, seeds 1–3, 2-core CPU, tfjs-wasm):
// - Five classes, not ten: on 10-class 4-shot MNIST no prompt learner gets past zero-shot by more than the
//   noise of a short run (best +8.5 points for one seed, most runs between −5 and +6), while on five classes
//   the gains are 12–23 points; the old fixture test used the same five digits. 40 test images per class
//   (200) keep evaluation cheap; the standard error of a top-1 on 200 images is ≈ 3 points.
// - Zero-shot is 21.5 % here (chance 20 %): pretraining captions came from CIFAR-10 and Fashion-MNIST classes
//   only, so the digit words' text features (which do differ: mean pairwise cosine 0.34 for "a photo of a
//   {zero…four}.", 0.69 for five CIFAR-10 names) are not aligned with digit images.
// - Unified-context text prompts (CoOp's default, UPT's text half) collapse on this model: SGD drifts to the
//   uniform solution (training loss → ln 5 = 1.609, top-1 → 20 %) for most seeds and learning rates
//   (0.002–1.0 tried for CoOp). Our reading, not proven: one context shared by all classes cannot realign
//   these unaligned class tokens within a few hundred steps. CoOp is therefore run class-specific
//   ("a photo of a" init, one context per class), VPT deep; UPT is run and reported, and its "beats
//   zero-shot" is a todo (see the test) because it does not hold across seeds.
// - CoOp's recipe otherwise (SGD, momentum 0.9, wd 5e-4, cosine), but no warm-up epoch (30-epoch runs cannot
//   afford one) and learning rates raised for a 128-wide model and 150 steps (batch 8 × 5 steps × 30 epochs).
//
// Measured top-1 (seed 1 / 2 / 3): zero-shot 21.5 (all seeds: it does not depend on the shots);
// CoOp class-specific lr 0.3: 44.0 / 39.5 / 39.0; VPT deep lr 0.1: 34.0 / 34.5 / 38.0;
// UPT lr 0.1: 34.5 / 10.5 / 20.0; linear probe: 43.5 / 63.0 / 53.0. The smallest CoOp/VPT gain is 12.5 points,
// so MARGIN = 6 points (about half of it) leaves room for run-to-run and backend differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../cells/model/backend.ts';
import { loadCLIP } from '../../cells/model/clip.ts';
import { backboneOf } from '../../cells/prompts/backbone.ts';
import { bundledSource, fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { trainPrompt, type TrainOptions } from '../../cells/prompts/train.ts';
import { evaluatePrompt, zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { testCell } from './helpers.ts';

await initBackend('wasm');
const MINI_CLIP = fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url));
const model = await loadCLIP(MINI_CLIP);
const backbone = await backboneOf(model);
const classes = [0, 1, 2, 3, 4];
const source = await bundledSource('mnist', classes);
const cell = testCell();
const task: PromptTask = await cell.run(() => fewShotTask(model, source, { shots: 4, seed: 1, poolPerClass: 8, testPerClass: 40 }));
const zeroShot = await cell.run(() => zeroShotPrompt(model, task));
const CHANCE = 1 / classes.length;
const MARGIN = 0.06;
const short = { epochs: 30, optim: { batchSize: 8, warmupEpochs: 0 } };
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function frozenBytes(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [k, t] of backbone.weights()) {
    const d = t.dataSync() as Float32Array;
    out.set(k, new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
  }
  return out;
}
const before = frozenBytes();

async function accuracy(opts: TrainOptions): Promise<{ top1: number; trainAcc: number; loss: number[] }> {
  const trained = await cell.run(() => trainPrompt(model, task, opts));
  const ev = await cell.run(() => evaluatePrompt(model, task, trained));
  assert.equal(ev.perClass.length, classes.length);
  assert.equal(ev.n, 200);
  return { top1: ev.top1, trainAcc: trained.curve.at(-1)?.acc ?? NaN, loss: trained.curve.map((c) => c.loss) };
}

test('zero-shot is weak on this task (the premise of the learning tests)', (t) => {
  t.diagnostic(`mini-CLIP zero-shot on 4-shot MNIST 0–4: top-1 ${pct(zeroShot.top1)} (chance ${pct(CHANCE)}, ${zeroShot.n} test images)`);
  assert.equal(zeroShot.n, 200);
  assert.ok(zeroShot.top1 < 0.35, `zero-shot ${pct(zeroShot.top1)}`);
});

for (const [name, opts] of [
  ['CoOp (class-specific, "a photo of a" init)', { method: 'coop', config: { init: 'a photo of a', classSpecific: true }, ...short, optim: { ...short.optim, lr: 0.3 } }],
  ['VPT (deep, 4 tokens)', { method: 'vpt', config: { tokens: 4, depth: 'deep' }, ...short, optim: { ...short.optim, lr: 0.1 } }],
] as [string, TrainOptions][]) {
  test(`${name} beats zero-shot by at least ${MARGIN * 100} points`, async (t) => {
    const r = await accuracy(opts);
    t.diagnostic(`${name}: top-1 ${pct(r.top1)} (train ${pct(r.trainAcc)}), zero-shot ${pct(zeroShot.top1)}, gain ${((r.top1 - zeroShot.top1) * 100).toFixed(1)} points`);
    assert.ok(r.loss.at(-1)! < r.loss[0], `training loss fell (${r.loss[0].toFixed(3)} → ${r.loss.at(-1)!.toFixed(3)})`);
    assert.ok(r.top1 >= zeroShot.top1 + MARGIN, `${name}: test top-1 ${pct(r.top1)} vs zero-shot ${pct(zeroShot.top1)}`);
  });
}

// UPT (token mixing, n = 4) trains and its loss falls, but on this model it beats zero-shot only for some
// seeds: seed 1 +13.0 points, seeds 2 and 3 collapse to the uniform solution (−11.0, −1.5) at lr 0.01, 0.03,
// 0.1 and 0.3 alike; MVLPT's variant likewise (+16.5, +10.5, −1.5). Its text half is a unified context (see
// the header). This test runs seed 1, so the todo currently passes; it stays a todo until it holds for all seeds. The claim is still executed and printed, but reported as a todo, not counted as passing.
test('UPT (n = 4, token mixing) trains: loss falls', async (t) => {
  const r = await accuracy({ method: 'upt', config: { n: 4 }, ...short, optim: { ...short.optim, lr: 0.1 } });
  t.diagnostic(`UPT (n = 4, token mixing): top-1 ${pct(r.top1)} (train ${pct(r.trainAcc)}), zero-shot ${pct(zeroShot.top1)}, gain ${((r.top1 - zeroShot.top1) * 100).toFixed(1)} points; loss ${r.loss[0].toFixed(3)} → ${r.loss.at(-1)!.toFixed(3)} (uniform: ${Math.log(classes.length).toFixed(3)})`);
  assert.ok(r.loss.every(Number.isFinite));
  assert.ok(r.loss.at(-1)! < r.loss[0], `training loss fell (${r.loss[0].toFixed(3)} → ${r.loss.at(-1)!.toFixed(3)})`);
  await t.test(`UPT beats zero-shot by at least ${MARGIN * 100} points across seeds`, { todo: 'holds for seed 1 only on mini-CLIP/MNIST: unified text context collapses (see comment)' }, () => {
    assert.ok(r.top1 >= zeroShot.top1 + MARGIN, `UPT top-1 ${pct(r.top1)} vs zero-shot ${pct(zeroShot.top1)}`);
  });
});

test('linear probe runs its λ sweep and beats chance', async (t) => {
  const trained = await cell.run(() => trainPrompt(model, task, { method: 'linear-probe' }));
  assert.equal(trained.sweep?.length, 7);
  assert.ok(trained.sweep!.every((s) => Number.isFinite(s.trainLoss) && s.valAcc >= 0 && s.valAcc <= 1));
  const ev = await cell.run(() => evaluatePrompt(model, task, trained));
  const best = Math.max(...trained.sweep!.map((s) => s.valAcc));
  t.diagnostic(`linear probe: top-1 ${pct(ev.top1)}, best validation accuracy in the λ sweep ${pct(best)}, chance ${pct(CHANCE)}`);
  // Measured 43.5–63.0 % over seeds 1–3; chance + 10 points is far inside that.
  assert.ok(ev.top1 >= CHANCE + 0.1, `linear probe ${pct(ev.top1)} vs chance ${pct(CHANCE)}`);
});

test('mini-CLIP weights are bit-identical after all the training above', () => {
  const after = frozenBytes();
  assert.equal(after.size, before.size);
  // Buffer.equals compares bytes natively (deepEqual over 31 MB of weights would take seconds).
  for (const [k, b] of before) assert.ok(Buffer.from(b.buffer).equals(Buffer.from(after.get(k)!.buffer)), `weight ${k} changed`);
});
