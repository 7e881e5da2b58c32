// A test that never settles: test/runner.test.ts checks that the runner's timeout fails it, naming the file and this test.
import { test } from 'node:test';

test('a deadlocked wait', async () => {
  await new Promise(() => setInterval(() => undefined, 1000));
});
