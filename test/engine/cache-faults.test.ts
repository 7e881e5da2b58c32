// Fault injection for the cache: damaged entries, stale and hostile lock files, processes killed with
// SIGKILL in the middle of a write, and several processes sharing one cache while gc runs. Each case
// must be detected, reported with a warning naming the entry, and recomputed to the same value.
//
// The kill test draws its kill points from a seed; a failure prints it, and FAULT_SEED=<seed> replays it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rename, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { Cache, type CacheOptions } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { stage } from '../../cells/exec/stage.ts';
import { stageKey } from '../../cells/exec/keys.ts';
import { valueCodec } from '../../cells/exec/codecs.ts';
import { mulberry32 } from '../../cells/util/random.ts';
import { sharedValue, sumOf, tornValue } from './fixtures/fault-values.ts';

const WORKER = new URL('./fixtures/fault-worker.ts', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ps-fault-'));
}

function ctx(cache: Cache) {
  return { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: () => undefined };
}

/** A cache whose warnings are collected, and a stage on it that counts its computations. */
async function setup(options: CacheOptions = {}) {
  const cache = new Cache(await tempDir(), options);
  const warnings: string[] = [];
  cache.onWarning = (m) => warnings.push(m);
  cache.onLockWait = () => undefined;
  let calls = 0;
  const spec = { name: 'victim', version: 1, params: { n: 3 } };
  const key = await stageKey(spec);
  const run = () =>
    runWithContext(ctx(cache), () =>
      stage(spec, valueCodec<{ a: Float32Array; tag: string }>(), async () => (calls++, { a: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), tag: 'ok' })),
    );
  const check = (v: { a: Float32Array; tag: string }) => {
    assert.deepEqual([...v.a], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(v.tag, 'ok');
  };
  return { cache, warnings, key, run, check, calls: () => calls, entry: cache.entryDir(key), lock: join(cache.root, 'v1', 'locks', `${key}.lock`) };
}

/** Like Linux's /proc/<pid>/stat start time field, for forging lock files. */
function startOf(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
}

const LINUX = process.platform === 'linux';

// ---- damaged entries --------------------------------------------------------------------------------

for (const [name, damage, expected] of [
  ['a truncated payload', (e: string) => truncate(join(e, 'arrays.safetensors'), 20), /failed its checksum on arrays\.safetensors/],
  ['a missing payload file', (e: string) => rm(join(e, 'arrays.safetensors')), /is missing arrays\.safetensors/],
  ['a corrupt meta.json', (e: string) => writeFile(join(e, 'meta.json'), '{"key": "'), /unreadable meta\.json/],
  ['a missing meta.json', (e: string) => rm(join(e, 'meta.json')), /has no meta\.json/],
] as const) {
  test(`${name} is reported naming the entry, recomputed, and stored again`, async () => {
    const s = await setup();
    await s.run();
    await damage(s.entry);
    s.check(await s.run());
    assert.equal(s.calls(), 2, 'recomputed');
    assert.equal(s.warnings.length, 1, s.warnings.join('\n'));
    assert.ok(s.warnings[0].includes(s.key), `the warning names the entry: ${s.warnings[0]}`);
    assert.match(s.warnings[0], expected);
    // Repaired in place: the next run is a hit, not another recomputation.
    s.check(await s.run());
    assert.equal(s.calls(), 2, 'the repaired entry is used');
  });
}

test('a payload the codec cannot decode is reported naming the entry and recomputed', async () => {
  const s = await setup();
  // Checksums are right (the cache wrote them), the content is not what the codec expects.
  await s.cache.store({ key: s.key, stage: 'victim', version: 1, params: null, inputs: [], elapsedMs: 0 }, async (dir) => {
    await writeFile(join(dir, 'value.json'), '{"a": {"$array": "a0"}, "tag": ');
  });
  s.check(await s.run());
  assert.equal(s.calls(), 1);
  assert.equal(s.warnings.length, 1, s.warnings.join('\n'));
  assert.ok(s.warnings[0].includes(s.key));
  assert.match(s.warnings[0], /could not be decoded/);
  s.check(await s.run());
  assert.equal(s.calls(), 1);
});

test('an entry that gc removes while it is being read is a plain miss, not reported as damaged', async () => {
  const s = await setup();
  await s.run();
  // gc runs between the checksum check and the decode: the files vanish under the reader.
  const vanishing = { encode: async () => undefined, decode: async (dir: string) => (await s.cache.remove(s.key), JSON.parse(await readFile(join(dir, 'value.json'), 'utf8'))) };
  assert.deepEqual(await s.cache.read(s.key, vanishing, { repair: true }), { found: false });
  assert.deepEqual(s.warnings, []);
});

// ---- lock files -------------------------------------------------------------------------------------

