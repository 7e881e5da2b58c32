// `stage()`: the one way an expensive step is memoised. The key is provenance (Hamilton/Nextflow style):
// the stage's name and version, its parameters, the keys of its inputs and content fingerprints of files
// it reads — never a re-hash of gigabytes of upstream data. A stage's result carries its key, so a
// downstream stage is keyed from it at no cost.
//
// Stages find the cell they run for (its AbortSignal, progress sink, cache, counters) through an
// AsyncLocalStorage context the session sets around each cell body, so a notebook author calls
// `extractFeatures(model, data)` without threading plumbing through every call.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Cache } from './cache.ts';
import type { Codec } from './codecs.ts';
import { hashJson, sha256File } from '../util/hash.ts';

const KEYS = new WeakMap<object, string>();

/** Attaches a provenance key to an object (done by `stage()` for its results). */
export function withKey<T>(value: T, key: string): T {
  if (value !== null && typeof value === 'object') KEYS.set(value as object, key);
  return value;
}

/** The provenance key of a value: the key its stage gave it, or a hash of its content. */
export function keyOf(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const k = KEYS.get(value as object);
    if (k) return k;
    const own = (value as { key?: unknown }).key;
    if (typeof own === 'string' && own.length >= 16) return own;
    // Datasets and models carry a content fingerprint: that is their identity, not their in-memory form.
    const fp = (value as { fingerprint?: unknown }).fingerprint;
    if (typeof fp === 'string' && fp.length >= 16) return `fingerprint:${fp}`;
  }
  return hashJson(value);
}

export interface ProgressUpdate {
  fraction: number;
  message?: string;
}

/** What a running stage may do: observe cancellation, report progress, keep resumable state. */
export interface StageContext {
  readonly key: string;
  readonly signal: AbortSignal;
  progress(fraction: number, message?: string): void;
  /** A stable per-key directory that survives a crash, for checkpoints a re-run resumes from. */
  workDir(): Promise<string>;
  log(message: string): void;
}

/** One record of a stage call, collected per cell and written with a run's outputs. */
export interface StageRecord {
  stage: string;
  key: string;
  hit: boolean;
  params: unknown;
  inputs: string[];
  ms: number;
  /** Pins of inputs that are models or datasets: what a collaborator must have to reproduce. */
  pins: Pin[];
}

export interface Pin {
  kind: string;
  name: string;
  fingerprint: string;
}

/** Per-cell ambient state, set by the session (or by `runWithContext` in scripts and tests). */
export interface CellContext {
  cache: Cache;
  signal: AbortSignal;
  progress(update: ProgressUpdate): void;
  log(message: string): void;
  record(rec: StageRecord): void;
}

const ambient = new AsyncLocalStorage<CellContext>();

export function runWithContext<T>(ctx: CellContext, fn: () => T): T {
  return ambient.run(ctx, fn);
}

export function currentContext(): CellContext | undefined {
  return ambient.getStore();
}

let fallback: CellContext | undefined;
/** Outside a notebook (scripts, benches), stages use a default cache with no cancellation. */
function contextOrDefault(): CellContext {
  const ctx = ambient.getStore();
  if (ctx) return ctx;
  fallback ??= {
    cache: new Cache(),
    signal: new AbortController().signal,
    progress: () => undefined,
    log: (m) => process.stderr.write(`${m}\n`),
    record: () => undefined,
  };
  return fallback;
}

export interface StageSpec {
  /** Stable identity, e.g. 'extractFeatures'. */
  name: string;
  /** Bump when the stage's code changes what it computes: old entries are then not reused. */
  version: number;
  params?: unknown;
  /** Upstream values (their keys join this key) or explicit keys. */
  inputs?: unknown[];
  /** Files whose content joins the key (read by the stage directly, not through an upstream stage). */
  files?: string[];
  /** Values to record as pins (models, datasets) in the run's provenance. */
  pins?: Pin[];
}

export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

const fileHashes = new Map<string, { mtimeMs: number; size: number; hash: string }>();
async function fileFingerprint(path: string): Promise<string> {
  const { stat } = await import('node:fs/promises');
  const s = await stat(path);
  const memo = fileHashes.get(path);
  if (memo && memo.mtimeMs === s.mtimeMs && memo.size === s.size) return memo.hash;
  const hash = await sha256File(path);
  fileHashes.set(path, { mtimeMs: s.mtimeMs, size: s.size, hash });
  return hash;
}

export async function stageKey(spec: StageSpec): Promise<string> {
  const files = await Promise.all((spec.files ?? []).map(fileFingerprint));
  return hashJson({
    stage: spec.name,
    version: spec.version,
    params: spec.params ?? null,
    inputs: (spec.inputs ?? []).map(keyOf),
    files,
  });
}

/** Runs `compute` unless an intact cached result exists for the same key; returns the value with its key. */
export async function stage<T>(spec: StageSpec, codec: Codec<T>, compute: (ctx: StageContext) => Promise<T>): Promise<T> {
  const cell = contextOrDefault();
  const key = await stageKey(spec);
  const inputs = (spec.inputs ?? []).map(keyOf);
  const started = Date.now();
  const record = (hit: boolean) =>
    cell.record({ stage: spec.name, key, hit, params: spec.params ?? null, inputs, ms: Date.now() - started, pins: spec.pins ?? [] });

  const cached = await readCached(cell.cache, key, codec);
  if (cached.found) {
    record(true);
    return withKey(cached.value, key);
  }
  return cell.cache.withLock(key, async () => {
    // Another process may have finished it while we waited for the lock.
    const again = await readCached(cell.cache, key, codec);
    if (again.found) {
      record(true);
      return withKey(again.value, key);
    }
    cell.signal.throwIfAborted();
    const ctx: StageContext = {
      key,
      signal: cell.signal,
      progress: (fraction, message) => cell.progress({ fraction, message: message ? `${spec.name}: ${message}` : spec.name }),
      workDir: () => cell.cache.workDir(key),
      log: cell.log,
    };
    const value = await compute(ctx);
    // A cancelled computation may have returned early: never store what it produced.
    cell.signal.throwIfAborted();
    await cell.cache.store(
      { key, stage: spec.name, version: spec.version, params: spec.params ?? null, inputs, elapsedMs: Date.now() - started },
      (dir) => codec.encode(value, dir),
    );
    await cell.cache.clearWork(key);
    record(false);
    return withKey(value, key);
  }, cell.signal);
}

async function readCached<T>(cache: Cache, key: string, codec: Codec<T>): Promise<{ found: true; value: T } | { found: false }> {
  const dir = await cache.lookup(key);
  if (!dir) return { found: false };
  try {
    return { found: true, value: await codec.decode(dir) };
  } catch (err) {
    cache.onWarning(`cache entry ${key} could not be decoded (${(err as Error).message}); recomputing`);
    await cache.remove(key);
    return { found: false };
  }
}
