// `npm test`: type-check, then run every test/**/*.test.ts with Node's own test runner.
// Node 20's --test takes no globs, so the files are collected here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return collect(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const only = process.argv.slice(2);
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
if (only.length === 0 && run('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']) !== 0) {
  console.error('type check failed');
  process.exit(1);
}
const files = only.length ? only : collect(new URL('.', import.meta.url).pathname);
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
process.exit(run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files]));
