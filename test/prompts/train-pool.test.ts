// Training in worker processes (cells/prompts/train-pool.ts), as the executor runs a batch's trainings side by
// side (InProcessExecutor({ workers })): the prompt a worker trains is byte-identical to the in-process
// loop's, for a feature method (CoOp) and a pixel method (VPT); a cancelled worker run stops, caches nothing
// and resumes from its checkpoint on the next run; a diverging run keeps its error class; a model that no
// longer matches its directory is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, load, backboneOf } from '../../cells/model/index.ts';
import { CancelledError, runAll } from '../../cells/exec/index.ts';
import { InProcessExecutor } from '../../cells/exec/executor.ts';
import { bundledSource, fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { trainPrompt, trainPromptSpec, TrainingDivergedError, type TrainOptions, type TrainedPrompt } from '../../cells/prompts/train.ts';
import type { PromptBackbone } from '../../cells/model/index.ts';
import { mnistSmall, testCell } from './helpers.ts';
import { sharedPath } from '../support/shared.ts';

await initBackend('wasm');
const model = await backboneOf(await load(sharedPath('clip/fixture-tiny'), { id: 'fixture-tiny' }));
const source = await mnistSmall();
const task: PromptTask = await testCell().run(() => fewShotTask(model, source, { shots: 4, seed: 1, poolPerClass: 8, testPerClass: 4 }));

const coop: TrainOptions = { method: 'coop', config: { nCtx: 2 }, epochs: 3, optim: { batchSize: 8, lr: 0.1, warmupEpochs: 0 } };
const vpt: TrainOptions = { method: 'vpt', config: { tokens: 2, depth: 'deep' }, epochs: 2, optim: { batchSize: 8, lr: 0.1, warmupEpochs: 0 } };

/** Trainings as one batch of the cell's executor (side by side when it has workers). */
async function batch(cell: ReturnType<typeof testCell>, runs: TrainOptions[], on: PromptBackbone = model, workers = 2): Promise<TrainedPrompt[]> {
  cell.ctx.executor = new InProcessExecutor({ workers });
  const units = runs.map((o, i) => ({ label: `run ${i}`, spec: trainPromptSpec(on, task, o), run: () => trainPrompt(on, task, o) }));
  return (await cell.run(() => runAll(units))).results;
}

function sameState(a: TrainedPrompt, b: TrainedPrompt, what: string): void {
  assert.deepEqual(Object.keys(a.state).sort(), Object.keys(b.state).sort(), what);
  for (const k of Object.keys(a.state)) {
    assert.deepEqual(a.state[k].shape, b.state[k].shape, `${what}: ${k} shape`);
    assert.ok(Buffer.from(a.state[k].data.buffer, a.state[k].data.byteOffset, a.state[k].data.byteLength)
      .equals(Buffer.from(b.state[k].data.buffer, b.state[k].data.byteOffset, b.state[k].data.byteLength)), `${what}: ${k} differs`);
  }
  assert.deepEqual(a.curve.map((p) => p.loss), b.curve.map((p) => p.loss), `${what}: loss curve`);
}

test('trainings side by side in workers give the in-process prompts byte for byte, and the model here never runs', async () => {
  // Pro-tuning's batches carry pixels or features by its configuration (TrainerEntry.inputOf).
  const protuning: TrainOptions = { method: 'protuning', epochs: 2, optim: { batchSize: 8, lr: 0.1, warmupEpochs: 0 } };
  const headOnly: TrainOptions = { ...protuning, config: { sites: 'none' } };
  const runs = [coop, vpt, protuning, headOnly];
  const inProcess = await batch(testCell(), runs, model, 0);
  const before = { ...model.calls };
  const inWorkers = await batch(testCell(), runs);
  assert.deepEqual(model.calls, before, 'a worker trained, not this thread');
  sameState(inWorkers[0], inProcess[0], 'CoOp');
  sameState(inWorkers[1], inProcess[1], 'VPT');
  sameState(inWorkers[2], inProcess[2], 'Pro-tuning');
  sameState(inWorkers[3], inProcess[3], 'Pro-tuning, head only');
  assert.equal(inWorkers[1].trainableParameters, inProcess[1].trainableParameters);
  assert.equal(inWorkers[0].steps, inProcess[0].steps);
  // One training alone stays in this thread (no worker start-up for it).
  await batch(testCell(), [coop]);
  assert.ok(model.calls.text > before.text, 'a batch of one trained here');
});

test('a cancelled worker run stops, caches nothing, and the next run resumes from its checkpoint to the same prompt', async () => {
  const other: TrainOptions = { ...coop, seed: 2 };
  const [reference] = await batch(testCell(), [coop], model, 0);
  const ac = new AbortController();
  const cell = testCell(undefined, ac.signal);
  const seen = cell.ctx.progress;
  cell.ctx.progress = (u) => {
    seen(u);
    if (u.message?.includes('run 0: trainPrompt: epoch 2/3 step 1/5')) ac.abort();
  };
  await assert.rejects(batch(cell, [coop, other]), (e: unknown) => e instanceof CancelledError);
  assert.ok(!cell.records.some((r) => r.stage === 'trainPrompt' && r.params && (r.params as { seed: number }).seed === 1), 'the cancelled run cached nothing');
  const again = testCell(cell.cacheDir);
  const [resumed] = await batch(again, [coop, other]);
  assert.equal(resumed.resumedAfterEpoch, 0, 'resumed after the first epoch');
  sameState(resumed, reference, 'resumed CoOp');
});

test('a worker killed with SIGKILL mid-training fails its run saying so; the next run resumes from its checkpoint to the same prompt', async () => {
  const other: TrainOptions = { ...coop, seed: 2 };
  const [reference] = await batch(testCell(), [coop], model, 0);
  const cell = testCell();
  const seen = cell.ctx.progress;
  let killed = 0;
  cell.ctx.progress = (u) => {
    seen(u);
    if (!killed && u.message?.includes('run 0: trainPrompt: epoch 2/3 step 1/5')) {
      // The workers: this process's children running train-worker.ts (not tsx's esbuild service; the
      // bracket keeps pgrep's own shell, whose command line holds the pattern, out of the match).
      const kids = execSync(`pgrep -P ${process.pid} -f 'train-worke[r]'`).toString().trim().split('\n').map(Number);
      for (const pid of kids) process.kill(pid, 'SIGKILL');
      killed = kids.length;
    }
  };
  await assert.rejects(batch(cell, [coop, other]), /training worker was killed \(SIGKILL\)/);
  assert.ok(killed >= 1);
  const [resumed] = await batch(testCell(cell.cacheDir), [coop, other]);
  assert.ok(resumed.resumedAfterEpoch >= 0, 'resumed from the killed run\'s checkpoint');
  sameState(resumed, reference, 'CoOp after a killed worker');
});

test('a diverging worker run fails as TrainingDivergedError; a directory that no longer holds the model is refused', async () => {
  await assert.rejects(
    batch(testCell(), [{ ...coop, optim: { ...coop.optim, lr: 1e30 } }, vpt]),
    (e: unknown) => (e as Error).name === TrainingDivergedError.name && /loss became/.test((e as Error).message),
  );
  // A copy of the checkpoint whose weights change after the model here was loaded from it.
  const dir = mkdtempSync(join(tmpdir(), 'train-pool-model-'));
  try {
    cpSync(sharedPath('clip/fixture-tiny'), dir, { recursive: true });
    const copy = await backboneOf(await load(dir, { id: 'copy' }));
    const file = join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 0x40;
    writeFileSync(file, bytes);
    await assert.rejects(batch(testCell(), [coop, vpt], copy), /loads to fingerprint .* reload the model there/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on mini-CLIP, whose products OpenBLAS splits across threads, a worker trains UPT to the main thread\'s bytes', async () => {
  const mini = await backboneOf(await load(fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url))));
  const gtsrb = await bundledSource('gtsrb');
  const cell = testCell();
  const t = await cell.run(() => fewShotTask(mini, gtsrb, { shots: 2, seed: 1, poolPerClass: 4, testPerClass: 1 }));
  const upt: TrainOptions = { method: 'upt', config: { n: 4 }, epochs: 2, optim: { batchSize: 8, lr: 0.1, warmupEpochs: 0 } };
  const run = async (workers: number) => {
    const c = testCell();
    c.ctx.executor = new InProcessExecutor({ workers });
    const units = [upt, { ...upt, seed: 2 }].map((o, i) => ({ label: `upt ${i}`, spec: trainPromptSpec(mini, t, o), run: () => trainPrompt(mini, t, o) }));
    return (await c.run(() => runAll(units))).results;
  };
  const here = await run(0);
  const there = await run(2);
  sameState(there[0], here[0], 'UPT seed 1');
  sameState(there[1], here[1], 'UPT seed 2');
});
