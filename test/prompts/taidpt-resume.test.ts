// kill -9 during TaI-DPT training (issue #17): its own loop over texts checkpoints the two prompts and their
// momentum every epoch (sgd.ts); killed twice at seeded points — once while a checkpoint is being written,
// once after a step — and resumed through the cached stage's checkpoint, the result (both prompts and the
// loss curve) must be bit-identical to an uninterrupted run, with no work directory left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainerNamed } from './resume-trainers.ts';
import { killTrial, reference, trialSeed, type KillMode } from './resume-harness.ts';

const SEED = Number(process.env.KILL_SEED ?? 17);

test('taidpt: killed with SIGKILL during a checkpoint write and after a step, resumed, ends bit-identical', async () => {
  const spec = trainerNamed('taidpt');
  const seed = trialSeed(SEED, spec.name, 0);
  const modes: KillMode[] = ['ckpt', 'step'];
  const ref = await reference(spec, { inProcess: true });
  const r = await killTrial(spec, ref, modes, seed, { timersLast: true });
  const where = `${spec.name}, trial seed ${seed}; kills: ${JSON.stringify(r.kills)}`;
  assert.deepEqual(r.problems, [], where);
  assert.ok(r.identical, `${where}\nresult differs from the uninterrupted run:\n${r.diff.join('\n')}`);
  assert.equal(r.kills.length, 2, `${where}: both kills must land`);
  assert.ok(r.kills.some((k) => k.mode === 'ckpt'), where);
  const last = r.kills[r.kills.length - 1];
  assert.ok(last.resumeAt > 0, `${where}: the last sitting must resume from a checkpoint, not from the start`);
  assert.equal(r.info.workDirsLeft, 0, where);
});
