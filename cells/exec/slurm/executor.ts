// The Slurm executor (the driver's side). A heavy stage that misses the cache becomes a job: the job runs
// `promptscope worker` on a compute node, which re-runs the notebook to that one stage, computes it and
// stores it in the shared cache; the driver then reads it from there like any other hit. Light stages run
// in the driver. Independent units of a batch (a study's matrix cells) run at once, up to `maxJobs` jobs.
//
// The driver watches its jobs with one `squeue` call per poll for all of them, forwards the progress each
// job writes, scancels a job whose cell is cancelled or redefined, and resubmits a job that ended without
// a result (its node failed, it was preempted or killed): the stage's checkpoints in the cache's work
// area let the new job resume where the lost one stopped. A stage's own error is not retried: it fails
// the cell with the job's log tail.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../util/hash.ts';
import { sleep } from '../../util/process.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { runBatch } from '../batch.ts';
import { inProcess } from '../executor.ts';
import type { BatchOptions, BatchResult, CellContext, Executor, StageJob, StageOutcome, WorkUnit } from '../types.ts';
import { SlurmCommands, type JobStatus } from './commands.ts';
import { jobFile, logTail, readJson, writeJson, type JobProgress, type JobResult, type JobSpec } from './job-files.ts';

export interface SlurmExecutorOptions {
  /**
   * The notebook the jobs re-run to reach their stage, as the driver runs it at the moment of submission
   * (a function: in the UI, cells and inputs change while the session lives).
   */
  notebook: () => NotebookSnapshot;
  /** How a job starts promptscope on a node (see launcher.ts for this process's own). */
  launcher: Launcher;
  partition?: string;
  gres?: string;
  cpusPerTask?: number;
  /** Extra sbatch arguments (e.g. --time, --account). */
  sbatchArgs?: string[];
  /** Jobs in the queue at once (default 4). */
  maxJobs?: number;
  /** Milliseconds between polls (default 2000). */
  pollMs?: number;
  /** Submissions after the first for a job that ended without a result (default 2). */
  maxResubmits?: number;
  /**
   * How long a job that COMPLETED may take to show its result file here (default 90 s: more than Linux
   * NFS's default acdirmax of 60 s, for which a client may keep answering "no such file").
   */
  resultVisibleMs?: number;
  commands?: SlurmCommands;
}

/** A job runs `NODE ENTRY worker JOBDIR` from `cwd`, with `env` exported first. */
export interface Launcher {
  node: string;
  entry: string;
  cwd: string;
  env?: Record<string, string>;
}

export interface NotebookSnapshot {
  text: string;
  name: string;
  settings: Record<string, unknown>;
  backend?: string;
}

/**
 * The lock a driver holds while a job of its computes `key` (see runStage). Distinct from the key's own
 * lock, which the job takes on its node: a driver killed with -9 leaves its job running, and the next
 * driver's job then waits on that job's lock instead of computing the entry a second time.
 */
export const submissionLockKey = (key: string) => `${key}.submit`;

/** A counting semaphore: at most `n` holders at once. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(signal: AbortSignal): Promise<() => void> {
    while (this.free === 0) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        // An aborted waiter leaves the queue, so a later release wakes a live one instead of the dead one.
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    signal.throwIfAborted();
    this.free--;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free++;
      this.waiting.shift()?.();
    };
  }
}

/** One `squeue` call per poll for every job the driver is waiting on. */
class StatusPoller {
  private readonly watched = new Set<string>();
  private readonly latest = new Map<string, JobStatus>();
  private loop?: Promise<void>;
  private lastError?: Error;
  constructor(private readonly commands: SlurmCommands, private readonly pollMs: number) {}

  watch(id: string): void {
    this.watched.add(id);
    this.loop ??= this.run();
  }
  unwatch(id: string): void {
    this.watched.delete(id);
    this.latest.delete(id);
  }
  /** The job's last known status; undefined until the first poll has answered. */
  status(id: string): JobStatus | undefined {
    // A controller that is briefly busy or restarting is normal on a cluster; five failed polls in a row are not.
    if (this.failures >= 5) throw new Error(`cannot ask Slurm about the jobs: ${this.lastError?.message}`);
    return this.latest.get(id);
  }
  private failures = 0;

  private async run(): Promise<void> {
    while (this.watched.size > 0) {
      const ids = [...this.watched];
      try {
        const answer = await this.commands.status(ids);
        // A job neither squeue nor scontrol knows has ended long enough ago to be forgotten.
        for (const id of ids) if (this.watched.has(id)) this.latest.set(id, answer.get(id) ?? { id, state: 'UNKNOWN', phase: 'ended' });
        this.failures = 0;
      } catch (err) {
        this.lastError = err as Error;
        this.failures++;
      }
      await sleep(this.pollMs);
    }
    this.loop = undefined;
  }
}

