import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromArrays } from 'apache-arrow';
import { Cache } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { stage } from '../../cells/exec/stage.ts';
import { keyOf } from '../../cells/exec/keys.ts';
import { type StageRecord } from '../../cells/exec/types.ts';
import { valueCodec, arrowCodec } from '../../cells/exec/codecs.ts';
import { tempDir } from './helpers.ts';

function ctx(cache: Cache, records: StageRecord[] = []) {
  return { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: (r: StageRecord) => records.push(r) };
}

test('valueCodec round-trips tables, typed arrays and JSON', async () => {
  const cache = new Cache(await tempDir());
  const value = {
    table: tableFromArrays({ id: Int32Array.from([1, 2, 3]), name: ['a', 'b', 'c'] }),
    features: Float32Array.from([0.5, -1, 2]),
    labels: Int32Array.from([7, 8]),
    meta: { shots: 4, names: ['x'] },
  };
  let calls = 0;
  const run = () => runWithContext(ctx(cache), () => stage({ name: 'v', version: 1 }, valueCodec<typeof value>(), async () => (calls++, value)));
  await run();
  const back = await run();
  assert.equal(calls, 1);
  assert.deepEqual([...back.features], [0.5, -1, 2]);
  assert.ok(back.labels instanceof Int32Array);
  assert.deepEqual(back.meta, value.meta);
  assert.deepEqual(back.table.getChild('name')!.toArray(), ['a', 'b', 'c']);
  assert.equal(keyOf(back), keyOf(await run()), 'a result carries its stage key');
});

test('the key follows parameters and upstream keys, not object identity', async () => {
  const cache = new Cache(await tempDir());
  const records: StageRecord[] = [];
  const up = (p: number) => runWithContext(ctx(cache, records), () => stage({ name: 'up', version: 1, params: { p } }, arrowCodec, async () => tableFromArrays({ x: Float32Array.from([p]) })));
  const down = (input: unknown, q: number) => runWithContext(ctx(cache, records), () => stage({ name: 'down', version: 1, params: { q }, inputs: [input] }, valueCodec<number>(), async () => q * 2));
  await down(await up(1), 1);
  await down(await up(1), 2); // downstream parameter changed: upstream hit
  await down(await up(2), 2); // upstream changed: both recompute
  assert.deepEqual(records.map((r) => `${r.stage}:${r.hit ? 'hit' : 'miss'}`), ['up:miss', 'down:miss', 'up:hit', 'down:miss', 'up:miss', 'down:miss']);
});

test('a corrupt entry is detected by checksum, reported and recomputed', async () => {
  const cache = new Cache(await tempDir());
  const warnings: string[] = [];
  cache.onWarning = (m) => warnings.push(m);
  let calls = 0;
  const run = () => runWithContext(ctx(cache), () => stage({ name: 'c', version: 1 }, valueCodec<{ a: Float32Array }>(), async () => (calls++, { a: Float32Array.from([1, 2, 3, 4]) })));
  await run();
  const [entry] = await cache.list();
  const file = join(cache.entryDir(entry.key), 'arrays.safetensors');
  const bytes = await readFile(file);
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(file, bytes);
  const back = await run();
  assert.equal(calls, 2);
  assert.deepEqual([...back.a], [1, 2, 3, 4]);
  assert.match(warnings.join('\n'), /failed its checksum on arrays\.safetensors; recomputing/);
});

function child(cacheDir: string, mode: string, counter: string, release = '') {
  const p = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/stage-worker.ts', import.meta.url).pathname, cacheDir, mode, counter, release], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const done = new Promise<string>((resolve) => p.on('exit', () => resolve(out)));
  return { p, done, out: () => out };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('two processes on one cache compute an entry once and both read it intact', { timeout: 30_000 }, async (t) => {
  // The first process keeps the lock until the second has been seen waiting on it, so the test cannot
  // pass by the second one simply arriving after the first has finished.
  const dir = await tempDir();
  const counter = join(dir, 'computed.txt');
  const release = join(dir, 'release');
  await writeFile(counter, '');
  const a = child(join(dir, 'cache'), 'hold', counter, release);
  // If an assertion fails, the holder must not be left running (it would wait for RELEASE forever).
  t.after(() => void a.p.kill('SIGKILL'));
  await until('the first process to start computing', () => a.out().includes('computing'));
  const b = child(join(dir, 'cache'), 'normal', counter);
  t.after(() => void b.p.kill('SIGKILL'));
  await until('the second process to wait on the lock', () => b.out().includes('waiting'));
  assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 1, 'the second process waits instead of computing');
  await writeFile(release, '');
  const [ra, rb] = (await Promise.all([a.done, b.done])).map((s) => JSON.parse(s.trim().split('\n').pop()!));
  const expected = (99999 * 100000) / 2;
  assert.equal(ra.sum, expected);
  assert.equal(rb.sum, expected);
  assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 1, 'computed by one process only');
  assert.deepEqual([ra.hit, rb.hit], [false, true]);
});

