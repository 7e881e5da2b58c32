// The Slurm client commands the executor uses, and what their output means. Only `sbatch`, `squeue`,
// `scontrol` and `scancel` are called, as a user would type them; nothing talks to slurmctld directly, so
// any cluster a user can submit to works (SLURM_CONF and friends come from the environment).
import { execFile } from 'node:child_process';

/** Where a job is, in Slurm's words (squeue's %T, scontrol's JobState), reduced to what the driver acts on. */
export type JobPhase = 'waiting' | 'running' | 'ended';

export interface JobStatus {
  id: string;
  /** Slurm's own state name, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NODE_FAIL, PREEMPTED. */
  state: string;
  phase: JobPhase;
  /** The node it runs or ran on, when Slurm has assigned one. */
  node?: string;
}

export interface SubmitOptions {
  jobName: string;
  /** The batch script's text (a shell script starting with #!). */
  script: string;
  /** Where Slurm writes the job's stdout and stderr. */
  output: string;
  partition?: string;
  gres?: string;
  cpusPerTask?: number;
  /** Extra `sbatch` arguments, passed as they are (e.g. --time=01:00:00, --account=…). */
  extra?: string[];
}

const WAITING = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SUSPENDED', 'STOPPED']);
const RUNNING = new Set(['RUNNING', 'COMPLETING', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);

export function phaseOf(state: string): JobPhase {
  const s = state.toUpperCase();
  if (WAITING.has(s)) return 'waiting';
  if (RUNNING.has(s)) return 'running';
  return 'ended';
}

/** Parses `squeue -h -o '%i %T %N'` lines (the node list is empty while a job waits). */
export function parseSqueue(text: string): JobStatus[] {
  const out: JobStatus[] = [];
  for (const line of text.split('\n')) {
    const [id, state, node] = line.trim().split(/\s+/);
    if (!id || !state) continue;
    out.push({ id, state, phase: phaseOf(state), node: node && node !== '(null)' ? node : undefined });
  }
  return out;
}

/** Parses `scontrol show job -o ID` (one line of Key=Value pairs) into the job's state and node. */
export function parseScontrolJob(text: string): JobStatus | null {
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(text)?.[1];
  const id = field('JobId');
  const state = field('JobState');
  if (!id || !state) return null;
  const node = field('NodeList');
  return { id, state, phase: phaseOf(state), node: node && node !== '(null)' ? node : undefined };
}

/** `sbatch --parsable` prints "ID" or "ID;cluster". */
export function parseSbatch(text: string): string {
  const id = text.trim().split(';')[0];
  if (!/^\d+(_\d+)?$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(text.trim().slice(0, 200))}`);
  return id;
}

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 16 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? `${command} not found: the Slurm client commands must be on PATH (Debian: apt-get install slurm-client), or choose --executor local`
          : `${command} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`;
        reject(new Error(why));
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The four commands, as one object so that tests can count submissions and a driver can share it. */
export class SlurmCommands {
  /** Job ids submitted through this object, in order. */
  readonly submitted: string[] = [];

  async submit(opts: SubmitOptions): Promise<string> {
    const args = ['--parsable', `--job-name=${opts.jobName}`, `--output=${opts.output}`, '--no-requeue'];
    if (opts.partition) args.push(`--partition=${opts.partition}`);
    if (opts.gres) args.push(`--gres=${opts.gres}`);
    if (opts.cpusPerTask) args.push(`--cpus-per-task=${opts.cpusPerTask}`);
    args.push(...(opts.extra ?? []));
    // The script goes on stdin: no file to write and clean up, and sbatch copies it at submission.
    const id = parseSbatch(await run('sbatch', args, opts.script));
    this.submitted.push(id);
    return id;
  }

  /** The status of each job still known to the controller; ids absent from the answer have left the queue. */
  async status(ids: readonly string[]): Promise<Map<string, JobStatus>> {
    const out = new Map<string, JobStatus>();
    if (ids.length === 0) return out;
    // One squeue call for every job the driver watches: polling cost does not grow with the job count.
    // `--states=all` keeps jobs that ended within MinJobAge in the answer.
    const text = await run('squeue', ['-h', '--states=all', '-o', '%i %T %N', '-j', ids.join(',')]).catch((err: Error) => {
      // squeue fails outright when none of the ids is known any more ("Invalid job id specified").
      if (/Invalid job id/i.test(err.message)) return '';
      throw err;
    });
    for (const s of parseSqueue(text)) out.set(s.id, s);
    for (const id of ids) {
      if (out.has(id)) continue;
      const shown = await run('scontrol', ['show', 'job', '-o', id]).then(parseScontrolJob, () => null);
      if (shown) out.set(id, shown);
    }
    return out;
  }

  async cancel(id: string): Promise<void> {
    await run('scancel', [id]).catch(() => undefined); // already ended: nothing to cancel
  }
}