async function writeLock(path: string, body: string, ageMs = 0) {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, body);
  const t = new Date(Date.now() - ageMs);
  await utimes(path, t, t);
}

test('an empty lock file (its writer killed before writing its pid) is taken over', { timeout: 10_000 }, async () => {
  const s = await setup();
  await writeLock(s.lock, '', 60_000);
  s.check(await s.run());
  assert.equal(s.calls(), 1);
  assert.match(s.warnings.join('\n'), new RegExp(`cache entry ${s.key}: its lock file is empty`));
  assert.deepEqual(await readdir(join(s.lock, '..')), [], 'no lock or lock draft is left behind');
});

test('a fresh empty lock file is waited on for the grace period, then taken over', { timeout: 10_000 }, async () => {
  const s = await setup({ lockGraceMs: 400 });
  await writeLock(s.lock, '');
  const t0 = Date.now();
  s.check(await s.run());
  assert.ok(Date.now() - t0 >= 350, 'an empty lock may be a writer between creating and filling it');
  assert.equal(s.calls(), 1);
});

test('a lock owned by a live unrelated process (pid reused) is detected, reported and recomputed', { skip: !LINUX && 'needs /proc', timeout: 10_000 }, async () => {
  const s = await setup();
  // Our parent is alive, but it did not write this lock: the recorded start time is not its own.
  const pid = process.ppid;
  await writeLock(s.lock, JSON.stringify({ pid, host: hostname(), start: String(Number(startOf(pid)) + 12345), token: 'forged', since: new Date().toISOString() }));
  s.check(await s.run());
  assert.equal(s.calls(), 1);
  assert.equal(s.warnings.length, 1, s.warnings.join('\n'));
  assert.match(s.warnings[0], new RegExp(`cache entry ${s.key}: its lock was held by pid ${pid}, a pid now reused by an unrelated process`));
});

test('a bare-pid lock (older format) of a live process is taken over once its heartbeat is stale', { timeout: 10_000 }, async () => {
  const s = await setup({ lockStaleMs: 500 });
  const pid = process.ppid;
  await writeLock(s.lock, String(pid), 5_000);
  s.check(await s.run());
  assert.equal(s.calls(), 1);
  assert.match(s.warnings.join('\n'), new RegExp(`its lock was held by pid ${pid}, which has not renewed it`));

  // The same lock, freshly touched, is respected until it goes stale.
  const t = await setup({ lockStaleMs: 500 });
  await writeLock(t.lock, String(pid));
  const t0 = Date.now();
  t.check(await t.run());
  assert.ok(Date.now() - t0 >= 450, `waited ${Date.now() - t0} ms`);
});

test('the lock of a live holder is never taken over, however old its heartbeat', { skip: !LINUX && 'needs /proc', timeout: 10_000 }, async () => {
  const s = await setup({ lockStaleMs: 100, lockGraceMs: 100 });
  // A genuine holder (this very process, as another in-process computation would be) whose event loop
  // was blocked: its mtime is old, but pid and start time prove it is still there.
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  await writeLock(s.lock, JSON.stringify({ pid: process.pid, host: hostname(), boot, start: startOf(process.pid), token: 'live' }), 60_000);
  const running = s.run();
  await sleep(600);
  assert.equal(s.calls(), 0, 'still waiting for the live holder');
  await rm(s.lock);
  s.check(await running);
  assert.equal(s.calls(), 1);
  assert.deepEqual(s.warnings, []);
});

test('a lock from another machine (another node, or a container with its own pids) is judged by its heartbeat seen changing, not by its pid or its clock', { skip: !LINUX && 'needs /proc', timeout: 20_000 }, async () => {
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const owners = {
    // A node of the cluster whose clock runs three hours behind ours: every mtime it writes looks old here.
    'another node': { pid: 4194305, host: 'node-b', token: 'foreign' },
    // Same host name and boot, another pid namespace: pid 4194305 does not exist here, but may well there.
    'a container': { pid: 4194305, host: hostname(), boot, pidns: 'pid:[4026530001]', token: 'container' },
  };
  for (const [where, owner] of Object.entries(owners)) {
    const s = await setup({ lockStaleMs: 400 });
    const behind = Date.now() - 3 * 3600_000;
    await writeLock(s.lock, JSON.stringify(owner), Date.now() - behind);
    // Its holder beats every 100 ms, by its own (late) clock.
    let beat = 0;
    const heartbeat = setInterval(() => {
      const t = new Date(behind + ++beat * 100);
      void utimes(s.lock, t, t).catch(() => undefined);
    }, 100);
    const running = s.run();
    try {
      await sleep(1500);
      assert.equal(s.calls(), 0, `the lock of a live holder on ${where} was taken over: ${s.warnings.join('; ')}`);
    } finally {
      // The holder dies: its heartbeat stops, and the waiter takes over after lockStaleMs of watching.
      clearInterval(heartbeat);
    }
    const stopped = Date.now();
    s.check(await running);
    assert.equal(s.calls(), 1);
    assert.ok(Date.now() - stopped >= 350, `${where}: taken over ${Date.now() - stopped} ms after its last beat`);
    assert.match(s.warnings.join('\n'), new RegExp(`its lock was held by pid 4194305${owner.host === 'node-b' ? ' on node-b' : ''}, which has not renewed it for \\d+ s \\(watched from here\\)`));
  }
});

