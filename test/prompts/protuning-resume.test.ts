// kill -9 during Pro-tuning (prompt blocks, β and head on the fixture ViT) and during full fine-tuning (a
// private copy of the vision tower + head): each killed twice at seeded points (once during a checkpoint
// write, once right after a step), resumed through the shared loop's checkpoint, and the result (every
// learned tensor's bytes, the curve) must equal an uninterrupted run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainerNamed } from './resume-trainers.ts';
import { killTrial, reference, trialSeed, type KillMode } from './resume-harness.ts';

const SEED = Number(process.env.KILL_SEED ?? 16);

for (const name of ['protuning', 'finetune']) {
  test(`${name}: killed with SIGKILL (ckpt, step), resumed, ends bit-identical to an uninterrupted run`, async () => {
    const spec = trainerNamed(name);
    const seed = trialSeed(SEED, spec.name, 0);
    const modes: KillMode[] = ['ckpt', 'step'];
    const ref = await reference(spec, { inProcess: true });
    const r = await killTrial(spec, ref, modes, seed, { timersLast: true });
    const where = `${spec.name}, trial seed ${seed} (KILL_SEED=${SEED}); kills: ${JSON.stringify(r.kills)}`;
    assert.deepEqual(r.problems, [], where);
    assert.ok(r.identical, `${where}\nresult differs from the uninterrupted run:\n${r.diff.join('\n')}`);
    assert.equal(r.kills.length, 2, `${where}: both kills must land`);
    assert.ok(r.kills.some((k) => k.mode === 'ckpt'), where);
    const last = r.kills[r.kills.length - 1];
    assert.ok(last.resumeAt > 0, `${where}: the last sitting must resume from a checkpoint, not from the start`);
    assert.equal(r.info.workDirsLeft, 0, where);
  });
}
