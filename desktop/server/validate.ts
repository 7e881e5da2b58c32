// Checks the JSON bodies the UI sends. Anything that does not fit becomes a 400 whose message names the
// field and what was expected, so a client bug shows up as a readable error, not a crash in the engine.
import { isValidName, MAX_CELL_ID, type CellMode } from '../../cells/engine/notebook.ts';
import type { RunSettings } from '../protocol.ts';

export class BadRequest extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.name = 'BadRequest';
    this.status = status;
  }
}

export type Body = Record<string, unknown>;

export function asObject(body: unknown, what: string): Body {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest(`${what}: expected a JSON object body`);
  return body as Body;
}

export function cellId(body: Body, what: string, field = 'id'): number {
  const v = body[field];
  // The same range notebook files allow: past 2^53 two different ids would compare equal.
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_CELL_ID) {
    throw new BadRequest(`${what}: "${field}" must be a positive integer cell id (at most ${MAX_CELL_ID}), got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optionalCellId(body: Body, what: string, field: string): number | undefined {
  return body[field] === undefined || body[field] === null ? undefined : cellId(body, what, field);
}

export function string(body: Body, what: string, field: string, maxLength = 1_000_000): string {
  const v = body[field];
  if (typeof v !== 'string') throw new BadRequest(`${what}: "${field}" must be a string, got ${typeof v}`);
  if (v.length > maxLength) throw new BadRequest(`${what}: "${field}" is ${v.length} characters; the limit is ${maxLength}`);
  return v;
}

export function optionalName(body: Body, what: string, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !isValidName(v)) throw new BadRequest(`${what}: "${field}" must be a JavaScript identifier (not a reserved word), got ${JSON.stringify(v)}`);
  return v;
}

const MODES: CellMode[] = ['js', 'md', 'sql'];
export function mode(body: Body, what: string): CellMode {
  const v = body.mode;
  if (typeof v !== 'string' || !MODES.includes(v as CellMode)) throw new BadRequest(`${what}: "mode" must be one of ${MODES.join(', ')}, got ${JSON.stringify(v)}`);
  return v as CellMode;
}

export function has(body: Body, what: string, field: string): unknown {
  if (!(field in body)) throw new BadRequest(`${what}: missing "${field}"`);
  return body[field];
}

export function boolean(body: Body, what: string, field: string, fallback: boolean): boolean {
  const v = body[field];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new BadRequest(`${what}: "${field}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** An integer query parameter within [min, max]; `fallback` when absent. */
export function queryInt(url: URL, name: string, min: number, max: number, fallback?: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) {
    if (fallback === undefined) throw new BadRequest(`missing query parameter "${name}"`);
    return fallback;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BadRequest(`query parameter "${name}" must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The UI's run settings. Partition and gres become sbatch arguments (passed without a shell), so they
 * are held to the characters Slurm's own names use; a typo then fails here, not as a job that never runs.
 */
export function runSettings(body: Body): RunSettings {
  const what = 'run settings';
  const executor = body.executor;
  if (executor === 'local') return { executor: 'local' };
  if (executor !== 'slurm') throw new BadRequest(`${what}: "executor" must be "local" or "slurm", got ${JSON.stringify(executor)}`);
  const name = (field: 'partition' | 'gres'): string | undefined => {
    const v = body[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 200 || !/^[A-Za-z0-9_.:,+=@/-]+$/.test(v)) {
      throw new BadRequest(`${what}: "${field}" must be a Slurm ${field === 'gres' ? 'resource such as gpu:1' : 'partition name'} (letters, digits and _ . : , + = @ / -), got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const raw = body.maxJobs;
  let maxJobs: number | undefined;
  if (raw !== undefined && raw !== null && raw !== '') {
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > 10_000) throw new BadRequest(`${what}: "maxJobs" must be an integer from 1 to 10000, got ${JSON.stringify(raw)}`);
    maxJobs = raw;
  }
  const partition = name('partition');
  const gres = name('gres');
  return { executor: 'slurm', ...(partition ? { partition } : {}), ...(gres ? { gres } : {}), ...(maxJobs ? { maxJobs } : {}) };
}
