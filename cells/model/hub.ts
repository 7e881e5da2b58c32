// `promptscope model pull` / `model ls`: fetch a CLIP checkpoint from a Hugging Face hub-style server
// (`<endpoint>/<repo>/resolve/<revision>/<file>`) into the model store `<store>/<repo>/<revision>/`.
//
// Integrity: for LFS files (the weights) the hub answers the resolve URL with a redirect carrying
// `X-Linked-Etag: "<sha256>"` and `X-Linked-Size`; small git files carry `ETag: "<git blob sha1>"`. We verify
// whichever the server gives: sha256 of the bytes, or git's blob sha1 (sha1("blob <size>\0" + bytes)).
// Downloads go to `<file>.part` and resume with HTTP Range after a dropped connection or a killed process
// (only if the server's etag is unchanged); a verified file is renamed into place atomically, and a file
// that fails verification is deleted, never left where a good file would be.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';

export const HF_ENDPOINT = 'https://huggingface.co';

/** Files a CLIP checkpoint needs (required) and the tokenizer/preprocessor files that usually travel with it. */
export const REQUIRED_FILES = ['config.json', 'model.safetensors'];
export const OPTIONAL_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'preprocessor_config.json',
];

const MANIFEST = '.promptscope-pull.json';

export function defaultModelStore(): string {
  if (process.env.PROMPTSCOPE_MODELS) return process.env.PROMPTSCOPE_MODELS;
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'promptscope', 'models');
}

/** Models shipped inside the repository (e.g. the pretrained mini-CLIP). */
export function bundledModelsDir(): string {
  return fileURLToPath(new URL('../../data/models/', import.meta.url));
}

/** A revision as one directory name ("refs/pr/3" → "refs--pr--3"). */
export function revisionDir(revision: string): string {
  return revision.replaceAll('/', '--');
}

export interface PullOptions {
  revision?: string;
  store?: string;
  endpoint?: string;
  /** Files to fetch (default: REQUIRED_FILES + OPTIONAL_FILES; optional ones may be absent on the server). */
  files?: string[];
  /** Connection drops tolerated per file before giving up (default 3); each retry resumes with Range. */
  retries?: number;
  /** Bearer token for private repos (default: $HF_TOKEN). */
  token?: string;
  signal?: AbortSignal;
  onProgress?: (p: { file: string; received: number; total: number | undefined }) => void;
}

export interface PulledFile {
  name: string;
  size: number;
  sha256: string;
  /** What the server vouched for: 'sha256' (LFS etag), 'git-sha1' (blob etag) or 'none'. */
  verifiedBy: 'sha256' | 'git-sha1' | 'none';
  /** True when the file was already present and verified, so nothing was downloaded. */
  cached: boolean;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit?: string;
  dir: string;
  files: PulledFile[];
}

export class HubError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubError';
  }
}

interface Manifest {
  repo: string;
  revision: string;
  commit?: string;
  files: Record<string, { size: number; sha256: string; etag?: string; verifiedBy: PulledFile['verifiedBy'] }>;
  pulledAt: string;
}

interface Remote {
  url: string;
  size?: number;
  etag?: string;
  commit?: string;
}

function checkRepoId(repo: string): void {
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(repo) || repo.includes('..')) {
    throw new HubError(`"${repo}" is not a hub repo id (expected "owner/name", e.g. openai/clip-vit-base-patch16)`);
  }
}

const unquote = (s: string | null | undefined) => s?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;

/**
 * Resolve a file's metadata with HEAD requests, following redirects by hand so the hub's X-Linked-Etag on
 * the redirect is not lost. Like huggingface_hub, only same-origin redirects are followed: an LFS file
 * redirects to a CDN whose presigned URLs are signed for GET only (HEAD there answers 403), and the
 * redirect already carries the size and hash. The download then GETs the resolve URL and lets fetch
 * follow the redirect (dropping our Authorization header when it leaves the hub's origin).
 */