test('a process killed while computing leaves no entry, and its lock is taken over', async () => {
  const dir = await tempDir();
  const counter = join(dir, 'computed.txt');
  await writeFile(counter, '');
  const victim = child(join(dir, 'cache'), 'hang', counter);
  while (!victim.out().includes('computing')) await new Promise((r) => setTimeout(r, 20));
  victim.p.kill('SIGKILL');
  await victim.done;
  const cache = new Cache(join(dir, 'cache'));
  assert.deepEqual(await cache.list(), []);
  const next = JSON.parse((await child(join(dir, 'cache'), 'normal', counter).done).trim());
  assert.equal(next.hit, false);
  assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 2);
  const locks = await readdir(join(dir, 'cache', 'v1', 'locks'));
  assert.deepEqual(locks, []);
});

test('a process killed after storing its entry but before clearing its work directory: the next hit clears it', async () => {
  const cache = new Cache(await tempDir());
  let scratch = '';
  const run = () => runWithContext(ctx(cache), () => stage({ name: 'w', version: 1 }, valueCodec<number>(), async (s) => {
    scratch = await s.workDir();
    await writeFile(join(scratch, 'ckpt.bin'), 'x');
    return 7;
  }));
  await run();
  const [entry] = await cache.list();
  // Recreate the state such a kill leaves: the entry is whole, the checkpoint directory still there.
  await mkdir(scratch, { recursive: true });
  await writeFile(join(scratch, 'ckpt.bin'), 'x');
  assert.equal(await run(), 7);
  assert.deepEqual((await cache.list()).map((e) => e.key), [entry.key]);
  await assert.rejects(readdir(scratch), { code: 'ENOENT' }, 'the leftover work directory was not removed');
});

test('gc removes least-recently-used entries down to a size; clear empties the cache', async () => {
  const cache = new Cache(await tempDir());
  for (const i of [1, 2, 3]) {
    await runWithContext(ctx(cache), () => stage({ name: 'g', version: 1, params: { i } }, valueCodec<Float32Array>(), async () => new Float32Array(10000)));
    await new Promise((r) => setTimeout(r, 20));
  }
  const all = await cache.list();
  assert.equal(all.length, 3);
  const one = all[0].bytes;
  const { removed } = await cache.gc(one * 1.5);
  assert.equal(removed, 2);
  assert.equal((await cache.list()).length, 1);
  await cache.clear();
  assert.equal((await cache.list()).length, 0);
});

test('gc leaves a concurrent writer\'s staging directory alone and sweeps a dead one\'s', async () => {
  const cache = new Cache(await tempDir());
  cache.onWarning = () => undefined;
  // A staging directory left by a process that no longer runs (pid 2^22 + 1 is above Linux's pid_max).
  const orphan = join(cache.root, 'v1', 'tmp', 'ab'.repeat(32) + '.4194305.dead');
  await mkdir(orphan, { recursive: true });
  await writeFile(join(orphan, 'value.json'), '1');
  let resume!: () => void;
  const paused = new Promise<void>((r) => (resume = r));
  let staged!: () => void;
  const writing = new Promise<void>((r) => (staged = r));
  const stored = cache.store({ key: 'cd'.repeat(32), stage: 's', version: 1, params: null, inputs: [], elapsedMs: 0 }, async (dir) => {
    await writeFile(join(dir, 'value.json'), '42');
    staged();
    await paused;
    await writeFile(join(dir, 'more.json'), '43');
  });
  await writing;
  const { swept } = await cache.gc(0);
  resume();
  await stored;
  assert.equal(swept, 1, 'the dead process\'s staging directory is swept');
  assert.deepEqual(await readdir(join(cache.root, 'v1', 'tmp')), []);
  assert.deepEqual((await cache.list()).map((e) => e.key), ['cd'.repeat(32)], 'the live writer\'s entry was stored');
  assert.ok(await cache.lookup('cd'.repeat(32)));
});
