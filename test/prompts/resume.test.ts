// A training run killed with SIGKILL resumes from its last per-epoch checkpoint and ends bit-identical to
// an uninterrupted run (shuffles, dropout and momentum are all restored or re-derived from the seed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../cells/model/backend.ts';
import { readSafetensors } from '../../cells/util/safetensors.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { fixtureModel, mnistSmall, testCell } from './helpers.ts';
import { RESUME_RUN } from './resume-run.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function checkpointEpoch(cacheDir: string): Promise<number> {
  const work = join(cacheDir, 'v1', 'work');
  if (!existsSync(work)) return -1;
  for (const d of readdirSync(work)) {
    const f = join(work, d, 'checkpoint.safetensors');
    if (existsSync(f)) {
      try {
        return Number((await readSafetensors(f)).metadata.epoch);
      } catch {
        return -1; // being replaced right now (the writer renames atomically, but the dir listing may race)
      }
    }
  }
  return -1;
}

test('a run killed mid-training resumes from its last checkpoint and matches an uninterrupted run bit for bit', async () => {
  const killed = testCell();
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./train-child.ts', import.meta.url)), killed.cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  const t0 = Date.now();
  let epoch = -1;
  while (!done && Date.now() - t0 < 45_000) {
    epoch = await checkpointEpoch(killed.cacheDir);
    if (epoch >= 1) break;
    await sleep(25);
  }
  assert.ok(!done, `the child finished or died before it could be killed:\n${out}`);
  child.kill('SIGKILL');
  await exited;
  assert.ok(epoch >= 1 && epoch < RESUME_RUN.train.epochs - 1, `killed after epoch ${epoch + 1} of ${RESUME_RUN.train.epochs}`);
  assert.ok(!out.includes('finished'));

  await initBackend('wasm');
  const model = await fixtureModel();
  const source = await mnistSmall();
  const resumed = await killed.run(async () => trainPrompt(model, await fewShotTask(model, source, RESUME_RUN.task), RESUME_RUN.train));
  assert.ok(resumed.resumedAfterEpoch >= epoch, `resumed after epoch ${resumed.resumedAfterEpoch + 1} (checkpoint seen: ${epoch + 1})`);
  assert.equal(resumed.curve.length, RESUME_RUN.train.epochs);

  const fresh = testCell();
  const straight = await fresh.run(async () => trainPrompt(model, await fewShotTask(model, source, RESUME_RUN.task), RESUME_RUN.train));
  assert.equal(straight.resumedAfterEpoch, -1);
  assert.deepEqual(Object.keys(resumed.state), Object.keys(straight.state));
  for (const k of Object.keys(straight.state)) {
    assert.deepEqual(resumed.state[k].data, straight.state[k].data, `prompt tensor ${k} differs after resume`);
  }
  assert.deepEqual(resumed.curve.map((c) => c.loss), straight.curve.map((c) => c.loss));
  // The finished stage cleared its work directory.
  assert.equal(await checkpointEpoch(killed.cacheDir), -1);
});
