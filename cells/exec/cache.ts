// The persistent, content-addressed cache. An entry is a directory named by its key holding the payload
// files a codec wrote and `meta.json` (provenance + sha256 of every payload file). Entries are written once:
// a payload is staged in a private temp directory and renamed into place, so readers never see a torn
// entry, and two processes computing the same key both succeed (the second rename loses and is dropped).
//
// A per-key lock file keeps a second process from computing the same entry at the same time. Processes
// get killed, so a lock must be taken over when its holder is gone, and never while its holder is alive.
// "Alive" is more than `kill(pid, 0)`: after a crash the pid may have been reused by an unrelated process
// that would hold the lock forever. So the lock file records who wrote it (see `Owner`):
//   - pid + the process's start time (Linux: /proc/<pid>/stat) + boot id: a pid that is gone, or alive but
//     started at another time, is stale. This needs no clock and no heartbeat, so a genuine holder that
//     blocks its event loop for an hour in a long computation keeps its lock. (A lock from before a
//     reboot cannot be told from one of a twin host with the same name: the heartbeat rule below decides.)
//   - a pid means something only on the machine, the boot and the pid namespace it came from: a lock
//     written elsewhere (another node of a cluster on a shared disk, a container with its own pids, a
//     twin host of the same name) is never judged by its pid, however the pid looks here.
//   - where the start time cannot be checked (another machine as above, a platform without /proc, a lock
//     written by an older Promptscope that wrote only a pid), the holder's heartbeat decides: a holder
//     sets its lock's mtime every `lockStaleMs / 4`. A waiter on the holder's machine compares that mtime
//     with its clock; a waiter elsewhere compares no clocks (nodes' clocks differ, and an NFS server may
//     set mtimes by its own): it takes the lock over only after watching it unchanged for `lockStaleMs`
//     of its own time. See "What the shared filesystem must provide" in the README.
//   - a random token, so a holder only ever removes its own lock, and a takeover can check that the lock it
//     removes is the one it judged stale (see `breakLock`).
// The lock file is written completely before it appears (hard link of a finished temp file), so it is
// never seen empty; an empty or unreadable one (power loss, an older writer killed between creating the
// file and writing its pid) is taken over once it is `lockGraceMs` old.
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { sha256, sha256File } from '../util/hash.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { processAlive, sleep } from '../util/process.ts';
import type { Codec } from './codecs.ts';

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

export interface CacheOptions {
  /** A lock whose holder cannot be identified is stale after this long without a heartbeat. */
  lockStaleMs?: number;
  /** An empty or unreadable lock file is stale once it is this old. */
  lockGraceMs?: number;
  /** A staging directory whose owner cannot be checked (another host) is swept by gc after this long. */
  abandonedMs?: number;
}

/** Places inside `store` where fault-injection tests kill the process. */
export type FaultPoint = 'payload-written' | 'meta-written' | 'renamed';

/** Where the cache lives: --cache DIR, else $PROMPTSCOPE_CACHE, else the per-user cache directory. */
export function defaultCacheDir(): string {
  if (process.env.PROMPTSCOPE_CACHE) return process.env.PROMPTSCOPE_CACHE;
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'promptscope');
}

/** The identity recorded in a lock file. */
interface Owner {
  pid: number;
  host?: string;
  boot?: string;
  /** The pid namespace (`pid:[INODE]`): containers on one host share its name and boot id, not its pids. */
  pidns?: string;
  start?: string;
  token: string;
  since?: string;
}

interface SeenLock {
  text: string;
  owner: Owner | null;
  mtimeMs: number;
}

