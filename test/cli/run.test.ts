import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const PIPELINE = fileURLToPath(new URL('./fixtures-pipeline.html', import.meta.url));

async function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function setup() {
  const dir = await tempDir('ps-cli-');
  const nb = join(dir, 'pipeline.html');
  await copyFile(PIPELINE, nb);
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  return { dir, nb, env };
}

const stagesOf = async (out: string) =>
  (JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).stages as { stage: string; hit: boolean }[]).map((s) => `${s.stage}:${s.hit ? 'hit' : 'miss'}`);

test('a second run in a new process recomputes nothing; a downstream change keeps upstream hits', async () => {
  const { dir, nb, env } = await setup();
  const first = await cli(['run', nb, '--trust', '--out', join(dir, 'o1')], env);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(await stagesOf(join(dir, 'o1')), ['user:up:miss', 'user:down:miss']);
  assert.equal(JSON.parse(await readFile(join(dir, 'o1', 'metrics.json'), 'utf8')).total, 1);

  const second = await cli(['run', nb, '--out', join(dir, 'o2')], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(await stagesOf(join(dir, 'o2')), ['user:up:hit', 'user:down:hit']);
  const cells = JSON.parse(await readFile(join(dir, 'o2', 'manifest.json'), 'utf8')).cells;
  assert.equal(cells.find((c: { id: number }) => c.id === 3).status, 'cached');

  const third = await cli(['run', nb, '--set', 'b=y', '--out', join(dir, 'o3')], env);
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(await stagesOf(join(dir, 'o3')), ['user:up:hit', 'user:down:miss']);

  const fourth = await cli(['run', nb, '--set', 'a=4', '--out', join(dir, 'o4')], env);
  assert.deepEqual(await stagesOf(join(dir, 'o4')), ['user:up:miss', 'user:down:miss']);
  assert.equal(JSON.parse(await readFile(join(dir, 'o4', 'metrics.json'), 'utf8')).total, 14);
});

test('errors: untrusted notebook, unknown --set, failing cell, malformed notebook', async () => {
  const { dir, nb, env } = await setup();
  const untrusted = await cli(['run', nb], env);
  assert.equal(untrusted.code, 2);
  assert.match(untrusted.stderr, /is not trusted.*--trust/s);

  const unknown = await cli(['run', nb, '--trust', '--set', 'zz=1'], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--set names no input of this notebook: zz \(inputs: a, b\)/);

  const bad = await cli(['run', nb, '--set', 'a=40'], env);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /input "a": 40 is above the maximum 10/);

  const failing = join(dir, 'failing.html');
  await writeFile(failing, (await readFile(nb, 'utf8')).replace('const total = downstream.total;', 'const total = downstream.nope.deeper;'));
  const f = await cli(['run', failing, '--trust'], env);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /error: cell 5, line 17: Cannot read properties of undefined/);

  const malformed = join(dir, 'malformed.html');
  await writeFile(malformed, '<notebook>\n<script id="1" type="text/x-perl">1</script>\n</notebook>');
  const m = await cli(['run', malformed, '--trust'], env);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /cell 1 has unknown type "text\/x-perl"/);
});

test('a run whose outputs cannot be written exits 1 naming the output and the reason', async () => {
  const { dir, nb, env } = await setup();
  const out = join(dir, 'o');
  // A directory where the file of output "upstream" goes: the write fails (as a full disk or a read-only
  // mount would), and the run must not report success.
  await mkdir(join(out, 'upstream.json', 'occupied'), { recursive: true });
  const r = await cli(['run', nb, '--trust', '--out', out], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /error: output "upstream" could not be written \(upstream\.json\): \S/);
  assert.doesNotMatch(r.stderr, /outputs written to/);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.outputErrors.map((e: { name: string }) => e.name), ['upstream'], 'the manifest records the failure');
  assert.deepEqual(manifest.outputs.downstream, ['downstream.json'], 'the other outputs are still written');
  assert.equal(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).total, 1);
});

test('help is available for every command', async () => {
  const env = {};
  const top = await cli(['--help'], env);
  assert.equal(top.code, 0);
  for (const cmd of ['run', 'serve', 'trust', 'cache', 'model']) assert.match(top.stdout, new RegExp(`\\n  ${cmd}\\b`));
  for (const cmd of ['run', 'cache', 'model', 'serve']) {
    const h = await cli([cmd, '--help'], env);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`Usage: promptscope ${cmd}`));
  }
  const unknown = await cli(['frobnicate'], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('cache ls, du and clear', async () => {
  const { dir, nb, env } = await setup();
  await cli(['run', nb, '--trust'], env);
  const ls = await cli(['cache', 'ls'], env);
  assert.match(ls.stdout, /user:up/);
  assert.match(ls.stdout, /2 entries/);
  assert.match((await cli(['cache', 'du'], env)).stdout, /2 entries/);
  assert.match((await cli(['cache', 'clear'], env)).stdout, /cleared/);
  assert.match((await cli(['cache', 'ls'], env)).stdout, /0 entries/);
  void dir;
});

test('--workers: a whole number for the local executor (recorded in the manifest), a usage error otherwise', async () => {
  const { dir, nb, env } = await setup();
  const out = join(dir, 'out');
  const ok = await cli(['run', nb, '--trust', '--workers', '0', '--out', out], env);
  assert.equal(ok.code, 0, ok.stderr);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { executor: string; workers: number };
  assert.deepEqual([manifest.executor, manifest.workers], ['in-process', 0]);
  for (const [args, why] of [
    [['--workers=-1'], /--workers must be a whole number of 0 or more, not "-1"/],
    [['--workers', 'two'], /--workers must be a whole number of 0 or more, not "two"/],
    [['--workers', '2', '--executor', 'slurm'], /--workers applies to --executor local only/],
  ] as const) {
    const r = await cli(['run', nb, '--trust', ...args], env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});
