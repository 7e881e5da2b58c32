// Cache keys are provenance (Hamilton/Nextflow style): a stage's name and version, its parameters, the
// keys of its inputs and content fingerprints of files it reads — never a re-hash of gigabytes of
// upstream data. A stage's result carries its key, so a downstream stage is keyed from it at no cost.
import { stat } from 'node:fs/promises';
import { hashJson, sha256File } from '../util/hash.ts';
import type { StageSpec } from './types.ts';

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

const fileHashes = new Map<string, { mtimeMs: number; size: number; hash: string }>();
async function fileFingerprint(path: string): Promise<string> {
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
