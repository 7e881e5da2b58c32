// kill -9 during ResNet pretraining (runResNetPretraining, what `cli/pretrain.ts --model resnet` and the
// cached stage pretrainResNet run): a tiny CIFAR ResNet on synthetic images (resnet-resume-trainer.ts; needs
// nothing from ../shared), 10 steps with a checkpoint after every one, run in a child process and killed
// with SIGKILL three times, each sitting resumed by the next on the same work directory:
//   1. in the middle of writing step 3's checkpoint (half its bytes in the temp file): a torn temp file is
//      left, the checkpoint under its own name must still be step 2's, complete;
//   2. at a checkpoint boundary: right after step 5's checkpoint is renamed into place;
//   3. mid-step: by a timer in this process, while step 8 (and its validation) computes, after step 7's
//      checkpoint (retried at a later step if the timer lands elsewhere, e.g. on a slow machine).
// Every restarted sitting must replay the uninterrupted run's timeline from exactly the newest checkpoint on
// disk (so it read that one: never the torn temp, never an older one, never a fresh start), the final
// sitting must remove the dead processes' temp files, and its result (final weights, BatchNorm statistics,
// momentum buffers, byte for byte; every step's loss and learning rate, the validation accuracies, the best
// step) must equal the uninterrupted run's, computed here in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors } from '../../cells/util/safetensors.ts';
import { describeDiff, reference, runChild, type Reference, type TimelineEvent } from '../prompts/resume-harness.ts';
import { RESNET_CHECKPOINT, RESNET_RESUME_STEPS, resNetCheckpointStep, resnetPretrain } from './resnet-resume-trainer.ts';

const EVENTS_PER_STEP = 5; // open, torn, written, synced, renamed (a checkpoint after every step)

/** Timeline index of checkpoint event `kind` of step `step` (1-based) in the uninterrupted run. */
function indexOf(ref: Reference, step: number, kind: string): number {
  const i = ref.events.findIndex((e, j) => e.kind === kind && j >= (step - 1) * EVENTS_PER_STEP && j < step * EVENTS_PER_STEP);
  assert.ok(i >= 0, `the uninterrupted run has no "${kind}" event for step ${step}`);
  return i;
}

/** The temp files a save leaves when killed, sorted into torn (not a complete safetensors file) and complete. */
function tempFiles(root: string): { torn: string[]; complete: string[] } {
  const out = { torn: [] as string[], complete: [] as string[] };
  for (const name of readdirSync(root)) {
    if (!name.startsWith(`.${RESNET_CHECKPOINT}.`) || !name.endsWith('.tmp')) continue;
    try {
      parseSafetensors(new Uint8Array(readFileSync(join(root, name))));
      out.complete.push(name);
    } catch {
      out.torn.push(name);
    }
  }
  return out;
}

