// The kill -9 harness: runs any trainer of resume-trainers.ts in a child process (train-child.ts), kills
// it with SIGKILL at seeded random points, restarts it on the same state directory until it finishes, and
// compares the result file with an uninterrupted run's, byte for byte.
//
// A run's *timeline* is the list of events the uninterrupted (reference) run logs: every training step and
// the five moments of every checkpoint write (open, torn = mid-write, written, synced, renamed). Kill points
// are drawn from it with a seeded generator, in three kinds:
//   ckpt  — at one of the moments of a checkpoint write (a kill at `torn` leaves a partly written temp file),
//   step  — right after a training step,
//   timer — the parent sends SIGKILL after a delay that lands, by the reference's clock, at a uniformly
//           drawn moment between two events (mid-step, mid-kernel: anywhere); where it really landed is
//           read back from the event log.
// Event kills happen at exactly the drawn event (the child kills itself), so a failing seed reproduces;
// timer kills are as reproducible as wall clocks allow.
//
// After every kill the harness checks what the kill left: the checkpoint under its real name must be
// readable (atomic writes: never torn), leftover temp files are counted (torn = not a complete safetensors
// file), and the restarted run must replay the reference timeline from exactly the event after the last
// checkpoint that reached the disk (so it resumed from the newest checkpoint, not an older one or the start).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '../../cells/util/safetensors.ts';
import { mulberry32 } from '../../cells/util/random.ts';
import type { TrainerSpec } from './resume-trainers.ts';
import { runSitting } from './resume-faults.ts';

const CHILD = fileURLToPath(new URL('./train-child.ts', import.meta.url));
const CKPT_KINDS = new Set(['open', 'torn', 'written', 'synced', 'renamed']);

export type KillMode = 'ckpt' | 'step' | 'timer';

export interface TimelineEvent {
  kind: string;
  label: string;
  /** ms since the child's `ready` (the reference's clock is what timer kills aim by). */
  ms: number;
}

export interface Reference {
  events: TimelineEvent[];
  result: Buffer;
  ms: number;
}

interface ChildRun {
  killed: boolean;
  events: TimelineEvent[];
  result?: Buffer;
  info: Record<string, unknown>;
  output: string;
  ms: number;
}

function parseEvents(path: string): TimelineEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [, kind, label, ms] = line.split('\t');
    return { kind, label, ms: Number(ms) };
  });
}

interface ChildOptions {
  /** The child kills itself at this event of the sitting. */
  killAt?: number;
  tornFraction?: number;
  /** The parent kills the child this long after its `ready` (or its first event: `timerFrom`). */
  timerMs?: number;
  timerFrom?: 'ready' | 'first';
}

