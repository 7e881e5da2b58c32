// `promptscope run --executor slurm` against a real one-node Slurm cluster (slurm-wlm + munge, started by
// the test in a temporary directory): the same results and keys as in-process with every heavy stage a
// job on the node; a second run submits nothing; a stage's own error fails its cell with the job's log;
// a job whose process is killed (kill -9) or scancelled from outside is resubmitted and resumes from its
// checkpoint; Ctrl-C on the driver and redefining a cell scancel their jobs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFile, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../engine/helpers.ts';
import { startCluster, type Cluster } from '../support/slurm-cluster.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { parseNotebook } from '../../cells/engine/notebook.ts';
import { NotebookSession } from '../../cells/engine/session.ts';
import { SlurmExecutor } from '../../cells/exec/slurm/executor.ts';
import { buildLibrary } from '../../cells/library.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer } from '../../desktop/server/server.ts';
import type { NotebookView, ServerEvent } from '../../desktop/protocol.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('./fixtures-slurm.html', import.meta.url));

let cluster: Cluster;
before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

interface Manifest {
  executor: string;
  stages: { stage: string; key: string; hit: boolean; ranOn?: { node: string; jobId: string; attempts: number } }[];
}

async function setup() {
  const dir = await tempDir('ps-slurm-');
  // Fast polling keeps the test short; the default (2 s) is for real clusters.
  const env: NodeJS.ProcessEnv = { ...cluster.env, PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json'), PROMPTSCOPE_SLURM_POLL_MS: '300' };
  return { dir, env };
}

function cli(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 240_000 });
  return { code: r.status, stderr: r.stderr };
}

const read = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;
const jobIds = (env: NodeJS.ProcessEnv) =>
  execFileSync('squeue', ['-h', '--states=all', '-o', '%i'], { env, encoding: 'utf8' }).split('\n').filter(Boolean);
const liveJobs = (env: NodeJS.ProcessEnv) =>
  execFileSync('squeue', ['-h', '-t', 'PENDING,RUNNING,COMPLETING', '-o', '%i'], { env, encoding: 'utf8' }).split('\n').filter(Boolean);

