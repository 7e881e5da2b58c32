// kill -9 during visual-reprogramming training with ILM (the mapping recomputed before every epoch and kept
// in the checkpoint beside the prompt), and with a CNN source and the semantic mapping: killed twice at seeded points, resumed through the shared loop's
// checkpoint, and the result (prompt, mapping, curve) must be bit-identical to an uninterrupted run.
import { test } from 'node:test';
import { trainerNamed } from './resume-trainers.ts';
import { assertKillResume } from './resume-harness.ts';

test('visual-reprogramming (padding, ILM): killed with SIGKILL, resumed, ends bit-identical', async () => {
  await assertKillResume(trainerNamed('visual-reprogramming-ilm'), Number(process.env.KILL_SEED ?? 16));
});

test('visual-reprogramming (padding, ILM) with ILM-VP\'s Adam + step decay: killed with SIGKILL, resumed, ends bit-identical', async () => {
  await assertKillResume(trainerNamed('visual-reprogramming-ilm-adam'), Number(process.env.KILL_SEED ?? 16));
});

test('visual-reprogramming on resnet-cifar10 (padding, semantic mapping via mini-CLIP): killed with SIGKILL, resumed, ends bit-identical', async () => {
  await assertKillResume(trainerNamed('visual-reprogramming-resnet-semantic'), Number(process.env.KILL_SEED ?? 16));
});
