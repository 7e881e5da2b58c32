// #16: several `promptscope run` processes on the same notebook and one cache, while `cache gc` runs in a
// loop beside them: every stage is computed by exactly one process, and nothing is lost or torn (a run
// afterwards is all cache hits with the same numbers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const HELLO = fileURLToPath(new URL('../../notebooks/hello.html', import.meta.url));

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

interface Manifest { stages: { stage: string; key: string; hit: boolean }[] }
const manifest = async (out: string) => JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;

test('3 processes run one notebook on one cache while cache gc loops: each stage computed once, none lost or torn', async () => {
  const dir = await tempDir('ps-concurrent-');
  // A copy outside notebooks/ needs trust; --trust records it (each run passes it, so order does not matter).
  const nb = join(dir, 'hello.html');
  await copyFile(HELLO, nb);
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  let running = true;
  let gcRuns = 0;
  const gcLoop = (async () => {
    while (running) {
      const r = await cli(['cache', 'gc', '--max-size', '10GB'], env);
      assert.equal(r.code, 0, r.stderr);
      gcRuns++;
    }
  })();
  const runs = await Promise.all([1, 2, 3].map((i) => cli(['run', nb, '--trust', '--set', 'points=400', '--out', join(dir, `o${i}`)], env)));
  running = false;
  await gcLoop;
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.ok(gcRuns >= 1, 'gc ran while the notebooks did');

  const all = (await Promise.all([1, 2, 3].map((i) => manifest(join(dir, `o${i}`))))).flatMap((m) => m.stages);
  const keys = new Set(all.map((s) => s.key));
  assert.ok(keys.size >= 1);
  for (const key of keys) {
    const misses = all.filter((s) => s.key === key && !s.hit).length;
    assert.equal(misses, 1, `stage ${key.slice(0, 12)} was computed ${misses} times across the three runs`);
  }
  const firstMetrics = await readFile(join(dir, 'o1', 'metrics.json'), 'utf8');
  for (const i of [2, 3]) assert.equal(await readFile(join(dir, `o${i}`, 'metrics.json'), 'utf8'), firstMetrics);

  const after = await cli(['run', nb, '--set', 'points=400', '--out', join(dir, 'o4')], env);
  assert.equal(after.code, 0, after.stderr);
  assert.ok((await manifest(join(dir, 'o4'))).stages.every((s) => s.hit), 'every entry survived gc intact');
  assert.equal(await readFile(join(dir, 'o4', 'metrics.json'), 'utf8'), firstMetrics);
  assert.doesNotMatch(after.stderr, /checksum|could not be decoded|unreadable|missing/, 'no entry was torn');
});