export class Cache {
  readonly root: string;
  /** Called when an entry fails its checksum; the entry is then dropped and recomputed. */
  onWarning: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`);
  /** Called once per wait when another process holds the lock of an entry this one needs. */
  onLockWait: (key: string, holder: string) => void = (key, holder) =>
    process.stderr.write(`waiting for cache entry ${key.slice(0, 16)}…, being computed by ${holder}\n`);
  /** Fault-injection tests set this to kill the process at a chosen point of a write. */
  faultPoint?: (point: FaultPoint) => void;

  private readonly lockStaleMs: number;
  private readonly lockGraceMs: number;
  private readonly abandonedMs: number;

  constructor(root: string = defaultCacheDir(), options: CacheOptions = {}) {
    this.root = root;
    this.lockStaleMs = options.lockStaleMs ?? 60_000;
    this.lockGraceMs = options.lockGraceMs ?? 2_000;
    this.abandonedMs = options.abandonedMs ?? 24 * 3600_000;
  }

  private get objects(): string {
    return join(this.root, LAYOUT, 'objects');
  }

  private get staging(): string {
    return join(this.root, LAYOUT, 'tmp');
  }

  private get locks(): string {
    return join(this.root, LAYOUT, 'locks');
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

  /**
   * Removes a finished key's scratch directory if one is left: a process killed between storing the entry
   * and clearing its work directory leaves one behind, and every later run finds the entry and never
   * computes (so never clears) again. Costs one stat when nothing is left.
   */
  async clearLeftoverWork(key: string, signal?: AbortSignal): Promise<void> {
    if (!(await exists(join(this.root, LAYOUT, 'work', key)))) return;
    // Under the key's lock, so that a lock holder repairing a damaged entry keeps its checkpoints.
    await this.withLock(key, async () => {
      if (await this.has(key)) await this.clearWork(key);
    }, signal);
  }

  /**
   * Returns the entry directory if a complete, intact entry exists. With `repair` (only while holding the
   * key's lock, so that no other process is storing it) a damaged entry is reported and removed; without
   * it a damaged entry is just a miss, left for the lock holder to repair.
   */
  async lookup(key: string, { repair = false } = {}): Promise<string | null> {
    const dir = this.entryDir(key);
    const damaged = async (why: string) => {
      if (repair) {
        this.onWarning(`cache entry ${key} ${why}; recomputing`);
        await this.remove(key);
      }
      return null;
    };
    let text: string;
    try {
      text = await readFile(join(dir, 'meta.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return damaged(`has an unreadable meta.json (${(err as Error).message})`);
      // Entries appear whole, by rename, so a directory without meta.json is damage, not a write in progress.
      // Left alone it would also block every later store of this key (the rename onto it fails).
      if (repair && (await exists(dir))) return damaged('has no meta.json');
      return null;
    }
    let meta: EntryMeta;
    try {
      meta = JSON.parse(text) as EntryMeta;
      if (!meta || typeof meta.files !== 'object' || meta.files === null) throw new Error('no file list');
    } catch {
      return damaged('has an unreadable meta.json');
    }
    if (meta.key !== key) return damaged(`has the meta.json of another entry (${String(meta.key).slice(0, 16)}…)`);
    for (const [name, want] of Object.entries(meta.files)) {
      const path = join(dir, name);
      const size = await stat(path).then((s) => s.size, () => -1);
      if (size === want.size && (await sha256File(path).catch(() => '')) === want.sha256) continue;
      // gc may have removed the whole entry while we read it: that is an ordinary miss, not damage.
      if ((await readFile(join(dir, 'meta.json'), 'utf8').catch(() => null)) !== text) return null;
      return damaged(size < 0 ? `(${meta.stage}) is missing ${name}` : `(${meta.stage}) failed its checksum on ${name}`);
    }
    // Touch for LRU garbage collection; best effort.
    await writeFile(join(dir, '.used'), '').catch(() => undefined);
    return dir;
  }

  /**
   * Looks an entry up and decodes it. `repair` as for `lookup`: pass it only while holding the key's lock.
   * A payload the codec cannot decode is damage like a failed checksum, unless gc removed the entry
   * while it was being decoded (then it is a plain miss).
   */
  async read<T>(key: string, codec: Codec<T>, { repair = false } = {}): Promise<{ found: true; value: T } | { found: false }> {
    const dir = await this.lookup(key, { repair });
    if (!dir) return { found: false };
    try {
      return { found: true, value: await codec.decode(dir) };
    } catch (err) {
      if (repair && (await this.has(key))) {
        this.onWarning(`cache entry ${key} could not be decoded (${(err as Error).message}); recomputing`);
        await this.remove(key);
      }
      return { found: false };
    }
  }

  /** Whether an entry directory with a meta.json exists for `key` (intact or not). */
  async has(key: string): Promise<boolean> {
    return exists(join(this.entryDir(key), 'meta.json'));
  }

  /** Stages a new entry: `write` fills a private directory; it is checksummed and renamed into place. */
  async store(meta: Omit<EntryMeta, 'files' | 'created'>, write: (dir: string) => Promise<void>): Promise<string> {
    await mkdir(this.staging, { recursive: true });
    // The owner tag in the name lets gc tell a live writer's directory from one a killed process left.
    const tmp = join(this.staging, `${meta.key}.${self().tag}.${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    try {
      await write(tmp);
      this.faultPoint?.('payload-written');
      const files: EntryMeta['files'] = {};
      for (const name of (await readdir(tmp)).sort()) {
        const path = join(tmp, name);
        files[name] = { size: (await stat(path)).size, sha256: await sha256File(path) };
      }
      const full: EntryMeta = { ...meta, created: new Date().toISOString(), files };
      await writeFileAtomic(join(tmp, 'meta.json'), JSON.stringify(full, null, 1));
      this.faultPoint?.('meta-written');
      const dir = this.entryDir(meta.key);
      await mkdir(join(dir, '..'), { recursive: true });
      try {
        await rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOENT with the entry in place: on NFS, a rename whose reply was lost is retried, and the retry
        // no longer finds its source, because the first attempt moved it. The entry is ours; nothing to do.
        const movedAlready = code === 'ENOENT' && !(await exists(tmp)) && (await this.readMeta(meta.key))?.key === meta.key;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && !movedAlready) throw err;
        // Another process stored the same key first: its entry is equivalent, keep it.
        await rm(tmp, { recursive: true, force: true });
      }
      this.faultPoint?.('renamed');
      return dir;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    const dir = this.entryDir(key);
    // Rename first so a concurrent reader never sees a half-deleted directory as an entry.
    const grave = `${dir}.deleted.${self().tag}.${randomBytes(3).toString('hex')}`;
    await rename(dir, grave).then(() => rm(grave, { recursive: true, force: true }), () => undefined);
  }

