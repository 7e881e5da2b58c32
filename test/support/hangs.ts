// A test that never settles: test/runner.test.ts checks that the runner's per-test timeout fails it by name.
import { test } from 'node:test';

test('a deadlocked wait', async () => {
  await new Promise(() => setInterval(() => undefined, 1000));
});
