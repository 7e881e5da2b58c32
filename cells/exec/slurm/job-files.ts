// What a driver and the job it submitted say to each other, as files in the shared cache's `jobs/` area
// (the only channel both are sure to see: the job may run on any node). Each file is written atomically,
// so a reader sees the old content or the new, never half of it.
//
//   jobs/notebooks/SHA.html      the notebook source the driver runs (content-addressed, shared by jobs)
//   jobs/KEY.ATTEMPT.TOKEN/
//     job.json                   what to compute: the stage key, the notebook, its settings (driver writes)
//     progress.json              the stage's latest progress, the node and pid (job writes, driver polls)
//     result.json                the outcome: stored, or the stage's own error (job writes, last)
//     slurm.out                  the job's stdout and stderr (Slurm writes)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.ts';

export interface JobSpec {
  version: 1;
  /** The one stage this job computes. */
  key: string;
  stage: string;
  /** Path of the notebook snapshot, and the name it was run under (for messages). */
  notebook: string;
  notebookName: string;
  settings: Record<string, unknown>;
  backend?: string;
  cacheRoot: string;
  attempt: number;
}

export interface JobProgress {
  fraction: number;
  message?: string;
  node: string;
  pid: number;
  /** SLURM_JOB_ID as the job sees it. */
  jobId?: string;
  at: string;
}

export type JobResult =
  | { ok: true; node: string; pid: number; ms: number; /** Found already stored (another driver's job). */ hit: boolean }
  | { ok: false; node: string; pid: number; ms: number; error: string; /** The notebook never asked for the stage. */ notReached?: boolean };

export const jobFile = (dir: string, name: 'job.json' | 'progress.json' | 'result.json' | 'slurm.out') => join(dir, name);

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 1));
}

/** The parsed file, or null when it does not exist (yet). A file that exists but does not parse is an error. */
export async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} is not valid JSON: was it written by something other than promptscope?`);
  }
}

/** The last `lines` lines of a job's log, for an error message; empty when there is none. */
export async function logTail(dir: string, lines = 30): Promise<string> {
  const text = await readFile(jobFile(dir, 'slurm.out'), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