  /**
   * Runs `fn` holding the lock for `key`, so two processes do not compute the same entry at once.
   * A stale lock (see the top of this file) is reported and taken over.
   */
  async withLock<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await mkdir(this.locks, { recursive: true });
    const path = join(this.locks, `${key}.lock`);
    const token = randomBytes(8).toString('hex');
    await this.acquire(key, path, token, signal);
    let warned = false;
    const heartbeat = setInterval(() => {
      void readLock(path).then(async (seen) => {
        if (seen?.owner?.token === token) {
          const now = new Date();
          await utimes(path, now, now);
        } else if (!warned) {
          warned = true;
          this.onWarning(`cache entry ${key}: another process took this entry's lock over while it was computed here`);
        }
      }).catch(() => undefined); // a missed beat is retried at the next one
    }, Math.max(10, this.lockStaleMs / 4));
    heartbeat.unref();
    try {
      return await fn();
    } finally {
      clearInterval(heartbeat);
      // Only our own lock: if it was taken over, it now belongs to someone who is still computing.
      if ((await readLock(path).catch(() => null))?.owner?.token === token) await rm(path, { force: true });
    }
  }

  private async acquire(key: string, path: string, token: string, signal?: AbortSignal): Promise<void> {
    const me = self();
    const owner: Owner = { pid: process.pid, host: me.host, boot: me.boot, pidns: me.pidns, start: me.start, token, since: new Date().toISOString() };
    const body = JSON.stringify(owner);
    // The draft carries its owner, so gc can tell a dead writer's draft from a live one's.
    const draft = `${path}.${me.tag}.${token}.tmp`;
    await writeFile(draft, body);
    // The lock's first mtime by this machine's clock, as every heartbeat's will be (an NFS server would
    // otherwise stamp the new file with its own clock).
    const now = new Date();
    await utimes(draft, now, now);
    try {
      let reported = false;
      // What this waiter last saw of the lock, and since when by its own monotonic clock (see staleness).
      let watched: { text: string; mtimeMs: number; since: number } | undefined;
      for (let wait = 20; ; wait = Math.min(wait * 1.5, 500)) {
        signal?.throwIfAborted();
        if (await createLock(draft, path, body)) return;
        const seen = await readLock(path);
        if (!seen) continue; // released between our attempt and our look
        // Our own lock: the link was made but its reply was lost and the retried call said EEXIST (NFS
        // retransmits a request whose answer did not come back). Waiting here would wait on ourselves.
        if (seen.owner?.token === token) return;
        if (!watched || watched.text !== seen.text || watched.mtimeMs !== seen.mtimeMs) {
          watched = { text: seen.text, mtimeMs: seen.mtimeMs, since: performance.now() };
        }
        const stale = this.staleness(seen, performance.now() - watched.since);
        if (stale) {
          if (await breakLock(path, seen)) this.onWarning(`cache entry ${key}: ${stale}; taking its lock over`);
          continue;
        }
        const holder = seen.owner;
        // Waiting on another computation in this same process is ordinary and not worth a line.
        if (!reported && !(holder?.pid === process.pid && holder.host === me.host)) {
          reported = true;
          this.onLockWait(key, holder ? `pid ${holder.pid}${holder.host && holder.host !== me.host ? ` on ${holder.host}` : ''}` : 'a process that is creating its lock');
        }
        await sleep(wait, signal);
      }
    } finally {
      await rm(draft, { force: true });
    }
  }

  /**
   * Why a lock may be taken over, or null while its holder may still be working. `unchangedMs`: how long
   * a waiter has watched this very lock (content and mtime) without a change, by its own clock; gc, which
   * looks once, has no such observation.
   */
  private staleness(seen: SeenLock, unchangedMs?: number): string | null {
    const age = Date.now() - seen.mtimeMs;
    if (!seen.owner) {
      // Its writer is unknown, so is its clock: a waiter goes by what it watched.
      const quiet = unchangedMs ?? age;
      return quiet > this.lockGraceMs ? 'its lock file is empty or unreadable (its writer was killed while creating it)' : null;
    }
    const o = seen.owner;
    const local = sameMachine(o);
    const verdict = judge(o.pid, local, o.start);
    if (verdict.alive === false) return `its lock was held by pid ${o.pid}, ${verdict.reason}`;
    if (verdict.alive === true) return null;
    const holder = `pid ${o.pid}${o.host && o.host !== self().host ? ` on ${o.host}` : ''}`;
    // Written by this machine's clock: its age can be read directly.
    if (local && age > this.lockStaleMs) return `its lock was held by ${holder}, which has not renewed it for ${Math.round(age / 1000)} s`;
    // Written elsewhere: its mtime is another clock's, which may run minutes apart from ours. Only a
    // heartbeat seen to stop counts; a clock that is off by hours cannot make a live holder look dead.
    if (unchangedMs !== undefined && unchangedMs > this.lockStaleMs) {
      return `its lock was held by ${holder}, which has not renewed it for ${Math.round(unchangedMs / 1000)} s (watched from here)`;
    }
    // gc cannot watch: a foreign lock goes only when it is far older than any clock difference.
    if (unchangedMs === undefined && !local && age > this.abandonedMs) return `its lock was held by ${holder} and is ${Math.round(age / 3600_000)} h old`;
    return null;
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

  /**
   * Removes least-recently-used entries until the cache holds at most `maxBytes`, then sweeps what killed
   * processes left behind (staging directories, half-deleted entries, stale locks). It is safe to run
   * while other processes read and write the cache: a live writer's staging directory is never touched.
   */
  async gc(maxBytes: number): Promise<{ removed: number; freed: number; swept: number }> {
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
    return { removed, freed, swept: await this.sweep() };
  }

  private async sweep(): Promise<number> {
    let swept = 0;
    const abandoned = async (path: string, tag: string): Promise<boolean> => {
      const owner = parseTag(tag);
      const verdict = owner ? judge(owner.pid, owner.local, owner.start) : ({ alive: 'unknown' } as const);
      if (verdict.alive === true) return false;
      if (verdict.alive === false) return true;
      return stat(path).then((s) => Date.now() - s.mtimeMs > this.abandonedMs, () => false);
    };
    for (const name of await readdir(this.staging).catch(() => [] as string[])) {
      const path = join(this.staging, name);
      if (await abandoned(path, name.split('.')[1] ?? '')) {
        await rm(path, { recursive: true, force: true });
        swept++;
      }
    }
    for (const shard of await readdir(this.objects).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.objects, shard)).catch(() => [] as string[])) {
        const at = name.indexOf('.deleted.');
        const path = join(this.objects, shard, name);
        if (at >= 0 && (await abandoned(path, name.slice(at + '.deleted.'.length).split('.')[0]))) {
          await rm(path, { recursive: true, force: true });
          swept++;
        }
      }
    }
    for (const name of await readdir(this.locks).catch(() => [] as string[])) {
      const path = join(this.locks, name);
      if (name.endsWith('.lock')) {
        const seen = await readLock(path);
        if (seen && this.staleness(seen) && (await breakLock(path, seen))) swept++;
      } else if (/\.(tmp|stale)$/.test(name)) {
        // A lock draft or a set-aside stale lock whose process died in the middle of using it: a draft names
        // its owner (`KEY.lock.TAG.TOKEN.tmp`) and goes as soon as that owner is dead; one whose owner cannot be checked, after an hour.
        const tag = /\.lock\.([^.]+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1];
        const owner = tag ? parseTag(tag) : null;
        const verdict = owner ? judge(owner.pid, owner.local, owner.start).alive : 'unknown';
        const dead = verdict === false
          || (verdict === 'unknown' && (await stat(path).then((st) => Date.now() - st.mtimeMs > 3600_000, () => false)));
        if (dead) {
          await rm(path, { force: true });
          swept++;
        }
      }
    }
    return swept;
  }

  async clear(): Promise<void> {
    await rm(join(this.root, LAYOUT), { recursive: true, force: true });
  }
}

