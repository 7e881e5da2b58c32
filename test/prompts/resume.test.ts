// kill -9 during training, for every trainer (CoOp, VPT, UPT, linear probe, multitask, mini-CLIP
// pretraining): each run is killed three times at seeded random points (one during a checkpoint write, one
// right after a training step, one by a timer at an arbitrary moment), restarted on the same state after
// every kill, and must end with the uninterrupted run's result bit for bit: the bytes of the final weights
// (and optimizer state for pretraining) and every reproducible metric. The harness also checks that no
// checkpoint under its real name is ever torn, that every restart replays the timeline from exactly the
// newest checkpoint on disk, and that nothing is left behind. The 20-kills-per-trainer campaign is
// bench/kill-resume.ts. Reproduce a failure with KILL_SEED=<seed printed> node test/run.mjs test/prompts/resume.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRAINERS } from './resume-trainers.ts';
import { killTrial, reference, trialSeed, type KillMode } from './resume-harness.ts';

const SEED = Number(process.env.KILL_SEED ?? 16);

for (const spec of TRAINERS) {
  const seed = trialSeed(SEED, spec.name, 0);
  // One kill during a checkpoint write, then one right after a step or at a timer's moment (by the seed).
  const modes: KillMode[] = ['ckpt', seed % 2 ? 'step' : 'timer'];
  test(`${spec.name}: killed with SIGKILL (${modes.join(', ')}), resumed, ends bit-identical to an uninterrupted run`, async () => {
    const ref = await reference(spec, { inProcess: true });
    const r = await killTrial(spec, ref, modes, seed, { timersLast: true });
    const where = `${spec.name}, trial seed ${seed} (KILL_SEED=${SEED}); kills: ${JSON.stringify(r.kills)}`;
    assert.deepEqual(r.problems, [], where);
    assert.ok(r.identical, `${where}\nresult differs from the uninterrupted run:\n${r.diff.join('\n')}`);
    // Event kills always land (the child dies at exactly that event); a timer may fire after the end.
    const eventKills = modes.filter((m) => m !== 'timer').length;
    assert.equal(r.kills.filter((k) => k.mode !== 'timer').length, eventKills, `${where}: an event kill did not land`);
    assert.ok(r.kills.every((k) => k.mode !== 'step' || k.where === 'step'), where);
    const hasCheckpoints = ref.events.some((e) => e.kind === 'renamed');
    if (hasCheckpoints) {
      assert.ok(r.kills.some((k) => k.mode === 'ckpt'), `${where}: no kill during a checkpoint write`);
      // The final sitting resumed from the checkpoint the last kill left (not from the start).
      const last = r.kills[r.kills.length - 1];
      const resumedFrom = last.resumeAt > 0 ? ref.events[last.resumeAt - 1].label : undefined;
      if (spec.name === 'pretrain') {
        if (resumedFrom) assert.equal(`step ${r.info.resumedAtStep}`, resumedFrom, where);
        assert.equal(r.info.tempFilesLeft, 0, `${where}: temp files of killed saves were left in the work directory`);
      } else {
        if (resumedFrom && last.resumeAt < ref.events.length) assert.equal(`epoch ${r.info.resumedAfterEpoch}`, resumedFrom, where);
        assert.equal(r.info.workDirsLeft, 0, `${where}: the finished stage left its work directory`);
      }
    }
  });
}
