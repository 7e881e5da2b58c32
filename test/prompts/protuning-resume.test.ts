// kill -9 during Pro-tuning (prompt blocks, β and head on the fixture ViT) and during full fine-tuning (a
// private copy of the vision tower + head): each killed twice at seeded points (once during a checkpoint
// write, once right after a step), resumed through the shared loop's checkpoint, and the result (every
// learned tensor's bytes, the curve) must equal an uninterrupted run's.
import { test } from 'node:test';
import { trainerNamed } from './resume-trainers.ts';
import { assertKillResume } from './resume-harness.ts';

const SEED = Number(process.env.KILL_SEED ?? 16);

for (const name of ['protuning', 'finetune']) {
  test(`${name}: killed with SIGKILL (ckpt, step), resumed, ends bit-identical to an uninterrupted run`, () => assertKillResume(trainerNamed(name), SEED));
}