/** One sitting of a trainer on `root`, in a child process. */
export async function runChild(spec: TrainerSpec, root: string, opts: ChildOptions = {}): Promise<ChildRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'kill-child-'));
  const out = join(scratch, 'result.safetensors');
  const events = join(scratch, 'events.tsv');
  const args = { trainer: spec.name, root, out, events, killAt: opts.killAt ?? -1, tornFraction: opts.tornFraction };
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let info: Record<string, unknown> = {};
  let timer: NodeJS.Timeout | undefined;
  let pending = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d;
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === (opts.timerFrom ?? 'ready') && opts.timerMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), opts.timerMs);
      if (line.startsWith('info ')) info = { ...info, ...JSON.parse(line.slice(5)) };
    }
  });
  child.stderr.on('data', (d) => (output += d));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  if (timer) clearTimeout(timer);
  const ms = Date.now() - t0;
  try {
    const evs = parseEvents(events);
    if (signal === 'SIGKILL') return { killed: true, events: evs, info, output, ms };
    if (code !== 0 || !output.includes('finished')) throw new Error(`${spec.name}: child exited with ${code ?? signal}:\n${output.slice(-4000)}`);
    return { killed: false, events: evs, result: readFileSync(out), info, output, ms };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The uninterrupted run: its result file and its timeline. In a child process like the killed runs, or
 * (`inProcess`, cheaper: no process start) in this one.
 */
export async function reference(spec: TrainerSpec, opts: { inProcess?: boolean } = {}): Promise<Reference> {
  const root = mkdtempSync(join(tmpdir(), `kill-ref-${spec.name}-`));
  try {
    let r: { events: TimelineEvent[]; result: Buffer; ms: number };
    if (opts.inProcess) {
      const t0 = Date.now();
      const events = join(root, '..', `${root.split('/').pop()}.events.tsv`);
      try {
        const result = Buffer.from(await runSitting(spec, root, { events }));
        r = { events: parseEvents(events), result, ms: Date.now() - t0 };
      } finally {
        rmSync(events, { force: true });
      }
    } else {
      const c = await runChild(spec, root);
      if (c.killed || !c.result) throw new Error(`${spec.name}: the reference run was killed`);
      r = { events: c.events, result: c.result, ms: c.ms };
    }
    if (r.events.length === 0) throw new Error(`${spec.name}: the reference run logged no events`);
    return r;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface KillRecord {
  mode: KillMode;
  /** Global timeline index aimed at (timer: the event after which the kill was aimed). */
  target: number;
  /** Global index of the last event logged before death (-1: none); for event kills, the target itself. */
  landed: number;
  /** Phase the process died in, e.g. 'torn' (mid-write), 'step', 'timer after synced'. */
  where: string;
  tornFraction?: number;
  /** Where the next sitting started on the timeline (event after the newest checkpoint on disk). */
  resumeAt: number;
}

export interface TrialReport {
  trainer: string;
  seed: number;
  kills: KillRecord[];
  /** Timer kills that never landed: the child finished first. */
  missed: number;
  /** Planned kills dropped because an earlier timer kill had landed past every point left for them. */
  skipped: number;
  identical: boolean;
  /** Human-readable differences when not identical. */
  diff: string[];
  /** Temp checkpoint files left by kills: truncated (torn) and complete-but-not-renamed. */
  tornTemps: number;
  completeTemps: number;
  /** Problems that fail the trial besides the result: unreadable checkpoints, wrong resume points. */
  problems: string[];
  info: Record<string, unknown>;
  ms: number;
}

/** Explains how two result files differ (tensor by tensor, then the metrics). */
export function describeDiff(a: Buffer, b: Buffer): string[] {
  const out: string[] = [];
  const fa = parseSafetensors(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 'reference');
  const fb = parseSafetensors(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), 'resumed');
  const names = new Set([...fa.names(), ...fb.names()]);
  for (const n of [...names].sort()) {
    if (!fa.infos.has(n) || !fb.infos.has(n)) {
      out.push(`${n}: only in the ${fa.infos.has(n) ? 'reference' : 'resumed run'}`);
      continue;
    }
    const x = fa.get(n).data, y = fb.get(n).data;
    let diff = 0, max = 0;
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (!Object.is(x[i], y[i])) {
        diff++;
        max = Math.max(max, Math.abs(x[i] - y[i]));
      }
    }
    if (diff || x.length !== y.length) out.push(`${n}: ${diff} of ${x.length} values differ (max |Δ| ${max.toExponential(2)})`);
  }
  if (fa.metadata.metrics !== fb.metadata.metrics) {
    const ma = JSON.parse(fa.metadata.metrics), mb = JSON.parse(fb.metadata.metrics);
    for (const k of Object.keys(ma)) {
      if (JSON.stringify(ma[k]) !== JSON.stringify(mb[k])) out.push(`metrics.${k}: ${JSON.stringify(ma[k]).slice(0, 300)} ≠ ${JSON.stringify(mb[k]).slice(0, 300)}`);
    }
  }
  if (out.length === 0 && !a.equals(b)) out.push('the files differ in bytes outside tensors and metrics');
  return out;
}

function candidates(ref: Reference, mode: KillMode, from: number): number[] {
  const out: number[] = [];
  const N = ref.events.length;
  for (let i = Math.max(from, mode === 'timer' ? -1 : 0); i < N; i++) {
    if (mode === 'timer') {
      // A moment after event i (i = -1: between the sitting's start and its first event).
      if (i < N - 1) out.push(i);
    } else if (mode === 'ckpt' ? CKPT_KINDS.has(ref.events[i].kind) : ref.events[i].kind === 'step') {
      out.push(i);
    }
  }
  return out;
}

/** The mode actually usable on this trainer (e.g. the linear probe writes no checkpoint: ckpt → step). */
function usable(ref: Reference, mode: KillMode): KillMode {
  if (candidates(ref, mode, 0).length) return mode;
  return candidates(ref, 'step', 0).length ? 'step' : 'timer';
}

/**
 * One trial: a fresh state directory, `modes.length` kills at seeded points in timeline order (each sitting
 * resumed by the next), then a sitting that runs to the end; its result is compared with the reference.
 */
export async function killTrial(spec: TrainerSpec, ref: Reference, modes: readonly KillMode[], seed: number, opts: { timersLast?: boolean } = {}): Promise<TrialReport> {
  const rand = mulberry32(seed);
  const root = mkdtempSync(join(tmpdir(), `kill-${spec.name}-`));
  const t0 = Date.now();
  const report: TrialReport = {
    trainer: spec.name, seed, kills: [], missed: 0, skipped: 0, identical: false, diff: [], tornTemps: 0, completeTemps: 0, problems: [], info: {}, ms: 0,
  };
  const seenTemps = new Set<string>();
  const N = ref.events.length;
  // Targets drawn uniformly over the whole timeline, then taken in order: kill k lands after kill k−1.
  const plan = modes.map((m) => {
    const mode = usable(ref, m);
    const c = candidates(ref, mode, -1);
    return { mode, target: c[Math.floor(rand() * c.length)], u: rand() };
  }).sort((a, b) => a.target - b.target);
  // timersLast: event kills first, so that a timer landing late cannot leave an event kill behind it
  // (a timer kill aimed behind the resume point is drawn again from what is left).
  if (opts.timersLast) plan.sort((a, b) => Number(a.mode === 'timer') - Number(b.mode === 'timer'));
  try {
    let start = 0;
    const check = (events: TimelineEvent[], what: string) => {
      for (let i = 0; i < events.length; i++) {
        const want = ref.events[start + i];
        const got = events[i];
        if (!want || want.kind !== got.kind || want.label !== got.label) {
          report.problems.push(`${what}: event ${i} of the sitting that started at timeline ${start} is ${got.kind} ${got.label}, the reference has ${want ? `${want.kind} ${want.label}` : 'nothing'} there (resumed from the wrong point?)`);
          return;
        }
      }
    };
    for (const p of plan) {
      let target = p.target;
      const lowest = p.mode === 'timer' ? start - 1 : start;
      if (target < lowest) {
        // An earlier timer kill landed past this point: draw again from what is left.
        const c = candidates(ref, p.mode, lowest);
        if (!c.length) {
          report.skipped++;
          continue;
        }
        target = c[Math.floor(rand() * c.length)];
      }
      let run: ChildRun;
      let tornFraction: number | undefined;
      if (p.mode === 'timer') {
        if (target >= start) {
          // By the reference's clock, counted from the sitting's first event: a moment between events.
          const at = ref.events[target].ms;
          const gap = ref.events[target + 1].ms - at;
          run = await runChild(spec, root, { timerFrom: 'first', timerMs: at - ref.events[start].ms + p.u * gap });
        } else {
          // Before the sitting's first event: while it starts up, looks up its stage, loads the checkpoint.
          const span = start === 0 ? ref.events[0].ms : ref.events[start].ms - ref.events[start - 1].ms;
          run = await runChild(spec, root, { timerFrom: 'ready', timerMs: p.u * span });
        }
      } else {
        const kind = ref.events[target].kind;
        tornFraction = kind === 'torn' ? p.u : undefined;
        run = await runChild(spec, root, { killAt: target - start, tornFraction });
      }
      const what = `${spec.name} seed ${seed} kill ${report.kills.length + 1} (${p.mode} @ ${target})`;
      check(run.events, what);
      if (!run.killed) {
        // A timer that fired too late: the run finished. Count it and stop this trial here.
        report.missed++;
        return finish(run);
      }
      const landed = start + run.events.length - 1;
      const last = run.events[run.events.length - 1];
      const where = p.mode === 'timer' ? `timer after ${last ? last.kind : 'start'}` : last?.kind ?? '?';
      if (p.mode !== 'timer' && landed !== target) report.problems.push(`${what}: died at timeline ${landed}, not at ${target}`);
      // What the kill left on disk.
      for (const dir of spec.checkpointDirs(root)) {
        for (const name of readdirSync(dir)) {
          if (!name.startsWith(`.${spec.checkpoint}.`) || !name.endsWith('.tmp') || seenTemps.has(join(dir, name))) continue;
          seenTemps.add(join(dir, name));
          try {
            parseSafetensors(new Uint8Array(readFileSync(join(dir, name))));
            report.completeTemps++;
          } catch {
            report.tornTemps++;
          }
        }
      }
      let progress: string | undefined;
      try {
        progress = await spec.progressOf(root);
      } catch (e) {
        report.problems.push(`${what}: the checkpoint under its own name is unreadable after the kill (${(e as Error).message})`);
        return report;
      }
      let resumeAt = 0;
      if (progress !== undefined) {
        const i = ref.events.findIndex((e) => e.kind === 'renamed' && e.label === progress);
        if (i < 0) report.problems.push(`${what}: the checkpoint on disk (${progress}) is none the reference wrote`);
        resumeAt = i + 1;
      } else if (landed >= 0 && ref.events.slice(0, landed + 1).some((e) => e.kind === 'renamed')) {
        // A checkpoint was written and is gone: only a finished stage may clear it (then the result is cached).
        resumeAt = N;
      }
      report.kills.push({ mode: p.mode, target, landed, where, tornFraction, resumeAt });
      start = resumeAt;
    }
    const last = await runChild(spec, root);
    check(last.events, `${spec.name} seed ${seed} final sitting`);
    if (last.killed) throw new Error('unreachable: the final sitting has no kill');
    return finish(last);
  } finally {
    report.ms = Date.now() - t0;
    rmSync(root, { recursive: true, force: true });
  }

  function finish(run: ChildRun): TrialReport {
    report.info = run.info;
    report.identical = !!run.result && run.result.equals(ref.result);
    if (!report.identical && run.result) report.diff = describeDiff(ref.result, run.result);
    return report;
  }
}

/** A seed per (trainer, trial) from one campaign seed (FNV-1a of the name, mixed). */
export function trialSeed(base: number, trainer: string, trial: number): number {
  let h = 2166136261 ^ base;
  for (const ch of `${trainer}#${trial}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

/**
 * The kill test one trainer gets in its own file: two seeded kills (during a checkpoint write, after a
 * step), each sitting resumed by the next, and a last sitting that must end bit-identical to the
 * uninterrupted run, from a checkpoint, with no work directory left.
 */
export async function assertKillResume(spec: TrainerSpec, baseSeed: number): Promise<void> {
  const seed = trialSeed(baseSeed, spec.name, 0);
  const ref = await reference(spec, { inProcess: true });
  const r = await killTrial(spec, ref, ['ckpt', 'step'], seed, { timersLast: true });
  const where = `${spec.name}, trial seed ${seed} (KILL_SEED=${baseSeed}); kills: ${JSON.stringify(r.kills)}`;
  assert.deepEqual(r.problems, [], where);
  assert.ok(r.identical, `${where}\nresult differs from the uninterrupted run:\n${r.diff.join('\n')}`);
  assert.equal(r.kills.length, 2, `${where}: both kills must land`);
  assert.ok(r.kills.some((k) => k.mode === 'ckpt'), where);
  const last = r.kills[r.kills.length - 1];
  assert.ok(last.resumeAt > 0, `${where}: the last sitting must resume from a checkpoint, not from the start`);
  assert.equal(r.info.workDirsLeft, 0, where);
}
