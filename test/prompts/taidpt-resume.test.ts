// kill -9 during TaI-DPT training (issue #17): its own loop over texts checkpoints the two prompts and their
// momentum every epoch (optimizer.ts); killed twice at seeded points — once while a checkpoint is being written,
// once after a step — and resumed through the cached stage's checkpoint, the result (both prompts and the
// loss curve) must be bit-identical to an uninterrupted run, with no work directory left behind.
import { test } from 'node:test';
import { trainerNamed } from './resume-trainers.ts';
import { assertKillResume } from './resume-harness.ts';

test('taidpt: killed with SIGKILL during a checkpoint write and after a step, resumed, ends bit-identical', async () => {
  await assertKillResume(trainerNamed('taidpt'), Number(process.env.KILL_SEED ?? 17));
});