test('ResNet pretraining: killed with SIGKILL mid-checkpoint-write, at a checkpoint boundary and mid-step, resumed, ends bit-identical to an uninterrupted run', async () => {
  const ref = await reference(resnetPretrain, { inProcess: true });
  // The timeline the kills are aimed on: one checkpoint write (5 events) per step, labelled by its step.
  assert.equal(ref.events.length, RESNET_RESUME_STEPS * EVENTS_PER_STEP, `reference timeline: ${ref.events.map((e) => e.kind).join(' ')}`);
  const renamed = ref.events.filter((e) => e.kind === 'renamed').map((e) => e.label);
  assert.deepEqual(renamed, Array.from({ length: RESNET_RESUME_STEPS }, (_, i) => `step ${i + 1}`));
  const refMetrics = JSON.parse(parseSafetensors(new Uint8Array(ref.result)).metadata.metrics) as { state: { step: number; history: unknown[]; val: Array<{ step: number }> } };
  assert.equal(refMetrics.state.step, RESNET_RESUME_STEPS);
  assert.equal(refMetrics.state.history.length, RESNET_RESUME_STEPS);
  assert.deepEqual(refMetrics.state.val.map((v) => v.step), [4, 8, 10]);

  const root = mkdtempSync(join(tmpdir(), 'resnet-resume-'));
  const log: string[] = [];
  try {
    let start = 0; // timeline index the next sitting starts at
    /** The events of a sitting must be the reference's from `start` on (kind and label). */
    const replays = (events: TimelineEvent[], what: string) => {
      const want = ref.events.slice(start, start + events.length).map((e) => `${e.kind} ${e.label}`);
      assert.deepEqual(events.map((e) => `${e.kind} ${e.label}`), want, `${what}: did not replay the uninterrupted run from timeline ${start} (${ref.events[start - 1]?.label ?? 'the start'})`);
    };
    /** After a kill: the checkpoint under its own name is complete and records `step`; the next sitting starts after it. */
    const afterKill = async (what: string, step: number) => {
      let onDisk: number | undefined;
      try {
        onDisk = await resNetCheckpointStep(root);
      } catch (e) {
        assert.fail(`${what}: the checkpoint under its own name is unreadable after the kill (torn?): ${(e as Error).message}`);
      }
      assert.equal(onDisk, step, `${what}: the checkpoint on disk is not step ${step}'s`);
      start = indexOf(ref, step, 'renamed') + 1;
    };

    // 1. Mid-write: SIGKILL after half of step 3's checkpoint bytes reached its temp file.
    const torn = indexOf(ref, 3, 'torn');
    const k1 = await runChild(resnetPretrain, root, { killAt: torn - start, tornFraction: 0.5 });
    assert.ok(k1.killed, `kill 1 did not land; the child said:\n${k1.output.slice(-2000)}`);
    replays(k1.events, 'kill 1 (torn write)');
    assert.equal(start + k1.events.length - 1, torn, 'kill 1 died elsewhere than mid-write of step 3');
    const temps = tempFiles(root);
    assert.equal(temps.torn.length, 1, `kill 1 should leave one torn temp file, found ${JSON.stringify(temps)}`);
    assert.equal(temps.complete.length, 0, JSON.stringify(temps));
    await afterKill('kill 1 (torn write of step 3)', 2);
    log.push(`kill 1: torn write of step 3 → resumes from step 2 (${k1.ms} ms)`);

    // 2. Checkpoint boundary: SIGKILL right after step 5's checkpoint is renamed into place.
    const boundary = indexOf(ref, 5, 'renamed');
    const k2 = await runChild(resnetPretrain, root, { killAt: boundary - start });
    assert.ok(k2.killed, `kill 2 did not land; the child said:\n${k2.output.slice(-2000)}`);
    replays(k2.events, 'kill 2 (checkpoint boundary)');
    assert.equal(start + k2.events.length - 1, boundary, 'kill 2 died elsewhere than right after step 5\'s checkpoint');
    await afterKill('kill 2 (after step 5\'s checkpoint)', 5);
    log.push(`kill 2: after step 5's checkpoint → resumes from step 5 (${k2.ms} ms)`);

    // 3. Mid-step: a timer here, aimed by the uninterrupted run's clock (counted from the sitting's first
    // event) at the middle of the compute between step 7's checkpoint and step 8's (training step 8 and its
    // validation). Where it landed is read back from the event log; if it did not land mid-step (a slow or
    // busy machine), the state it left is resumed like any other and the timer tries again a step later.
    let midStep = false;
    for (let attempt = 0, step = 7; !midStep && attempt < 3 && step < RESNET_RESUME_STEPS; attempt++) {
      step = Math.max(step, start / EVENTS_PER_STEP + 1); // not before the sitting's first checkpoint
      const after = indexOf(ref, step, 'renamed');
      const gap = ref.events[after + 1].ms - ref.events[after].ms;
      const timerMs = ref.events[after].ms - ref.events[start].ms + 0.5 * gap;
      const k3 = await runChild(resnetPretrain, root, { timerFrom: 'first', timerMs });
      assert.ok(k3.killed, `kill 3 (timer, ${timerMs.toFixed(0)} ms after the sitting's first event) fired after the run ended`);
      replays(k3.events, `kill 3 attempt ${attempt + 1} (timer)`);
      const landed = start + k3.events.length - 1;
      midStep = k3.events.length > 0 && ref.events[landed].kind === 'renamed';
      const stepOnDisk = Number(/\d+/.exec(ref.events.slice(0, landed + 1).filter((e) => e.kind === 'renamed').at(-1)!.label)![0]);
      log.push(`kill 3 attempt ${attempt + 1}: timer aimed mid step ${step + 1}, died after timeline ${landed} (${ref.events[landed]?.kind} ${ref.events[landed]?.label})${midStep ? ' = mid-step' : ''} → resumes from step ${stepOnDisk} (${k3.ms} ms)`);
      await afterKill(`kill 3 attempt ${attempt + 1} (timer)`, stepOnDisk);
      step++;
    }
    assert.ok(midStep, `no timer kill landed mid-step:\n${log.join('\n')}`);

    // The last sitting runs to the end from the newest checkpoint.
    const resumeStep = Number(/\d+/.exec(ref.events[start - 1].label)![0]);
    const last = await runChild(resnetPretrain, root);
    assert.ok(!last.killed && last.result, 'the final sitting did not finish');
    replays(last.events, 'final sitting');
    assert.equal(start + last.events.length, ref.events.length, 'the final sitting did not run to the last step');
    assert.equal(last.info.resumedAtStep, resumeStep, `the final sitting did not resume from step ${resumeStep}'s checkpoint`);
    assert.equal(last.info.tempFilesLeft, 0, 'temp files of the killed saves were left in the work directory');
    log.push(`final sitting from step ${resumeStep} (${last.ms} ms)`);
    const diff = last.result.equals(ref.result) ? [] : describeDiff(ref.result, last.result);
    assert.deepEqual(diff, [], `the resumed run differs from the uninterrupted one:\n${diff.join('\n')}\n${log.join('\n')}`);
    assert.ok(last.result.equals(ref.result), 'the result files differ in bytes');
    console.log(log.join('\n'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