export class SlurmExecutor implements Executor {
  readonly name = 'slurm';
  readonly commands: SlurmCommands;
  private readonly slots: Slots;
  private readonly poller: StatusPoller;
  private readonly pollMs: number;
  private readonly resultVisibleMs: number;
  /** Jobs submitted and not yet ended, for `cancelAll`. */
  private readonly live = new Set<string>();

  constructor(private readonly options: SlurmExecutorOptions) {
    this.commands = options.commands ?? new SlurmCommands();
    this.pollMs = options.pollMs ?? 2000;
    this.resultVisibleMs = options.resultVisibleMs ?? 90_000;
    this.slots = new Slots(Math.max(1, options.maxJobs ?? 4));
    this.poller = new StatusPoller(this.commands, this.pollMs);
  }

  async runStage<T>(job: StageJob<T>, cell: CellContext): Promise<StageOutcome<T>> {
    if (!job.spec.heavy) return inProcess.runStage(job, cell);
    const cached = await cell.cache.read(job.key, job.codec);
    if (cached.found) return { value: cached.value, hit: true };
    // The job takes the key's own lock on its node, but only once it runs: two drivers (or two units of
    // one driver that share an upstream stage) that both miss would each submit a job, and the second job
    // would hold a node, a GPU, while it waits on the first one's lock. So the driver first claims the
    // key's submission (a second lock, held here for as long as its job is queued or running): whoever
    // waits for a claim waits in its driver, at no cost to the cluster, and then finds the stored entry.
    // The claim is taken before a job slot, so a waiting unit does not keep a slot from one that can run.
    return cell.cache.withLock(submissionLockKey(job.key), async () => {
      const claimed = await cell.cache.read(job.key, job.codec);
      if (claimed.found) return { value: claimed.value, hit: true };
      const release = await this.slots.take(cell.signal);
      try {
        // Another job (this driver's or another's) may have stored it while this one waited for a slot.
        const again = await cell.cache.read(job.key, job.codec);
        if (again.found) return { value: again.value, hit: true };
        const ran = await this.submitUntilDone(job, cell);
        // This driver looked the key up before submitting, and an NFS client may keep that "no such
        // entry" for up to acdirmax (60 s by default) after the job's rename made it exist: look again
        // until it shows, within the same patience as for the job's result file.
        let stored = await cell.cache.read(job.key, job.codec, { repair: true });
        for (const until = Date.now() + this.resultVisibleMs; !stored.found && Date.now() < until;) {
          await sleep(this.pollMs, cell.signal);
          stored = await cell.cache.read(job.key, job.codec, { repair: true });
        }
        if (!stored.found) {
          throw new Error(`${job.spec.name}: Slurm job ${ran.jobId} on ${ran.node} stored its result, but this machine does not find it in ${cell.cache.root}. The cache directory must be one shared filesystem path that every node sees (see README, "Running on a Slurm cluster").`);
        }
        return { value: stored.value, hit: ran.hit, ranOn: { node: ran.node, jobId: ran.jobId, attempts: ran.attempts } };
      } finally {
        release();
      }
    }, cell.signal);
  }

  /** scancels every job this driver has in the queue (the user stopped the run). */
  async cancelAll(): Promise<void> {
    await Promise.all([...this.live].map((id) => this.commands.cancel(id)));
  }

  runAll<T>(units: readonly WorkUnit<T>[], cell: CellContext, options?: BatchOptions): Promise<BatchResult<T>> {
    return runBatch(units, cell, options, Math.max(1, this.options.maxJobs ?? 4));
  }

  /** The notebook as the jobs will read it, named by its content (written once per version). */
  private async notebookPath(jobsRoot: string, text: string): Promise<string> {
    const path = join(jobsRoot, 'notebooks', `${sha256(text).slice(0, 32)}.html`);
    const same = await readFile(path, 'utf8').then((t) => t === text, () => false);
    if (!same) await writeFileAtomic(path, text);
    return path;
  }