async function resolveRemote(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Remote | null> {
  let current = url;
  let etag: string | undefined;
  let size: number | undefined;
  let commit: string | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(current, { method: 'HEAD', redirect: 'manual', headers, signal });
    etag ??= unquote(res.headers.get('x-linked-etag'));
    const linkedSize = res.headers.get('x-linked-size');
    if (size === undefined && linkedSize) size = Number(linkedSize);
    commit ??= res.headers.get('x-repo-commit') ?? undefined;
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      if (!loc) throw new HubError(`${current}: redirect without a Location header`);
      const next = new URL(loc, current);
      if (next.origin === new URL(current).origin) {
        current = next.toString();
        continue;
      }
      etag ??= unquote(res.headers.get('etag'));
      return { url: current, etag, size, commit };
    }
    if (res.status === 404) return null;
    if (res.status === 401 || res.status === 403) throw new HubError(`${url}: access denied (HTTP ${res.status}); a gated or private repo needs a token (HF_TOKEN)`);
    if (!res.ok) throw new HubError(`${url}: HTTP ${res.status} ${res.statusText}`);
    etag ??= unquote(res.headers.get('etag'));
    const len = res.headers.get('content-length');
    if (size === undefined && len) size = Number(len);
    return { url: current, etag, size, commit };
  }
  throw new HubError(`${url}: too many redirects`);
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => -1);
}

async function hashFile(path: string, algo: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algo);
  if (prefix) h.update(prefix);
  await pipeline(createReadStream(path), async function* (src) {
    for await (const chunk of src) h.update(chunk as Buffer);
  });
  return h.digest('hex');
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 1));
  await rename(tmp, path);
}

async function readManifest(dir: string): Promise<Manifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

/** Download `remote` to `final` through `final.part`, resuming, then verify and rename. */
async function download(name: string, remote: Remote, final: string, headers: Record<string, string>, opts: PullOptions): Promise<PulledFile> {
  const part = `${final}.part`;
  const partMeta = `${final}.part.json`;
  // A partial file is only resumed if it belongs to the same remote version.
  const prev = await readFile(partMeta, 'utf8').then((t) => JSON.parse(t) as { etag?: string; size?: number }, () => null);
  if (!prev || prev.etag !== remote.etag || prev.size !== remote.size || !remote.etag) {
    await rm(part, { force: true });
    await writeJsonAtomic(partMeta, { etag: remote.etag, size: remote.size });
  }
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    let have = Math.max(0, await fileSize(part));
    if (remote.size !== undefined && have > remote.size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (remote.size !== undefined && have === remote.size) break;
    try {
      const h: Record<string, string> = { ...headers };
      if (have > 0) h.Range = `bytes=${have}-`;
      const res = await fetch(remote.url, { headers: h, signal: opts.signal });
      if (res.status === 416) {
        // our part is already complete (or longer than the file): start over once
        await rm(part, { force: true });
        throw new HubError(`${name}: server rejected the resume range`);
      }
      if (!res.ok || !res.body) throw new HubError(`${name}: HTTP ${res.status} ${res.statusText}`);
      const append = have > 0 && res.status === 206;
      if (have > 0 && !append) have = 0; // server ignored Range: full body follows
      const total = remote.size;
      let received = have;
      // Write chunk by chunk with awaited writes: when the connection drops, every byte on disk is a byte
      // we received, and no write is still in flight when the next attempt measures the part file.
      const out = await open(part, append ? 'a' : 'w');
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await out.write(chunk);
          received += chunk.length;
          opts.onProgress?.({ file: name, received, total });
        }
      } finally {
        await out.close();
      }
      if (total === undefined) break;
      if ((await fileSize(part)) === total) break;
      throw new HubError(`${name}: connection closed at ${received} of ${total} bytes`);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if (attempt >= retries) {
        const got = Math.max(0, await fileSize(part));
        throw new HubError(`${name}: download failed after ${attempt + 1} attempts (${(e as Error).message}); ${got} bytes kept in ${part}, run pull again to resume`);
      }
    }
  }
  const size = await fileSize(part);
  const sha256 = await hashFile(part, 'sha256');
  let verifiedBy: PulledFile['verifiedBy'] = 'none';
  const fail = async (what: string, want: string, got: string) => {
    await rm(part, { force: true });
    await rm(partMeta, { force: true });
    throw new HubError(`${name}: ${what} mismatch (server says ${want}, downloaded bytes give ${got}); the corrupt download was deleted, run pull again`);
  };
  if (remote.size !== undefined && size !== remote.size) await fail('size', String(remote.size), String(size));
  if (remote.etag && /^[0-9a-f]{64}$/.test(remote.etag)) {
    if (sha256 !== remote.etag) await fail('sha256', remote.etag, sha256);
    verifiedBy = 'sha256';
  } else if (remote.etag && /^[0-9a-f]{40}$/.test(remote.etag)) {
    const blob = await hashFile(part, 'sha1', `blob ${size}\0`);
    if (blob !== remote.etag) await fail('git blob sha1', remote.etag, blob);
    verifiedBy = 'git-sha1';
  }
  await rename(part, final);
  await rm(partMeta, { force: true });
  return { name, size, sha256, verifiedBy, cached: false };
}

