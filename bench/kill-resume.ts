// bench/kill-resume: the kill -9 campaign. Every trainer (CoOp, VPT, UPT, linear probe, multitask,
// mini-CLIP pretraining; tiny configurations of test/prompts/resume-trainers.ts) is killed with SIGKILL
// `--kills` times at seeded random points (a third during a checkpoint write, a third right after a
// step, a third by a timer at an arbitrary moment), each time restarted on the same state until it
// finishes, and its result compared byte for byte with an uninterrupted run's.
//   node --import tsx bench/kill-resume.ts [--kills 20] [--chain 1] [--seed 16] [--trainers coop,vpt,...] [--json FILE]
// --chain N: kills per trial (each trial is one run from scratch: killed N times, then run to the end and
// compared); N = 1 gives one bit-for-bit comparison per kill, N > 1 also tests resuming a resumed run.
// A failing trial prints its seed; `--seed` and the trial's position reproduce it (timer kills up to
// wall-clock jitter).
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { TRAINERS, trainerNamed } from '../test/prompts/resume-trainers.ts';
import { killTrial, reference, trialSeed, type KillMode, type TrialReport } from '../test/prompts/resume-harness.ts';
import { mulberry32 } from '../cells/util/random.ts';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : d;
};
const wanted = Number(opt('kills', '20'));
const chain = Number(opt('chain', '1'));
const seed = Number(opt('seed', '16'));
const only = opt('trainers', '');
const jsonOut = opt('json', '');
const specs = only ? only.split(',').map(trainerNamed) : TRAINERS;

const MODES: KillMode[] = ['ckpt', 'step', 'timer'];

interface Row {
  trainer: string;
  kills: number;
  byMode: Record<string, number>;
  trials: number;
  identical: number;
  missedTimers: number;
  tornTemps: number;
  completeTemps: number;
  problems: string[];
  failures: { seed: number; diff: string[] }[];
  refMs: number;
  ms: number;
}

const rows: Row[] = [];
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
for (const spec of specs) {
  const t0 = Date.now();
  const ref = await reference(spec);
  const row: Row = {
    trainer: spec.name, kills: 0, byMode: {}, trials: 0, identical: 0, missedTimers: 0, tornTemps: 0, completeTemps: 0,
    problems: [], failures: [], refMs: ref.ms, ms: 0,
  };
  log(`${spec.name}: reference ${ref.ms} ms, ${ref.events.length} events`);
  // Modes in a seeded order that gives each a third of the kills.
  const order: KillMode[] = [];
  for (let i = 0; i < wanted; i++) order.push(MODES[i % MODES.length]);
  const rand = mulberry32(trialSeed(seed, spec.name, -1));
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  let next = 0;
  for (let trial = 0; row.kills < wanted && trial < wanted * 3; trial++) {
    const modes = order.slice(next, next + Math.min(chain, wanted - row.kills));
    if (modes.length === 0) modes.push(MODES[trial % MODES.length]);
    const s = trialSeed(seed, spec.name, trial);
    const r: TrialReport = await killTrial(spec, ref, modes, s);
    row.trials++;
    row.kills += r.kills.length;
    next += r.kills.length;
    for (const k of r.kills) row.byMode[k.mode] = (row.byMode[k.mode] ?? 0) + 1;
    row.missedTimers += r.missed;
    row.tornTemps += r.tornTemps;
    row.completeTemps += r.completeTemps;
    row.problems.push(...r.problems);
    if (r.identical) row.identical++;
    else row.failures.push({ seed: s, diff: r.diff });
    log(`${spec.name} trial ${trial} (seed ${s}): ${r.kills.map((k) => `${k.where}@${k.landed}`).join(', ') || 'no kill landed'} → ${r.identical ? 'identical' : `DIFFERS: ${r.diff.join('; ')}`}${r.problems.length ? ` PROBLEMS: ${r.problems.join('; ')}` : ''}`);
  }
  row.ms = Date.now() - t0;
  rows.push(row);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  `machine: ${availableParallelism()} cores (${cpu}); seed ${seed}, chain ${chain}`,
  '',
  '| trainer | kills (ckpt / step / timer) | resumed bit-identical | torn checkpoints seen | time |',
  '|---|---|---|---|---|',
  ...rows.map((r) => {
    const modes = `${r.kills} (${r.byMode.ckpt ?? 0} / ${r.byMode.step ?? 0} / ${r.byMode.timer ?? 0})`;
    const missed = r.missedTimers ? ` (${r.missedTimers} with a timer that fired after the end)` : '';
    const ident = `${r.identical}/${r.trials} runs${missed}${r.problems.length ? `, ${r.problems.length} problems` : ''}`;
    const torn = `${r.tornTemps} torn temp files (+ ${r.completeTemps} complete, unrenamed); 0 torn under the real name${r.problems.some((p) => p.includes('unreadable')) ? ' — NO: see problems' : ''}`;
    return `| ${r.trainer} | ${modes} | ${ident} | ${torn} | ${(r.ms / 1000).toFixed(0)} s |`;
  }),
];
console.log(lines.join('\n'));
for (const r of rows) {
  for (const f of r.failures) console.log(`${r.trainer}: trial seed ${f.seed} differs: ${f.diff.join('; ')}`);
  for (const p of r.problems) console.log(`${r.trainer}: ${p}`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: { cores: availableParallelism(), cpu }, seed, chain, rows }, null, 2));
process.exitCode = rows.every((r) => r.identical === r.trials && r.problems.length === 0) ? 0 : 1;