test('a lock from a process that has exited is reported and taken over', { timeout: 10_000 }, async () => {
  const s = await setup();
  await writeLock(s.lock, JSON.stringify({ pid: 4194305, host: hostname(), token: 'gone' }));
  s.check(await s.run());
  assert.match(s.warnings.join('\n'), /its lock was held by pid 4194305, which has exited; taking its lock over/);
});

test('a holder whose lock was taken over says so, and does not remove the new holder\'s lock', { skip: !LINUX && 'needs /proc', timeout: 10_000 }, async () => {
  const s = await setup({ lockStaleMs: 80 });
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const usurper = JSON.stringify({ pid: process.pid, host: hostname(), boot, start: startOf(process.pid), token: 'usurper' });
  const locks = join(s.cache.root, 'v1', 'locks');
  await runWithContext(ctx(s.cache), () =>
    stage({ name: 'slow', version: 1 }, valueCodec<number>(), async () => {
      // Another process judged our lock stale (say, from another host whose clock jumped) and took it.
      const [lock] = (await readdir(locks)).filter((n) => n.endsWith('.lock'));
      await writeFile(join(locks, 'usurper.tmp'), usurper);
      await rename(join(locks, 'usurper.tmp'), join(locks, lock));
      await sleep(200); // a few heartbeats
      return 1;
    }),
  );
  assert.match(s.warnings.join('\n'), /another process took this entry's lock over while it was computed here/);
  const left = (await readdir(locks)).filter((n) => n.endsWith('.lock'));
  assert.equal(left.length, 1, 'the new holder keeps its lock');
  assert.equal(await readFile(join(locks, left[0]), 'utf8'), usurper);
});

// ---- kill -9 in the middle of a write ---------------------------------------------------------------

interface Worker {
  out: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
  kill: () => void;
}

const live = new Set<() => void>();
// A test that fails or times out must not leave its workers running.
after(() => live.forEach((kill) => kill()));

function worker(args: string[]): Worker {
  const p = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => void p.kill('SIGKILL');
  live.add(kill);
  p.on('exit', () => live.delete(kill));
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    p.on('exit', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { out: () => out, done, kill };
}

const KILLS = 20;
const POINTS = ['payload-written', 'meta-written', 'renamed', 'external'] as const;

test(`kill -9 during cache writes (${KILLS} kills): no torn entry is read as good, the next run recomputes the same values`, { timeout: 120_000 }, async () => {
  const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
  const rand = mulberry32(seed);
  const why = `FAULT_SEED=${seed}`;
  let torn = 0;
  let recomputed = 0;
  let intactAfterKill = 0;
  const killOnce = async (k: number) => {
    const point = POINTS[k % POINTS.length];
    const skip = Math.floor(rand() * 3);
    const delay = Math.floor(rand() * 80);
    const dir = await tempDir();
    const w = worker([dir, 'kill', point, String(skip)]);
    // A worker that never reaches its kill point would otherwise run until the test times out.
    const guard = setTimeout(w.kill, 20_000);
    if (point === 'external') {
      while (!w.out().includes('ready')) await sleep(5);
      await sleep(delay);
      w.kill();
    }
    const r = await w.done;
    clearTimeout(guard);
    assert.equal(r.signal, 'SIGKILL', `${why}: the worker was killed (${point}); stderr: ${r.err}`);
    const stored = [...r.out.matchAll(/stored (\d+)/g)].map((m) => Number(m[1]));
    const interrupted = stored.length;
    if (point !== 'external') assert.equal(interrupted, skip, `${why}: the worker killed itself at its ${skip + 1}th ${point}`);

    // The next run, in this process: every entry the worker got to is read back or recomputed, and both
    // give the worker's values exactly.
    const cache = new Cache(dir);
    const warnings: string[] = [];
    cache.onWarning = (m) => warnings.push(m);
    cache.onLockWait = () => undefined;
    for (let i = 0; i <= interrupted; i++) {
      const key = await stageKey({ name: 'torn', version: 1, params: { i } });
      const present = existsSync(join(cache.entryDir(key), 'meta.json'));
      let computed = false;
      const v = await runWithContext(ctx(cache), () =>
        stage({ name: 'torn', version: 1, params: { i } }, valueCodec<ReturnType<typeof tornValue>>(), async () => ((computed = true), tornValue(i))),
      );
      const want = tornValue(i);
      const same = v.i === i && v.label === want.label && v.data.length === want.data.length && v.data.every((x, j) => x === want.data[j]);
      if (!computed && !same) torn++;
      assert.ok(same, `${why}: entry ${i} reads back as the worker's value (kill at ${point})`);
      if (i < interrupted) assert.equal(computed, false, `${why}: entry ${i}, stored before the kill, is a hit`);
      if (i === interrupted) {
        if (computed) recomputed++;
        // Only a kill after the rename may leave the interrupted entry in place, and then it is whole.
        if (!computed) {
          intactAfterKill++;
          assert.ok(present && (point === 'renamed' || point === 'external'), `${why}: an entry killed at ${point} was not complete`);
        }
      }
    }
    assert.deepEqual(warnings.filter((m) => !/which has exited; taking its lock over/.test(m)), [], `${why}: only the dead worker's lock is reported`);
    // What the killed worker left (its staging directory, its lock) is swept by gc, and nothing else is.
    await cache.gc(Number.MAX_SAFE_INTEGER);
    assert.deepEqual(await readdir(join(dir, 'v1', 'tmp')).catch(() => []), [], `${why}: no staging directory is left`);
    assert.deepEqual(await readdir(join(dir, 'v1', 'locks')), [], `${why}: no lock is left`);
    assert.equal((await cache.list()).length, interrupted + 1, `${why}: every entry is kept`);
    await rm(dir, { recursive: true, force: true });
  };
  // Two at a time: the machine this runs on has two cores.
  for (let k = 0; k < KILLS; k += 2) await Promise.all([killOnce(k), killOnce(k + 1)]);
  assert.equal(torn, 0);
  process.stderr.write(`# kill -9 during cache writes: ${KILLS} kills (seed ${seed}), ${torn} torn entries read, ${recomputed} interrupted entries recomputed, ${intactAfterKill} complete before the kill\n`);
});

// ---- several processes and gc on one cache ----------------------------------------------------------

test('4 processes computing the same stages while gc --max-size runs: each entry computed once, none lost or torn', { timeout: 120_000 }, async () => {
  const dir = await tempDir();
  const cache = new Cache(dir);
  const warnings: string[] = [];
  cache.onWarning = (m) => warnings.push(m);
  const N = 8;
  // Old entries that gc must evict to fit --max-size, last used long ago.
  for (let j = 0; j < 6; j++) {
    await runWithContext(ctx(cache), () => stage({ name: 'old', version: 1, params: { j } }, valueCodec<Float32Array>(), async () => new Float32Array(16 * 1024)));
  }
  for (const e of await cache.list()) {
    const t = new Date('2001-01-01');
    await writeFile(join(cache.entryDir(e.key), '.used'), '');
    await utimes(join(cache.entryDir(e.key), '.used'), t, t);
  }
  const oldBytes = (await cache.list())[0].bytes;
  // Room for the N new entries, not for the old ones too.
  const maxSize = Math.round(N * oldBytes * 1.05);
  const counter = join(dir, 'computed.txt');
  await writeFile(counter, '');
  const workers = Array.from({ length: 4 }, () => worker([join(dir), 'many', counter, String(N)]));
  let running = true;
  let passes = 0;
  let evicted = 0;
  const gcLoop = (async () => {
    while (running) {
      evicted += (await cache.gc(maxSize)).removed;
      passes++;
      await sleep(1);
    }
  })();
  const results = await Promise.all(workers.map((w) => w.done));
  running = false;
  await gcLoop;
  for (const r of results) {
    assert.equal(r.code, 0, `a worker failed: ${r.err}`);
    assert.doesNotMatch(r.err, /warning/, 'no worker saw a damaged entry');
    const sums = JSON.parse(r.out.trim()) as Record<string, number>;
    for (let i = 0; i < N; i++) assert.equal(sums[i], sumOf(sharedValue(i).data), `stage ${i} read back torn`);
  }
  const computed = (await readFile(counter, 'utf8')).trim().split('\n').map(Number).sort((a, b) => a - b);
  assert.deepEqual(computed, Array.from({ length: N }, (_, i) => i), 'every entry computed exactly once');
  const left = await cache.list();
  assert.deepEqual(left.map((e) => e.stage).sort(), Array(N).fill('shared'), 'gc evicted the old entries and none of the new');
  for (const e of left) assert.ok(await cache.lookup(e.key, { repair: true }), `entry ${e.key} intact`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(await readdir(join(dir, 'v1', 'locks')), []);
  assert.ok(passes > 3 && evicted === 6, `gc ran ${passes} times and evicted ${evicted}`);
  process.stderr.write(`# 4 processes × ${N} stages with ${passes} gc passes: ${computed.length} computations for ${N} entries, 0 lost, 0 torn\n`);
});
