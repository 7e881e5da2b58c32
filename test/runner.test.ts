// `npm test` must fail a deadlocked test with its name, not hang until CI's limit (test/run.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('the test runner fails a test that never settles, naming its file and the test, within its timeout', () => {
  const runner = fileURLToPath(new URL('./run.mjs', import.meta.url));
  const hang = fileURLToPath(new URL('./support/hangs.ts', import.meta.url));
  // NODE_TEST_CONTEXT would make the inner runner report to this one instead of running on its own.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const started = Date.now();
  const r = spawnSync(process.execPath, [runner, hang], { encoding: 'utf8', env: { ...env, TEST_TIMEOUT_MS: '8000' }, timeout: 60_000 });
  assert.notEqual(r.status, 0, 'a timed-out test must fail the run');
  // Node 20 times out the file as a whole and names it (the test inside never got to report)…
  assert.match(r.stdout, /not ok \d+ - .*support\/hangs\.ts/);
  assert.match(r.stdout, /timed out after 8000ms/);
  // …and the runner's timeout reporter names the test that was running.
  assert.match(r.stderr, /timed out: .*support\/hangs\.ts: test timed out after 8000ms, while running "a deadlocked wait"/);
  assert.ok(Date.now() - started < 30_000, 'the runner must stop at the timeout, not wait for the test');
});
