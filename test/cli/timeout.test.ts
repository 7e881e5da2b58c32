// `promptscope run --timeout`: a runaway cell fails with a message instead of hanging the run forever.
// An awaiting cell is cancelled and the rest of the notebook still runs and is written out; a cell stuck
// in synchronous code stops the run with exit status 1, naming the cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));

function notebook(cells: string[]): string {
  const scripts = cells.map((c, i) => `  <script id="${i + 1}" type="module">\n    ${c}\n  </script>`).join('\n');
  return `<!doctype html>\n<notebook theme="air">\n  <title>timeout</title>\n${scripts}\n</notebook>\n`;
}

function run(cells: string[], args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'ps-timeout-'));
  const nb = join(dir, 'nb.html');
  writeFileSync(nb, notebook(cells));
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', nb, '--trust', '--out', join(dir, 'out'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') },
  });
  const manifest = () => JSON.parse(readFileSync(join(dir, 'out', 'manifest.json'), 'utf8')) as { cells: { id: number; status: string; error?: string }[] };
  return { code: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t0, manifest, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('an awaiting cell past --timeout is cancelled, the rest runs, the run fails naming it', () => {
  const r = run(['const stalled = await new Promise((resolve) => setTimeout(resolve, 600_000))', 'const fine = ({value: 42})'], ['--timeout', '1']);
  try {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: cell 1: ran past --timeout 1 s and was stopped/);
    const cells = r.manifest().cells;
    assert.deepEqual(cells.map((c) => [c.id, c.status]), [[1, 'error'], [2, 'fresh']]);
    assert.equal(cells[0].error, 'cell 1: ran past --timeout 1 s and was stopped');
  } finally {
    r.cleanup();
  }
});

test('a cell stuck in synchronous code stops the run with exit status 1 and says why', () => {
  const r = run(['const a = 1', 'while (a) {}'], ['--timeout', '1']);
  try {
    assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: cell 2 ran past --timeout 1 s in synchronous code that never yields/);
    console.log(`the stuck run ended after ${r.ms} ms`);
  } finally {
    r.cleanup();
  }
});

test('--timeout must be a positive number of seconds', () => {
  const r = run(['const a = 1'], ['--timeout', '0']);
  try {
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout must be a number of seconds above 0/);
  } finally {
    r.cleanup();
  }
});