// ---- lock files -------------------------------------------------------------------------------------

/** Publishes a finished lock file at `path` unless one exists. */
async function createLock(draft: string, path: string, body: string): Promise<boolean> {
  try {
    await link(draft, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  }
  // A file system without hard links: create-then-write leaves a brief window in which the lock is empty,
  // which the grace period for empty locks covers.
  try {
    const fh = await open(path, 'wx');
    await fh.writeFile(body);
    await fh.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function readLock(path: string): Promise<SeenLock | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    // The mtime through the open file: an NFS client revalidates a file's attributes when it is opened
    // (close-to-open consistency), while a plain stat may answer from its attribute cache for up to a minute.
    const s = await fh.stat();
    const text = await fh.readFile('utf8');
    return { text, owner: parseOwner(text), mtimeMs: s.mtimeMs };
  } finally {
    await fh.close();
  }
}

function parseOwner(text: string): Owner | null {
  const t = text.trim();
  // Promptscope before lock tokens wrote the bare pid.
  if (/^\d+$/.test(t)) return Number(t) > 0 ? { pid: Number(t), token: '' } : null;
  try {
    const o = JSON.parse(t) as Owner;
    return Number.isInteger(o?.pid) && o.pid > 0 && typeof o.token === 'string' ? o : null;
  } catch {
    return null;
  }
}

/**
 * Removes the stale lock `seen`, unless it has meanwhile been replaced: several waiters may judge the
 * same lock stale, and the first to take it over must not lose its fresh lock to the second. The lock is
 * moved aside atomically (only one process gets it), compared with what was judged, and put back if it is
 * a different one. Returns whether the stale lock was removed by this call.
 */
async function breakLock(path: string, seen: SeenLock): Promise<boolean> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const got = await readFile(aside, 'utf8').catch(() => null);
  if (got !== seen.text) {
    // Someone's fresh lock. If a third process created another in the moment it was away, both holders
    // compute; stores are idempotent, so that costs time, not correctness.
    await link(aside, path).catch(() => undefined);
  }
  await rm(aside, { force: true });
  return got === seen.text;
}

