// `promptscope worker JOBDIR`: what a Slurm job runs on its node. It re-runs the driver's notebook
// snapshot with the driver's settings until the one stage named in JOBDIR/job.json is stored, writing
// progress and then the outcome into JOBDIR for the driver to read. The notebook is not checked against
// this machine's trust store: the user's own driver trusted it and submitted this job.
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { Cache } from '../cells/exec/cache.ts';
import { parseNotebook } from '../cells/engine/notebook.ts';
import { NotebookSession } from '../cells/engine/session.ts';
import { WorkerExecutor } from '../cells/exec/slurm/worker-executor.ts';
import { jobFile, readJson, writeJson, type JobProgress, type JobResult, type JobSpec } from '../cells/exec/slurm/job-files.ts';
import type { ProgressUpdate } from '../cells/exec/types.ts';
import { CliError } from './errors.ts';

export async function runWorker(dir: string): Promise<number> {
  const spec = await readJson<JobSpec>(jobFile(dir, 'job.json'));
  if (!spec) throw new CliError(`${dir} has no job.json: a worker runs only in a job directory its driver wrote`);
  if (spec.version !== 1) throw new CliError(`${jobFile(dir, 'job.json')} has version ${spec.version}; this promptscope reads version 1: use the same promptscope on the driver and the nodes`);
  const node = process.env.SLURMD_NODENAME ?? hostname();
  const started = Date.now();
  const finish = async (result: JobResult) => {
    await writeJson(jobFile(dir, 'result.json'), result);
    process.stderr.write(`worker: ${spec.stage} ${result.ok ? (result.hit ? 'was already stored' : 'stored') : `failed: ${result.error}`}\n`);
    return result.ok ? 0 : 1;
  };
  // Progress goes to a file the driver polls: at most a few writes a second, whatever the stage reports.
  let lastWrite = 0;
  const progress = (p: ProgressUpdate) => {
    const now = Date.now();
    if (now - lastWrite < 250 && p.fraction < 1) return;
    lastWrite = now;
    const record: JobProgress = { fraction: p.fraction, message: p.message, node, pid: process.pid, jobId: process.env.SLURM_JOB_ID, at: new Date(now).toISOString() };
    void writeJson(jobFile(dir, 'progress.json'), record).catch(() => undefined);
  };
  progress({ fraction: 0, message: 'starting' });
  try {
    if (spec.backend) process.env.PROMPTSCOPE_BACKEND = spec.backend;
    const text = await readFile(spec.notebook, 'utf8');
    const executor = new WorkerExecutor(spec.key, progress);
    const { buildLibrary } = await import('../cells/library.ts');
    const session = new NotebookSession(parseNotebook(text, spec.notebookName), {
      cache: new Cache(spec.cacheRoot), builtins: await buildLibrary(), settings: spec.settings, executor,
    });
    // The stage's log lines go to the job's output file, which the driver quotes when the stage fails.
    session.on((e) => {
      if (e.type === 'log') process.stderr.write(`${e.cellId ? `[cell ${e.cellId}] ` : ''}${e.message}\n`);
    });
    session.start();
    const outcome = await Promise.race([executor.outcome, session.idle().then(() => null)]);
    // The job ends with its stage: cells still running (siblings of the path to it) are not its work.
    session.dispose();
    const ms = Date.now() - started;
    if (outcome === null) {
      const failed = session.states().filter((c) => c.status === 'error').map((c) => `cell ${c.id}: ${c.error?.message}`);
      return await finish({
        ok: false, node, pid: process.pid, ms, notReached: true,
        error: `the notebook never asked for ${spec.stage} (${spec.key.slice(0, 16)}…): it may read something that differs on this node${failed.length ? `; ${failed.join('; ')}` : ''}`,
      });
    }
    if (!outcome.ok) return await finish({ ok: false, node, pid: process.pid, ms, error: outcome.error.message });
    return await finish({ ok: true, node, pid: process.pid, ms, hit: outcome.hit });
  } catch (err) {
    return finish({ ok: false, node, pid: process.pid, ms: Date.now() - started, error: (err as Error).message });
  }
}
