// `npm test`: type-check, check the layering rules, then run every test/**/*.test.ts with Node's own test
// runner. Node 20's --test takes no globs, so the files are collected here.
//   node test/run.mjs                    everything
//   node test/run.mjs FILE.test.ts ...   only those files (no type or layering check)
import { spawn, spawnSync } from 'node:child_process';
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
const step = (what, cmd, args) => {
  if (spawnSync(cmd, args, { stdio: 'inherit' }).status !== 0) {
    console.error(`${what} failed`);
    process.exit(1);
  }
};
if (only.length === 0) {
  step('type check', 'npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']);
  step('layering check (.dependency-cruiser.cjs)', 'npx', ['depcruise', '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'bin', 'cli', 'cells', 'desktop']);
}
const files = only.length ? only : collect(new URL('.', import.meta.url).pathname);
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A test that deadlocks (a lock never released, a promise never settled) fails after this long instead of
// hanging until CI's own limit. Measured on Node 20.20: --test-timeout is *not* applied per test; the
// runner applies it to each test file as a whole and kills the file's process, so TAP says only
// "not ok - FILE … test timed out after Nms" and the test inside never reports. A second reporter
// (test/support/report-timeouts.mjs, on stderr) names the test the file was running then. The limit is
// per file: the slowest file takes about two minutes on 2 cores.
const timeoutMs = process.env.TEST_TIMEOUT_MS ?? '480000';
const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${new URL('./support/report-timeouts.mjs', import.meta.url).href}`, '--test-reporter-destination=stderr'];
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...reporters, ...files], { stdio: ['inherit', 'pipe', 'pipe'] });
// The timeout reporter's lines go to stderr as they come, and are kept to repeat them after the summary.
let timedOut = '';
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  timedOut += chunk.toString('utf8').split('\n').filter((l) => l.startsWith('timed out: ')).map((l) => `${l}\n`).join('');
});

// The runner's own summary is passed through; its counts are read so that a skipped test fails the run
// (a skipped test is not a passing one) and the run ends on one plain "N passed, N failed" line.
const counts = {};
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const lines = (tail + chunk.toString('utf8')).split('\n');
  tail = lines.pop();
  for (const line of lines) {
    const m = /^# (pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (m) counts[m[1]] = Number(m[2]);
  }
});
child.on('close', (code) => {
  const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
  const skipped = counts.skipped ?? 0;
  if (timedOut) process.stderr.write(timedOut);
  if (skipped > 0) console.error(`${skipped} test(s) were skipped: a skipped test is not a pass; make it run or fail saying what is missing`);
  console.log(`${counts.pass ?? 0} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code !== 0 || skipped > 0 ? code || 1 : 0);
});