// ---- process identity -------------------------------------------------------------------------------

interface Self {
  host: string;
  boot?: string;
  pidns?: string;
  start?: string;
  /**
   * `<machine hash>-<pid>-<start>`: names staging directories and graves so gc can find their owner. The
   * hash covers host name, boot id and pid namespace, so a pid in a tag is judged only where it means
   * something (a name from before a restart, or from a twin host, is left to the age rule).
   */
  tag: string;
}

let me: Self | undefined;
function self(): Self {
  if (me) return me;
  const host = hostname();
  const boot = readText('/proc/sys/kernel/random/boot_id');
  const pidns = readLink('/proc/self/ns/pid');
  const start = processStart(process.pid);
  me = { host, boot, pidns, start, tag: `${machineHash(host, boot, pidns)}-${process.pid}-${start ?? 'x'}` };
  return me;
}

function machineHash(host: string, boot: string | undefined, pidns: string | undefined): string {
  return sha256(`${host}\n${boot ?? ''}\n${pidns ?? ''}`).slice(0, 8);
}

/**
 * Whether a lock was written on this machine, since its last boot, in this pid namespace: only then may
 * its pid be looked up here. Fields an older writer did not record are not held against it.
 */
function sameMachine(o: Owner): boolean {
  const mine = self();
  if (o.host !== undefined && o.host !== mine.host) return false;
  if (o.boot && mine.boot && o.boot !== mine.boot) return false;
  if (o.pidns && mine.pidns && o.pidns !== mine.pidns) return false;
  return true;
}

