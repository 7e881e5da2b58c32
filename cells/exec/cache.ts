// The persistent, content-addressed cache. An entry is a directory named by its key holding the payload
// files a codec wrote and `meta.json` (provenance + sha256 of every payload file). Entries are written once:
// a payload is staged in a private temp directory and renamed into place, so readers never see a torn
// entry, and two processes computing the same key both succeed (the second rename loses and is dropped).
// A per-key lock file keeps a second process from computing the same entry twice at the same time.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdir, readdir, readFile, rename, rm, stat, open, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { sha256File } from '../util/hash.ts';
import { writeFileAtomic } from '../util/atomic.ts';

const LAYOUT = 'v1';

export interface EntryMeta {
  key: string;
  stage: string;
  version: number;
  params: unknown;
  inputs: string[];
  created: string;
  elapsedMs: number;
  files: Record<string, { size: number; sha256: string }>;
}

export interface EntryInfo {
  key: string;
  stage: string;
  created: string;
  bytes: number;
  lastUsed: Date;
}

/** Where the cache lives: --cache DIR, else $PROMPTSCOPE_CACHE, else the per-user cache directory. */
export function defaultCacheDir(): string {
  if (process.env.PROMPTSCOPE_CACHE) return process.env.PROMPTSCOPE_CACHE;
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'promptscope');
}

export class CacheCorruptError extends Error {}

export class Cache {
  readonly root: string;
  /** Called when an entry fails its checksum; the entry is then dropped and recomputed. */
  onWarning: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`);

  constructor(root: string = defaultCacheDir()) {
    this.root = root;
  }

  private get objects(): string {
    return join(this.root, LAYOUT, 'objects');
  }

  entryDir(key: string): string {
    return join(this.objects, key.slice(0, 2), key);
  }

  /** A stable scratch directory for a key (checkpoints of a training run that may be resumed). */
  async workDir(key: string): Promise<string> {
    const dir = join(this.root, LAYOUT, 'work', key);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async clearWork(key: string): Promise<void> {
    await rm(join(this.root, LAYOUT, 'work', key), { recursive: true, force: true });
  }

  /** Returns the entry directory if a complete, intact entry exists; drops a corrupt one. */
  async lookup(key: string): Promise<string | null> {
    const dir = this.entryDir(key);
    let meta: EntryMeta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as EntryMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.onWarning(`cache entry ${key} has an unreadable meta.json; recomputing`);
      await this.remove(key);
      return null;
    }
    for (const [name, want] of Object.entries(meta.files)) {
      const path = join(dir, name);
      const ok = await stat(path).then((s) => s.size === want.size, () => false)
        && (await sha256File(path)) === want.sha256;
      if (!ok) {
        this.onWarning(`cache entry ${key} (${meta.stage}) failed its checksum on ${name}; recomputing`);
        await this.remove(key);
        return null;
      }
    }
    // Touch for LRU garbage collection; best effort.
    await writeFile(join(dir, '.used'), '').catch(() => undefined);
    return dir;
  }

  /** Stages a new entry: `write` fills a private directory; it is checksummed and renamed into place. */
  async store(meta: Omit<EntryMeta, 'files' | 'created'>, write: (dir: string) => Promise<void>): Promise<string> {
    const tmpRoot = join(this.root, LAYOUT, 'tmp');
    await mkdir(tmpRoot, { recursive: true });
    const tmp = join(tmpRoot, `${meta.key}.${process.pid}.${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    try {
      await write(tmp);
      const files: EntryMeta['files'] = {};
      for (const name of (await readdir(tmp)).sort()) {
        const path = join(tmp, name);
        files[name] = { size: (await stat(path)).size, sha256: await sha256File(path) };
      }
      const full: EntryMeta = { ...meta, created: new Date().toISOString(), files };
      await writeFileAtomic(join(tmp, 'meta.json'), JSON.stringify(full, null, 1));
      const dir = this.entryDir(meta.key);
      await mkdir(join(dir, '..'), { recursive: true });
      try {
        await rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Another process stored the same key first: its entry is equivalent, keep it.
        await rm(tmp, { recursive: true, force: true });
      }
      return dir;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    const dir = this.entryDir(key);
    // Rename first so a concurrent reader never sees a half-deleted directory as an entry.
    const grave = `${dir}.deleted.${process.pid}.${randomBytes(3).toString('hex')}`;
    await rename(dir, grave).then(() => rm(grave, { recursive: true, force: true }), () => undefined);
  }

  /**
   * Runs `fn` holding the lock for `key`, so two processes do not compute the same entry at once.
   * A lock whose owner process is gone is taken over.
   */
  async withLock<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const dir = join(this.root, LAYOUT, 'locks');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${key}.lock`);
    for (let wait = 20; ; wait = Math.min(wait * 1.5, 500)) {
      signal?.throwIfAborted();
      try {
        const fh = await open(path, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(await readFile(path, 'utf8').catch(() => ''));
        if (owner && !processAlive(owner)) {
          await rm(path, { force: true });
          continue;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(path, { force: true });
    }
  }

  async list(): Promise<EntryInfo[]> {
    const out: EntryInfo[] = [];
    const shards = await readdir(this.objects).catch(() => [] as string[]);
    for (const shard of shards) {
      for (const key of await readdir(join(this.objects, shard)).catch(() => [] as string[])) {
        if (key.includes('.deleted.')) continue;
        const dir = join(this.objects, shard, key);
        try {
          const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as EntryMeta;
          const used = await stat(join(dir, '.used')).then((s) => s.mtime, () => new Date(meta.created));
          const bytes = Object.values(meta.files).reduce((a, f) => a + f.size, 0);
          out.push({ key, stage: meta.stage, created: meta.created, bytes, lastUsed: used });
        } catch {
          // An incomplete directory is not an entry.
        }
      }
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async readMeta(key: string): Promise<EntryMeta | null> {
    return readFile(join(this.entryDir(key), 'meta.json'), 'utf8').then((s) => JSON.parse(s) as EntryMeta, () => null);
  }

  /** Removes least-recently-used entries until the cache holds at most `maxBytes`; returns bytes freed. */
  async gc(maxBytes: number): Promise<{ removed: number; freed: number }> {
    const entries = (await this.list()).sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
    let total = entries.reduce((a, e) => a + e.bytes, 0);
    let removed = 0;
    let freed = 0;
    for (const e of entries) {
      if (total <= maxBytes) break;
      await this.remove(e.key);
      total -= e.bytes;
      freed += e.bytes;
      removed++;
    }
    await rm(join(this.root, LAYOUT, 'tmp'), { recursive: true, force: true });
    return { removed, freed };
  }

  async clear(): Promise<void> {
    await rm(join(this.root, LAYOUT), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