  private async submitUntilDone<T>(job: StageJob<T>, cell: CellContext): Promise<{ jobId: string; node: string; hit: boolean; attempts: number }> {
    const jobsRoot = join(cell.cache.root, 'v1', 'jobs');
    const snapshot = this.options.notebook();
    const notebook = await this.notebookPath(jobsRoot, snapshot.text);
    const limit = 1 + (this.options.maxResubmits ?? 2);
    const lost: string[] = [];
    for (let attempt = 1; attempt <= limit; attempt++) {
      const dir = join(jobsRoot, `${job.key}.${attempt}.${randomBytes(4).toString('hex')}`);
      await mkdir(dir, { recursive: true });
      const spec: JobSpec = {
        version: 1, key: job.key, stage: job.spec.name, notebook, notebookName: snapshot.name,
        settings: snapshot.settings, backend: snapshot.backend, cacheRoot: cell.cache.root, attempt,
      };
      await writeJson(jobFile(dir, 'job.json'), spec);
      const { node, entry, cwd, env } = this.options.launcher;
      const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
      const exports = Object.entries(env ?? {}).map(([k, v]) => `export ${k}=${quote(v)}\n`).join('');
      const jobId = await this.commands.submit({
        jobName: `promptscope:${job.spec.name}`,
        script: `#!/bin/sh\n${exports}cd ${quote(cwd)} || exit 1\nexec ${quote(node)} ${quote(entry)} worker ${quote(dir)}\n`,
        output: jobFile(dir, 'slurm.out'),
        partition: this.options.partition, gres: this.options.gres, cpusPerTask: this.options.cpusPerTask, extra: this.options.sbatchArgs,
      });
      cell.log(`${job.spec.name}: submitted Slurm job ${jobId}${attempt > 1 ? ` (attempt ${attempt} of ${limit})` : ''}`);
      const end = await this.watch(jobId, dir, job.spec.name, cell);
      if (end.result?.ok) {
        await rm(dir, { recursive: true, force: true });
        return { jobId, node: end.result.node, hit: end.result.hit, attempts: attempt };
      }
      if (end.result && !end.result.ok) {
        const tail = await logTail(dir);
        throw new Error(`${job.spec.name} failed in Slurm job ${jobId} on ${end.result.node}: ${end.result.error}\n` +
          `last lines of ${jobFile(dir, 'slurm.out')}:\n${tail || '(empty)'}`);
      }
      // No result: the job's process died before it could say anything (node failure, preemption, kill -9,
      // scancel from outside). The stage's checkpoints survive in the cache; a new job resumes from them.
      lost.push(`job ${jobId} ended ${end.status.state}${end.status.node ? ` on ${end.status.node}` : ''} without a result`);
      cell.log(`${job.spec.name}: ${lost[lost.length - 1]}${attempt < limit ? '; resubmitting' : ''}`);
      if (attempt === limit) {
        const tail = await logTail(dir);
        throw new Error(`${job.spec.name}: ${limit} Slurm jobs ended without a result (${lost.join('; ')}). ` +
          `Last lines of ${jobFile(dir, 'slurm.out')}:\n${tail || '(empty)'}`);
      }
      await rm(dir, { recursive: true, force: true });
    }
    throw new Error('unreachable');
  }

  /** Waits for a job to end, forwarding its progress; cancels it when the cell is cancelled. */
  private async watch(jobId: string, dir: string, stage: string, cell: CellContext): Promise<{ status: JobStatus; result: JobResult | null }> {
    this.poller.watch(jobId);
    this.live.add(jobId);
    let lastProgress = '';
    try {
      for (;;) {
        if (cell.signal.aborted) {
          await this.commands.cancel(jobId);
          await rm(dir, { recursive: true, force: true });
          throw cell.signal.reason;
        }
        const result = await readJson<JobResult>(jobFile(dir, 'result.json'));
        if (result) return { status: this.poller.status(jobId) ?? { id: jobId, state: 'COMPLETED', phase: 'ended', node: result.node }, result };
        const status = this.poller.status(jobId);
        const progress = await readJson<JobProgress>(jobFile(dir, 'progress.json')).catch(() => null);
        if (progress && progress.at !== lastProgress) {
          lastProgress = progress.at;
          // The message already names the stage (the worker's in-process executor prefixes it).
          cell.progress({ fraction: progress.fraction, message: `${progress.message ?? stage} [job ${jobId} on ${progress.node}]` });
        } else if (!progress && status) {
          cell.progress({ fraction: 0, message: `${stage}: Slurm job ${jobId} ${status.state.toLowerCase()}${status.node ? ` on ${status.node}` : ''}` });
        }
        if (status?.phase === 'ended') {
          // The result file may show up here after the job has left the queue: an NFS client caches what a
          // directory holds (negative lookups included) for up to acdirmax, 60 s by default on Linux. A job
          // that COMPLETED exited 0, which the worker does only after writing its result, so it is waited
          // for that long; any other end (killed, node failure, preempted) gets one more look, a poll later.
          const patience = status.state === 'COMPLETED' ? this.resultVisibleMs : this.pollMs;
          // A cancel ends the wait at once (the loop's top handles it: the job is over, scancel is a no-op).
          for (const until = Date.now() + patience; !cell.signal.aborted;) {
            await sleep(this.pollMs, cell.signal).catch(() => undefined);
            const late = await readJson<JobResult>(jobFile(dir, 'result.json'));
            if (late || Date.now() >= until) return { status, result: late };
          }
          continue;
        }
        // Each watched job costs the driver two small file reads per poll on the shared filesystem (its
        // progress and result files), so they follow the poll interval: 100 jobs at the default 2 s are
        // 100 opens a second, besides the one squeue call per poll for all of them.
        await sleep(this.pollMs, cell.signal).catch(() => undefined);
      }
    } finally {
      this.poller.unwatch(jobId);
      this.live.delete(jobId);
    }
  }
}