/** Download a checkpoint into the store; files already present and verified are not fetched again. */
export async function pullModel(repo: string, opts: PullOptions = {}): Promise<PullResult> {
  checkRepoId(repo);
  const revision = opts.revision ?? 'main';
  // branches, tags, commits, and the hub's PR refs such as "refs/pr/3"
  if (!/^[\w.\-/]+$/.test(revision) || revision.includes('..')) throw new HubError(`revision "${revision}" is not a branch, tag or commit name`);
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? HF_ENDPOINT).replace(/\/+$/, '');
  const dir = join(opts.store ?? defaultModelStore(), ...repo.split('/'), revisionDir(revision));
  await mkdir(dir, { recursive: true });
  const headers: Record<string, string> = { 'user-agent': 'promptscope' };
  const token = opts.token ?? process.env.HF_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  const manifest: Manifest = (await readManifest(dir)) ?? { repo, revision, files: {}, pulledAt: '' };
  const wanted = opts.files ?? [...REQUIRED_FILES, ...OPTIONAL_FILES];
  const results: PulledFile[] = [];
  for (const name of wanted) {
    if (name.includes('..') || name.startsWith('/')) throw new HubError(`file name "${name}" is not allowed`);
    const url = `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${name}`;
    let remote: Remote | null;
    try {
      remote = await resolveRemote(url, headers, opts.signal);
    } catch (e) {
      if (e instanceof HubError) throw e;
      throw new HubError(`${url}: ${(e as Error).message} (is the endpoint reachable?)`);
    }
    if (!remote) {
      if (REQUIRED_FILES.includes(name) || opts.files) {
        const hint = name === 'model.safetensors'
          ? '; some repos keep only pytorch_model.bin on main and the safetensors conversion on a PR branch: try --revision refs/pr/<n>'
          : '';
        throw new HubError(`${repo}@${revision} has no ${name} (HTTP 404 at ${url})${hint}`);
      }
      continue;
    }
    manifest.commit ??= remote.commit;
    const final = join(dir, name);
    const known = manifest.files[name];
    if (known && known.etag === remote.etag && (await fileSize(final)) === known.size) {
      results.push({ name, size: known.size, sha256: known.sha256, verifiedBy: known.verifiedBy, cached: true });
      continue;
    }
    await mkdir(dirname(final), { recursive: true });
    const got = await download(name, remote, final, headers, opts);
    manifest.files[name] = { size: got.size, sha256: got.sha256, etag: remote.etag, verifiedBy: got.verifiedBy };
    manifest.pulledAt = new Date().toISOString();
    await writeJsonAtomic(join(dir, MANIFEST), manifest);
    results.push(got);
  }
  return { repo, revision, commit: manifest.commit, dir, files: results };
}

export interface StoredModel {
  /** Repo id ("owner/name"), or the directory name for bundled models. */
  repo: string;
  revision: string;
  dir: string;
  bytes: number;
  source: 'store' | 'bundled';
  commit?: string;
}

/** Checkpoints (a directory with config.json and model.safetensors) in the store and, by default, bundled ones. */
export async function listModels(store: string = defaultModelStore(), opts: { bundled?: boolean } = {}): Promise<StoredModel[]> {
  const out: StoredModel[] = [];
  const walk = async (root: string, d: string, depth: number, source: StoredModel['source']) => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    const names = new Set(entries.map((e) => e.name));
    if (names.has('config.json') && names.has('model.safetensors')) {
      const parts = relative(root, d).split(sep).filter(Boolean);
      const m = await readManifest(d);
      let bytes = 0;
      for (const e of entries) if (e.isFile() && !e.name.startsWith('.')) bytes += Math.max(0, await fileSize(join(d, e.name)));
      if (source === 'bundled') out.push({ repo: parts.join('/'), revision: 'bundled', dir: d, bytes, source });
      else out.push({ repo: m?.repo ?? parts.slice(0, -1).join('/'), revision: m?.revision ?? parts.at(-1) ?? '', dir: d, bytes, source, commit: m?.commit });
      return;
    }
    if (depth === 0) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(root, join(d, e.name), depth - 1, source);
  };
  await walk(store, store, 3, 'store');
  if (opts.bundled ?? true) await walk(bundledModelsDir(), bundledModelsDir(), 2, 'bundled');
  return out.sort((a, b) => (a.repo + a.revision < b.repo + b.revision ? -1 : 1));
}
