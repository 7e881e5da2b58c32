// `promptscope run NOTEBOOK`: run a notebook headless, show progress, write its outputs, and exit
// non-zero naming the failing cell.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Cache } from '../cells/exec/cache.ts';
import { parseNotebook, notebookHash } from '../cells/engine/notebook.ts';
import { NotebookSession } from '../cells/engine/session.ts';
import { parseSetting } from '../cells/engine/inputs.ts';
import { TrustStore } from '../cells/engine/trust.ts';
import type { Pin } from '../cells/exec/types.ts';
import { CliError } from './errors.ts';
import { attachProgress } from './progress.ts';
import { watchTimeouts } from './timeout.ts';
import { writeOutputs } from './write-outputs.ts';
import { buildLibrary } from '../cells/library.ts';
import { currentBackend } from '../cells/model/index.ts';
import { SlurmExecutor, type NotebookSnapshot } from '../cells/exec/slurm/executor.ts';
import { InProcessExecutor, defaultWorkers } from '../cells/exec/executor.ts';
import type { Executor } from '../cells/exec/types.ts';
import { thisPromptscope } from '../cells/exec/slurm/launcher.ts';

export interface RunOptions {
  notebook: string;
  set: string[];
  out?: string;
  backend?: string;
  cache?: string;
  trust?: boolean;
  /** Seconds any one cell may run (default: no limit). */
  timeout?: number;
  /** Where heavy stages run: here (default) or as Slurm jobs. */
  executor?: ExecutorChoice;
}

export type ExecutorChoice =
  /** workers: trainings of a batch side by side in worker threads (default: defaultWorkers()). */
  | { kind: 'local'; workers?: number }
  | { kind: 'slurm'; partition?: string; gres?: string; maxJobs?: number; cpusPerTask?: number; sbatchArgs?: string[]; pollMs?: number };

/** The executor a run asked for; the notebook's own settings go to the jobs so they compute the same keys. */
function makeExecutor(choice: ExecutorChoice | undefined, notebook: NotebookSnapshot): Executor {
  if (!choice || choice.kind === 'local') return new InProcessExecutor({ workers: choice?.workers ?? defaultWorkers() });
  return new SlurmExecutor({
    notebook: () => notebook,
    // The job runs this same checkout's promptscope with this same node: the nodes must see this path.
    launcher: thisPromptscope(),
    partition: choice.partition, gres: choice.gres, maxJobs: choice.maxJobs, cpusPerTask: choice.cpusPerTask, sbatchArgs: choice.sbatchArgs, pollMs: choice.pollMs,
  });
}


export function parseSets(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new CliError(`--set expects name=value, got "${s}"`);
    out[s.slice(0, eq)] = parseSetting(s.slice(eq + 1));
  }
  return out;
}

export async function runNotebook(opts: RunOptions): Promise<number> {
  const path = resolve(opts.notebook);
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read notebook ${opts.notebook}: ${err.message}`);
  });
  const trust = new TrustStore();
  if (opts.trust) await trust.trust(text, path);
  else if (!(await trust.isTrusted(text, path))) {
    throw new CliError(`${opts.notebook} is not trusted: its code has not been run on this machine before. Read it, then run it with --trust (or: promptscope trust ${opts.notebook}).`);
  }
  if (opts.backend) process.env.PROMPTSCOPE_BACKEND = opts.backend;
  const notebook = parseNotebook(text, opts.notebook);
  const settings = parseSets(opts.set);
  // Absolute, so that Slurm jobs (started elsewhere) find the same directory.
  const cache = new Cache(opts.cache ? resolve(opts.cache) : undefined);
  const library = await buildLibrary();
  const executor = makeExecutor(opts.executor, { text, name: opts.notebook, settings, backend: opts.backend });
  const session = new NotebookSession(notebook, { cache, builtins: library, settings, executor });
  const started = Date.now();
  // Ctrl-C (or a scheduler's TERM) on a cluster run must not leave its jobs computing for nobody.
  const stopJobs = executor instanceof SlurmExecutor
    ? () => void executor.cancelAll().finally(() => process.exit(130))
    : undefined;
  if (stopJobs) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, stopJobs);
  const detach = attachProgress(session);
  const watch = opts.timeout ? watchTimeouts(session, opts.timeout) : null;
  session.start();
  await session.idle();
  watch?.stop();
  detach();
  if (stopJobs) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, stopJobs);
  // A --set that names no input is a mistake, not something to ignore.
  const inputs = new Set(session.inputs().map((i) => i.name));
  const unknown = Object.keys(settings).filter((k) => !inputs.has(k));
  // A cell stopped by --timeout failed; the engine only knows it was cancelled.
  const states = session.states().map((c) => {
    const timedOut = watch?.timedOut.get(c.id);
    return timedOut && c.status === 'cancelled' ? { ...c, status: 'error' as const, error: { message: timedOut, cellId: c.id } } : c;
  });
  const pins = new Map<string, Pin>();
  for (const r of session.stageRecords()) for (const p of r.pins) pins.set(`${p.kind}:${p.name}:${p.fingerprint}`, p);
  const backend = currentBackend();
  const manifest = {
    notebook: opts.notebook,
    notebookSha256: notebookHash(text),
    settings,
    backend,
    executor: executor.name,
    ...(executor instanceof InProcessExecutor ? { workers: executor.workers } : {}),
    startedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
    cells: states.map((c) => ({ id: c.id, names: c.names, status: c.status, runs: c.runs, hits: c.hits, misses: c.misses, elapsedMs: c.elapsedMs, error: c.error?.message })),
    pins: [...pins.values()],
    stages: session.stageRecords().map((r) => ({ stage: r.stage, key: r.key, hit: r.hit, ms: r.ms, ...(r.ranOn ? { ranOn: r.ranOn } : {}) })),
  };
  const written = opts.out ? await writeOutputs(session, opts.out, manifest, cache) : undefined;
  session.dispose();
  // A cell cancelled by --timeout may leave timers or sockets behind that would keep the finished run
  // alive: once the exit status is set, leave.
  if (watch?.timedOut.size) setTimeout(() => process.exit(), 1_000).unref();
  for (const c of states) {
    const label = c.names.length ? c.names.join(', ') : '(display)';
    const secs = c.elapsedMs !== undefined ? ` ${(c.elapsedMs / 1000).toFixed(1)}s` : '';
    process.stderr.write(`  cell ${String(c.id).padStart(3)} ${c.status.padEnd(9)}${secs.padEnd(8)} ${label}\n`);
  }
  for (const p of pins.values()) process.stderr.write(`  pinned ${p.kind} ${p.name} ${p.fingerprint.slice(0, 16)}\n`);
  if (unknown.length) {
    process.stderr.write(`error: --set names no input of this notebook: ${unknown.join(', ')} (inputs: ${[...inputs].join(', ') || 'none'})\n`);
    return 2;
  }
  const failed = states.filter((c) => c.status === 'error' && c.error?.cellId === c.id);
  for (const c of failed) process.stderr.write(`error: ${c.error!.message}\n`);
  // Missing outputs fail the run like a failing cell: whoever reads them next would otherwise find out late.
  const unwritten = written?.outputErrors ?? [];
  for (const e of unwritten) process.stderr.write(`error: output "${e.name}" could not be written (${e.file}): ${e.error}\n`);
  if (failed.length || unwritten.length) return 1;
  if (opts.out) process.stderr.write(`outputs written to ${opts.out}\n`);
  return 0;
}
