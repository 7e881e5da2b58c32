// Real learning on real images: 8-shot MNIST (digits zero–four, 250 test images) on the tiny fixture CLIP,
// whose random towers make zero-shot weak (below chance). Each of CoOp, VPT and UPT must beat zero-shot by a
// clear margin after 50 SGD steps; the linear probe must run and beat it too. Learning rates are the
// tiny model's (its prompts need larger steps than ViT-B/16's 0.002); everything else is CoOp's recipe
// except the warm-up epoch, which 10-epoch runs cannot afford.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../cells/model/backend.ts';
import { fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { trainPrompt, type TrainOptions } from '../../cells/prompts/train.ts';
import { evaluatePrompt, zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { fixtureModel, mnistSource, testCell } from './helpers.ts';

await initBackend('wasm');
const model = await fixtureModel();
const mnist = await mnistSource();
const classes = [0, 1, 2, 3, 4];
const source = { ...mnist, name: 'mnist-0to4', classes, classNames: classes.map((c) => mnist.classNames[c]) };
const cell = testCell();
const task: PromptTask = await cell.run(() => fewShotTask(model, source, { shots: 8, seed: 1, poolPerClass: 12, testPerClass: 50 }));
const zeroShot = await cell.run(() => zeroShotPrompt(model, task));
const MARGIN = 0.08;
const short = { epochs: 10, optim: { batchSize: 8, warmupEpochs: 0 } };

async function accuracy(opts: TrainOptions): Promise<{ top1: number; trainAcc: number; loss: number[] }> {
  const trained = await cell.run(() => trainPrompt(model, task, opts));
  const ev = await cell.run(() => evaluatePrompt(model, task, trained));
  assert.equal(ev.perClass.length, classes.length);
  assert.equal(ev.n, 250);
  return { top1: ev.top1, trainAcc: trained.curve.at(-1)?.acc ?? NaN, loss: trained.curve.map((c) => c.loss) };
}

test('zero-shot is weak on this task (the premise of the learning tests)', () => {
  assert.ok(zeroShot.top1 < 0.25, `zero-shot ${zeroShot.top1}`);
});

for (const [name, opts] of [
  ['CoOp (unified context, 4 vectors)', { method: 'coop', config: { nCtx: 4 }, ...short, optim: { ...short.optim, lr: 0.1 } }],
  ['VPT (shallow, 4 tokens)', { method: 'vpt', config: { tokens: 4, depth: 'shallow' }, ...short, optim: { ...short.optim, lr: 0.01 } }],
  ['VPT (deep, 4 tokens)', { method: 'vpt', config: { tokens: 4, depth: 'deep' }, ...short, optim: { ...short.optim, lr: 0.01 } }],
  ['UPT (n = 4, token mixing)', { method: 'upt', config: { n: 4 }, ...short, optim: { ...short.optim, lr: 0.01 } }],
  ['UPT (n = 4, released length-1 attention)', { method: 'upt', config: { n: 4, releasedQuirk: true }, ...short, optim: { ...short.optim, lr: 0.01 } }],
] as [string, TrainOptions][]) {
  test(`${name} beats zero-shot by at least ${MARGIN * 100} points`, async (t) => {
    const r = await accuracy(opts);
    t.diagnostic(`${name}: top-1 ${(r.top1 * 100).toFixed(1)}% (train ${(r.trainAcc * 100).toFixed(1)}%), zero-shot ${(zeroShot.top1 * 100).toFixed(1)}%`);
    assert.ok(r.loss.at(-1)! < r.loss[0], `training loss fell (${r.loss[0].toFixed(3)} → ${r.loss.at(-1)!.toFixed(3)})`);
    assert.ok(r.top1 >= zeroShot.top1 + MARGIN, `${name}: test top-1 ${(r.top1 * 100).toFixed(1)}% vs zero-shot ${(zeroShot.top1 * 100).toFixed(1)}%`);
  });
}

test('linear probe runs its λ sweep and beats zero-shot', async (t) => {
  const trained = await cell.run(() => trainPrompt(model, task, { method: 'linear-probe' }));
  assert.equal(trained.sweep?.length, 7);
  assert.ok(trained.sweep!.every((s) => Number.isFinite(s.trainLoss) && s.valAcc >= 0 && s.valAcc <= 1));
  const ev = await cell.run(() => evaluatePrompt(model, task, trained));
  const best = Math.max(...trained.sweep!.map((s) => s.valAcc));
  t.diagnostic(`linear probe: top-1 ${(ev.top1 * 100).toFixed(1)}%, best validation accuracy in the λ sweep ${(best * 100).toFixed(1)}%`);
  assert.ok(ev.top1 >= zeroShot.top1 + MARGIN, `linear probe ${ev.top1} vs zero-shot ${zeroShot.top1}`);
});
