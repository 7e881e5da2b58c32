// The transferability matrix is reactive by construction: stage-run counters prove that adding a task
// computes exactly its new row and column, removing one computes nothing, and changing K re-runs only
// training and evaluation (no feature extraction). Real CoOp training on mini-CLIP, short runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../cells/model/backend.ts';
import { defaultTaskSuite, type StudyTask } from '../../cells/studies/tasks.ts';
import { multiSourceTransfer, transferMatrix, type StudyProgress, type TransferMatrix } from '../../cells/studies/transfer.ts';
import type { PromptMethod } from '../../cells/studies/multitask.ts';
import { miniClip, studyCell } from './helpers.ts';

const METHOD: PromptMethod = { method: 'coop', config: { nCtx: 4 }, epochs: 3, optim: { lr: 0.01, batchSize: 8 } };
const FEATURE_STAGES = ['imageFeatures', 'extractFeatures', 'promptPool'];

const pairLabels = (m: TransferMatrix) => m.cells.filter((c) => c.computed).map((c) => `${c.source} → ${c.target}`).sort();

test('transfer matrix: add a task = one new row + one new column; remove = nothing; new K = training/eval only', async (t) => {
  await initBackend('wasm');
  const model = await miniClip();
  const cell = studyCell();
  const suite = await cell.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing', 'GTSRB speed limits', 'MNIST'] }));
  const [vehicles, footwear, signs, mnist] = suite;
  const three: StudyTask[] = [vehicles, footwear, signs];
  const opts = { method: METHOD, shots: 2, seeds: [1], testPerClass: 10 };

  cell.mark();
  const first = await cell.run(() => transferMatrix(model, three, opts));
  assert.equal(first.cells.length, 6, '3 tasks → 6 ordered off-diagonal pairs');
  assert.equal(cell.misses('transferCell').length, 6);
  assert.equal(cell.misses('transferBaseline').length, 3);
  assert.equal(cell.misses('imageFeatures').length, 3, 'one feature extraction per task');
  for (const c of first.cells) {
    assert.ok(c.sourceInit.mean >= 0 && c.sourceInit.mean <= 1 && c.defaultInit.mean >= 0 && c.defaultInit.mean <= 1);
    assert.ok(Math.abs(c.gain.mean - (c.sourceInit.mean - c.defaultInit.mean)) < 1e-12, 'gain = source init − default init');
  }
  const last = cell.progress.at(-1)!;
  assert.equal(last.fraction, 1);
  assert.match(last.message ?? '', /study: 9\/9 cells done \(9\/9 computed\)/);

  // MVLPT leave-one-out: one multitask source prompt per target over the other two; references shared.
  cell.mark();
  const multi = await cell.run(() => multiSourceTransfer(model, three, opts));
  assert.equal(cell.hits('transferBaseline').length, 3, 'the matrix references are reused');
  assert.equal(cell.misses('multitaskPrompt').length, 3);
  assert.equal(cell.misses('transferCell').length, 3);
  assert.deepEqual(multi.rows.map((r) => r.sources.length), [2, 2, 2]);
  for (const r of multi.rows) {
    const ref = first.references.find((x) => x.target === r.target)!;
    assert.equal(r.defaultInit.mean, ref.defaultInit.mean, 'same reference as the matrix');
  }

  // Add MNIST: its row (MNIST → each) and its column (each → MNIST), nothing else.
  cell.mark();
  const four = await cell.run(() => transferMatrix(model, [...three, mnist], opts));
  assert.equal(four.cells.length, 12);
  assert.equal(cell.misses('transferCell').length, 6, '3 new row cells + 3 new column cells');
  assert.equal(cell.hits('transferCell').length, 6, 'the old 6 cells come from the cache');
  assert.deepEqual(pairLabels(four), [
    ...three.map((s) => `${s.name} → MNIST`), ...three.map((x) => `MNIST → ${x.name}`),
  ].sort());
  assert.equal(cell.misses('transferBaseline').length, 1, "only MNIST's own reference is new");
  assert.equal(cell.misses('imageFeatures').length, 1, "only MNIST's features are extracted");
  // Training stages: MNIST's source prompt (= its reference prompt, one cache entry) + 6 fine-tunings.
  assert.equal(cell.misses('trainPrompt').length, 7);
  t.diagnostic(`add a task: ${cell.misses().length} stage misses (${[...new Set(cell.misses().map((r) => r.stage))].join(', ')})`);

  // Remove a task: everything is in the cache.
  cell.mark();
  const shrunk = await cell.run(() => transferMatrix(model, [vehicles, signs, mnist], opts));
  assert.equal(shrunk.cells.length, 6);
  assert.equal(cell.misses().length, 0, `removing a task computed ${cell.misses().map((r) => r.stage).join(', ')}`);
  assert.deepEqual(shrunk.computedUnits, []);

  // Change K: training and evaluation again, features never (CoOp never runs the image tower either).
  const imageCalls = model.calls.image;
  cell.mark();
  const k1 = await cell.run(() => transferMatrix(model, three, { ...opts, shots: 1 }));
  assert.equal(k1.shots, 1);
  for (const s of FEATURE_STAGES) assert.equal(cell.misses(s).length, 0, `changing K re-ran ${s}`);
  assert.equal(model.calls.image, imageCalls, 'no image-encoder call after changing K');
  assert.equal(cell.misses('transferCell').length, 6);
  assert.equal(cell.misses('transferBaseline').length, 3);
  assert.ok(cell.misses('trainPrompt').length > 0 && cell.misses('evaluatePrompt').length > 0);
  const kinds = new Set(cell.misses().map((r) => r.stage));
  for (const k of kinds) assert.ok(['transferCell', 'transferBaseline', 'trainPrompt', 'evaluatePrompt', 'fewShotSplit'].includes(k), `unexpected stage re-run after changing K: ${k}`);
});

test('cancelling a study keeps the finished cells', async () => {
  await initBackend('wasm');
  const model = await miniClip();
  const first = studyCell();
  const suite = await first.run(() => defaultTaskSuite({ only: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing'] }));
  const seen: StudyProgress[] = [];
  const opts = {
    method: METHOD, shots: 2, seeds: [1], testPerClass: 10,
    onProgress: (p: StudyProgress) => {
      seen.push(p);
      if (p.done === 2) first.controller.abort();
    },
  };
  await assert.rejects(first.run(() => transferMatrix(model, suite, opts)));
  assert.equal(seen.at(-1)!.done, 2);
  assert.equal(seen[0].total, 4, '2 references + 2 cells');
  // A new run over the same cache: the two finished units are hits, the rest computes.
  const again = studyCell(first.cacheDir);
  const m = await again.run(() => transferMatrix(model, suite, { ...opts, onProgress: undefined }));
  assert.equal(m.cells.length, 2);
  assert.equal(again.hits('transferBaseline').length, 2, 'both references were finished before the cancel');
  assert.equal(again.misses('transferCell').length, 2);
});