function parseTag(tag: string): { pid: number; local: boolean; start?: string } | null {
  // Also reads the bare pid that older Promptscope put in these names.
  if (/^\d+$/.test(tag)) return { pid: Number(tag), local: true };
  const m = /^([0-9a-f]{8})-(\d+)-(\w+)$/.exec(tag);
  if (!m) return null;
  const mine = self();
  return { pid: Number(m[2]), local: m[1] === machineHash(mine.host, mine.boot, mine.pidns), start: m[3] === 'x' ? undefined : m[3] };
}

type Verdict = { alive: true } | { alive: false; reason: string } | { alive: 'unknown' };

/** Whether the process that wrote an owner record still runs, as far as this machine can tell. */
function judge(pid: number, local: boolean, start: string | undefined): Verdict {
  // Another node's pid 1234 says nothing about this node's pid 1234 (see sameMachine).
  if (!local) return { alive: 'unknown' };
  const mine = self();
  if (!processAlive(pid)) return { alive: false, reason: 'which has exited' };
  if (!start || !mine.start) return { alive: 'unknown' };
  const now = processStart(pid);
  if (now === undefined) return { alive: 'unknown' };
  return now === start ? { alive: true } : { alive: false, reason: 'a pid now reused by an unrelated process' };
}

/** The start time of a process in clock ticks since boot (Linux), which a reused pid does not share. */
function processStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Field 2 (the command name) may hold spaces and parentheses; the fields after it follow the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