/** Every entry in the cache is whole: meta.json and every file with its recorded size and checksum. */
async function assertNothingTorn(root: string) {
  const cache = new Cache(root);
  const entries = await cache.list();
  assert.ok(entries.length > 0);
  for (const e of entries) assert.ok(await cache.lookup(e.key), `entry ${e.key} (${e.stage}) is torn`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The progress files of the jobs now running under a cache: job directory → {pid, fraction}. */
async function runningJobs(cacheRoot: string): Promise<{ dir: string; pid: number; fraction: number; jobId?: string }[]> {
  const root = join(cacheRoot, 'v1', 'jobs');
  const out = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const p = await read<{ pid: number; fraction: number; jobId?: string }>(join(root, name, 'progress.json')).catch(() => null);
    if (p) out.push({ dir: join(root, name), ...p });
  }
  return out;
}

test('on Slurm: same results and keys as in-process, each heavy stage a job on the node; a second run submits nothing', async () => {
  const { dir, env } = await setup();
  const local = cli(['run', NOTEBOOK, '--trust', '--cache', join(dir, 'local'), '--out', join(dir, 'o-local')], env);
  assert.equal(local.code, 0, local.stderr);
  const before = jobIds(env).length;
  const first = cli(['run', NOTEBOOK, '--cache', join(dir, 'shared'), '--out', join(dir, 'o1'), '--executor', 'slurm', '--max-jobs', '2'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(await read(join(dir, 'o1', 'metrics.json')), await read(join(dir, 'o-local', 'metrics.json')));
  assert.equal((await read<{ total: number }>(join(dir, 'o1', 'metrics.json'))).total, 4 + 9 + 16);
  const m1 = await read<Manifest>(join(dir, 'o1', 'manifest.json'));
  const m0 = await read<Manifest>(join(dir, 'o-local', 'manifest.json'));
  assert.equal(m1.executor, 'slurm');
  assert.deepEqual(m1.stages.map((s) => s.key).sort(), m0.stages.map((s) => s.key).sort(), 'the cache keys differ from in-process');
  assert.equal(m1.stages.length, 4);
  for (const s of m1.stages) {
    assert.equal(s.hit, false);
    assert.equal(s.ranOn?.node, cluster.node, `${s.stage} has no node in the manifest`);
    assert.equal(s.ranOn?.attempts, 1);
  }
  assert.equal(jobIds(env).length - before, 4, 'one job per heavy stage');
  assert.match(first.stderr, /submitted Slurm job \d+/);

  const second = cli(['run', NOTEBOOK, '--cache', join(dir, 'shared'), '--out', join(dir, 'o2'), '--executor', 'slurm'], env);
  assert.equal(second.code, 0, second.stderr);
  const m2 = await read<Manifest>(join(dir, 'o2', 'manifest.json'));
  assert.ok(m2.stages.every((s) => s.hit && !s.ranOn));
  assert.equal(jobIds(env).length - before, 4, 'the cached run submitted jobs');
  await assertNothingTorn(join(dir, 'shared'));
});

test('two drivers on one notebook and one cache at once: each heavy stage is one job, computed once', async () => {
  const { dir, env } = await setup();
  const cacheRoot = join(dir, 'shared');
  const before = jobIds(env).length;
  // Long enough (1.5 s per square) that the two drivers overlap on every stage, not only on the first.
  const args = (out: string) => [BIN, 'run', NOTEBOOK, '--trust', '--cache', cacheRoot, '--out', join(dir, out), '--executor', 'slurm', '--max-jobs', '2', '--set', 'workMs=1500'];
  const drivers = ['a', 'b'].map((out) => {
    const child = spawn(process.execPath, args(out), { env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    return new Promise<{ code: number | null; stderr: string }>((r) => child.on('exit', (code) => r({ code, stderr })));
  });
  const [a, b] = await Promise.all(drivers);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const ma = await read<Manifest>(join(dir, 'a', 'manifest.json'));
  const mb = await read<Manifest>(join(dir, 'b', 'manifest.json'));
  assert.deepEqual(await read(join(dir, 'a', 'metrics.json')), await read(join(dir, 'b', 'metrics.json')));
  // Per key: computed by exactly one job of one driver; the other driver read it from the cache.
  const keys = [...new Set([...ma.stages, ...mb.stages].map((s) => s.key))];
  assert.equal(keys.length, 4);
  for (const key of keys) {
    const records = [...ma.stages, ...mb.stages].filter((s) => s.key === key);
    const computed = records.filter((s) => !s.hit);
    assert.equal(computed.length, 1, `${records[0].stage} ${key.slice(0, 12)} computed ${computed.length} times: ${JSON.stringify(records)}`);
    assert.equal(computed[0].ranOn?.node, cluster.node);
  }
  // No job was submitted only to wait on the other driver's job: a waiting job holds a node (a GPU) for nothing.
  assert.equal(jobIds(env).length - before, 4, 'jobs submitted by both drivers together');
  await assertNothingTorn(cacheRoot);
});

test('a stage that fails in its job fails the cell with the job\'s log tail; it is not resubmitted', async () => {
  const { dir, env } = await setup();
  const before = jobIds(env).length;
  const r = cli(['run', NOTEBOOK, '--trust', '--cache', join(dir, 'c'), '--executor', 'slurm', '--set', 'failing=true'], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /user:broken failed in Slurm job \d+ on \S+: deliberate failure in broken/);
  assert.match(r.stderr, /last lines of .*slurm\.out:[\s\S]*broken: about to fail/);
  // base, the three squares and broken: one job each, none twice.
  assert.equal(jobIds(env).length - before, 5);
});

test('a job killed with kill -9 on its node and one scancelled from outside are resubmitted, resume, and nothing is torn', async () => {
  const { dir, env } = await setup();
  const cacheRoot = join(dir, 'c');
  const driver = spawn(process.execPath, [BIN, 'run', NOTEBOOK, '--trust', '--cache', cacheRoot, '--out', join(dir, 'o'), '--executor', 'slurm', '--max-jobs', '2', '--set', 'workMs=8000'], { env });
  let stderr = '';
  driver.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => driver.on('exit', (code) => r(code)));
  // Two squares running, each a quarter done: kill one's process, scancel the other's job.
  const [victim, cancelled] = await waitFor('two running jobs a quarter done', async () => {
    const jobs = (await runningJobs(cacheRoot)).filter((j) => j.fraction >= 0.25 && j.fraction < 0.9);
    return jobs.length >= 2 ? jobs : undefined;
  });
  process.kill(victim.pid, 'SIGKILL');
  assert.ok(cancelled.jobId, 'the job wrote no SLURM_JOB_ID');
  execFileSync('scancel', [cancelled.jobId], { env });
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /without a result; resubmitting/);
  const m = await read<Manifest>(join(dir, 'o', 'manifest.json'));
  const resubmitted = m.stages.filter((s) => s.ranOn && s.ranOn.attempts === 2);
  assert.equal(resubmitted.length, 2, JSON.stringify(m.stages));
  const metrics = await read<{ total: number; resumed: number }>(join(dir, 'o', 'metrics.json'));
  assert.equal(metrics.total, 29);
  assert.equal(metrics.resumed, 2, 'the resubmitted jobs did not resume from their checkpoints');
  await assertNothingTorn(cacheRoot);
  // The finished stages' checkpoints and job directories are gone.
  assert.deepEqual(await readdir(join(cacheRoot, 'v1', 'work')).catch(() => []), []);
  assert.deepEqual((await readdir(join(cacheRoot, 'v1', 'jobs'))).filter((n) => n !== 'notebooks'), []);
});

test('Ctrl-C on the driver scancels its jobs', async () => {
  const { dir, env } = await setup();
  const cacheRoot = join(dir, 'c');
  const driver = spawn(process.execPath, [BIN, 'run', NOTEBOOK, '--trust', '--cache', cacheRoot, '--executor', 'slurm', '--set', 'workMs=120000'], { env });
  const exited = new Promise<number | null>((r) => driver.on('exit', (code) => r(code)));
  await waitFor('a running square', async () => ((await runningJobs(cacheRoot)).some((j) => j.fraction > 0) ? true : undefined));
  assert.ok(liveJobs(env).length > 0);
  driver.kill('SIGINT');
  assert.equal(await exited, 130);
  await waitFor('the jobs to leave the queue', async () => (liveJobs(env).length === 0 ? true : undefined), 30_000);
});

test('redefining a cell scancels its running job and submits one for the new definition', async () => {
  const { dir, env } = await setup();
  const cache = new Cache(join(dir, 'c'));
  const text = await readFile(NOTEBOOK, 'utf8');
  const settings: Record<string, unknown> = { workMs: 120000 };
  const previousConf = process.env.SLURM_CONF;
  process.env.SLURM_CONF = env.SLURM_CONF;
  const executor = new SlurmExecutor({
    notebook: () => ({ text, name: 'fixtures-slurm.html', settings: { ...settings } }),
    launcher: { node: process.execPath, entry: BIN, cwd: process.cwd() },
    maxJobs: 4, pollMs: 300,
  });
  const session = new NotebookSession(parseNotebook(text, 'fixtures-slurm.html'), { cache, builtins: await buildLibrary(), settings, executor });
  try {
    session.start();
    // The node has two cores: two squares run, the third waits in the queue.
    await waitFor('two running squares', async () => ((await runningJobs(cache.root)).filter((j) => j.fraction > 0).length === 2 ? true : undefined));
    const firstJobs = [...executor.commands.submitted];
    settings.workMs = 200;
    session.setInput('workMs', 200);
    await session.idle();
    assert.equal((await session.value('total')), 29);
    const states = execFileSync('squeue', ['-h', '--states=all', '-o', '%i %T', '-j', firstJobs.slice(1).join(',')], { env, encoding: 'utf8' });
    for (const id of firstJobs.slice(1)) assert.match(states, new RegExp(`^${id} CANCELLED$`, 'm'), `job ${id} was not scancelled:\n${states}`);
    assert.equal(executor.commands.submitted.length, firstJobs.length + 3);
  } finally {
    session.dispose();
    process.env.SLURM_CONF = previousConf;
  }
});

test('the UI\'s run settings reach the kernel: heavy stages become Slurm jobs whose progress shows in the cell status; back to local, none', async () => {
  const { dir, env } = await setup();
  const path = join(dir, 'fixtures-slurm.html');
  await copyFile(NOTEBOOK, path);
  const trust = new TrustStore(join(dir, 'trusted.json'));
  await trust.trust(await readFile(path, 'utf8'), path);
  // The kernel process inherits this environment: the cluster's config and fast polling.
  const previous = { conf: process.env.SLURM_CONF, poll: process.env.PROMPTSCOPE_SLURM_POLL_MS };
  process.env.SLURM_CONF = env.SLURM_CONF;
  process.env.PROMPTSCOPE_SLURM_POLL_MS = env.PROMPTSCOPE_SLURM_POLL_MS;
  const server = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache')), trustStore: trust });
  const post = async (route: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${route}`, { method: 'POST', headers: { 'X-Promptscope-Token': server.token, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string; run?: unknown } };
  };
  const notebook = async () => (await (await fetch(`http://127.0.0.1:${server.port}/api/notebook`, { headers: { 'X-Promptscope-Token': server.token } })).json()) as NotebookView;
  const progress: string[] = [];
  server.notebook.on((e: ServerEvent) => {
    if (e.type === 'cell' && e.cell.progress?.message) progress.push(e.cell.progress.message);
  });
  try {
    await server.notebook.idle(); // workMs 0, in the kernel: base and the squares are computed locally
    assert.deepEqual((await notebook()).run, { executor: 'local' });
    // Settings that sbatch would choke on are refused with the field named, before anything changes.
    const bad = await post('/api/run-settings', { executor: 'slurm', partition: 'gpu; rm -rf ~' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error ?? '', /"partition" must be a Slurm partition name/);
    assert.equal((await post('/api/run-settings', { executor: 'pbs' })).status, 400);
    assert.deepEqual((await notebook()).run, { executor: 'local' });

    const ok = await post('/api/run-settings', { executor: 'slurm', maxJobs: 2 });
    assert.equal(ok.status, 200, ok.body.error);
    assert.deepEqual((await notebook()).run, { executor: 'slurm', maxJobs: 2 });
    await server.notebook.idle(); // the session re-ran on the new executor: all from the cache
    const before = jobIds(env).length;
    assert.equal((await post('/api/input', { name: 'workMs', value: 1500 })).status, 200);
    await server.notebook.idle();
    assert.equal(await server.notebook.value('total'), 29);
    assert.equal(jobIds(env).length - before, 3, 'one job per new square (base was cached)');
    const fromJobs = progress.filter((m) => new RegExp(`\\[job \\d+ on ${cluster.node}\\]`).test(m));
    assert.ok(fromJobs.some((m) => /square: step \d+\/20/.test(m)), `no job progress reached the cell status: ${JSON.stringify(progress.slice(-10))}`);

    assert.equal((await post('/api/run-settings', { executor: 'local' })).status, 200);
    await server.notebook.idle();
    assert.equal((await post('/api/input', { name: 'workMs', value: 300 })).status, 200);
    await server.notebook.idle();
    assert.equal(await server.notebook.value('total'), 29);
    assert.equal(jobIds(env).length - before, 3, 'local runs submitted jobs');
  } finally {
    await server.close();
    process.env.SLURM_CONF = previous.conf;
    process.env.PROMPTSCOPE_SLURM_POLL_MS = previous.poll;
    if (previous.conf === undefined) delete process.env.SLURM_CONF;
    if (previous.poll === undefined) delete process.env.PROMPTSCOPE_SLURM_POLL_MS;
  }
});
