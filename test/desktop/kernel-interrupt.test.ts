// Issue #23 as a new user met it: a trusted notebook with a `while (true) {}` cell, opened with the real
// `promptscope serve` command. The server must print its URL and answer at once while the cell spins in
// the kernel; Cancel in the UI (Chromium) stops the cell within a couple of seconds by restarting the
// kernel, the finished cell comes back from the cache, the rest of the notebook runs, and Restart also
// gets a stuck kernel going again. Stopping the server leaves no kernel behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { TrustStore } from '../../cells/engine/trust.ts';
import { launchChromium } from './browser.ts';
import { processAlive } from '../../cells/util/process.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = `<!doctype html>
<notebook theme="air">
  <title>runaway</title>
  <script id="1" type="module">
    const base = await cached("runaway-base", {n: 1}, async () => ({value: 41}))
  </script>
  <script id="2" type="module">
    const spin = (() => { if (base.value) while (true) {} return 0 })()
  </script>
  <script id="3" type="module">
    const answer = base.value + 1
  </script>
  <script id="4" type="module">
    const independent = 6 * 7
  </script>
</notebook>
`;

let dir: string;
let serve: ChildProcess;
let url: string;
let printedAt: number;
let spawnedAt: number;
let context: BrowserContext;
let page: Page;
let stderr = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-runaway-'));
  const path = join(dir, 'runaway.html');
  writeFileSync(path, NOTEBOOK);
  const trustPath = join(dir, 'trusted.json');
  await new TrustStore(trustPath).trust(NOTEBOOK, path);
  spawnedAt = Date.now();
  serve = spawn(process.execPath, [BIN, 'serve', path, '--port', '0'], {
    env: { ...process.env, PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: trustPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serve.stderr!.on('data', (d) => (stderr += String(d)));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.stdout!.on('data', (d) => {
      out += String(d);
      const m = /Open: (http\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    serve.once('exit', (code) => reject(new Error(`promptscope serve exited (${code}) before printing its URL:\n${stderr}`)));
  });
  printedAt = Date.now();
});

after(async () => {
  await context?.close();
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const token = () => new URL(url).searchParams.get('token')!;
const origin = () => new URL(url).origin;
interface Nb {
  states: { id: number; status: string; error?: { message: string } }[];
  kernel: { state: string; pid?: number; message?: string };
}
async function notebook(): Promise<{ ms: number; body: Nb }> {
  const t0 = Date.now();
  const res = await fetch(`${origin()}/api/notebook`, { headers: { 'X-Promptscope-Token': token() } });
  return { ms: Date.now() - t0, body: (await res.json()) as Nb };
}
const cell = (id: number) => page.locator(`.cell[data-id="${id}"]`);

// Measured from spawning `promptscope serve` (the user pressing Enter), not from the URL being printed:
// spawn → URL 0.75–1.5 s and spawn → first answer 0.78–1.67 s (8 runs on the shared 2-core build machine at
// load average 9–13, i.e. busier than idle; the time is Node + tsx loading the CLI, then the server
// listening, no cell code). The 4 s bound leaves room for a loaded CI machine; each answer after that
// must take under a second while the cell spins.
const SPAWN_TO_ANSWER_MS = 4_000;

test('the server answers within seconds of spawn, and within a second each time while the cell spins in the kernel', async () => {
  const first = await notebook();
  const sinceSpawn = Date.now() - spawnedAt;
  console.log(`promptscope serve: URL printed ${printedAt - spawnedAt} ms after spawn, first answer ${sinceSpawn} ms after spawn`);
  assert.ok(sinceSpawn < SPAWN_TO_ANSWER_MS, `first answer came ${sinceSpawn} ms after spawn`);
  assert.ok(first.ms < 1000, `first answer took ${first.ms} ms`);
  // Wait until the kernel is inside the loop, then keep asking: every answer must still be quick.
  let nb = first.body;
  for (const t0 = Date.now(); nb.states.find((s) => s.id === 2)?.status !== 'running'; ) {
    assert.ok(Date.now() - t0 < 60_000, `cell 2 never started: ${JSON.stringify(nb)}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
    nb = (await notebook()).body;
  }
  for (let i = 0; i < 5; i++) {
    const { ms } = await notebook();
    assert.ok(ms < 1000, `answer ${i} while the cell spins took ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('Cancel stops the stuck cell within 2 s (kernel restarted), cached cells stay, the rest runs', async () => {
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 900 }));
  const before = (await notebook()).body.kernel;
  await page.goto(url);
  await page.waitForSelector('.cell[data-id="2"][data-status="running"]');
  assert.equal(await page.locator('#kernel-state').textContent(), 'kernel ready');
  const t0 = Date.now();
  await cell(2).locator('.cancel').click();
  await page.waitForSelector('.cell[data-id="2"][data-status="cancelled"]', { timeout: 5_000 });
  const stoppedMs = Date.now() - t0;
  console.log(`Cancel → cell shown as interrupted in ${stoppedMs} ms`);
  assert.ok(stoppedMs < 2_500, `stopping took ${stoppedMs} ms`);
  assert.match((await cell(2).locator('.cell-error').textContent()) ?? '', /Interrupted: it did not stop within 1 s/);
  assert.match((await page.locator('#kernel-banner').textContent()) ?? '', /Cell 2 did not stop within 1 s of Interrupt, so the kernel was restarted/);
  assert.ok(await page.locator('#kernel-banner').isVisible());

  await page.waitForSelector('.cell[data-id="3"][data-status="fresh"]', { timeout: 60_000 });
  await page.waitForSelector('.cell[data-id="4"][data-status="fresh"]');
  await page.waitForSelector('.cell[data-id="1"][data-status="cached"]');
  assert.equal(await page.locator('#kernel-state').textContent(), 'kernel ready');
  const nb = (await notebook()).body;
  assert.notEqual(nb.kernel.pid, before.pid, 'a new kernel process');
  assert.ok(!processAlive(before.pid!), 'the stuck kernel is gone');
  assert.equal(nb.states.find((s) => s.id === 2)?.status, 'cancelled', 'the stuck cell waits instead of hanging the new kernel');
});

test('a fixed cell runs; Restart gets a stuck kernel going again', async () => {
  await cell(2).locator('.cm-content').click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.insertText('const spin = base.value');
  await page.keyboard.press('Shift+Enter');
  await page.waitForSelector('.cell[data-id="2"][data-status="fresh"]', { timeout: 10_000 });

  await cell(2).locator('.cm-content').click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.insertText('const spin = (() => { while (true) {} })()');
  await page.keyboard.press('Shift+Enter');
  await page.waitForSelector('.cell[data-id="2"][data-status="running"]');
  const stuck = (await notebook()).body.kernel.pid!;
  const t0 = Date.now();
  await page.click('#restart');
  await page.waitForSelector('.cell[data-id="2"][data-status="cancelled"]', { timeout: 5_000 });
  assert.ok(Date.now() - t0 < 2_500, `Restart took ${Date.now() - t0} ms`);
  assert.match((await cell(2).locator('.cell-error').textContent()) ?? '', /Interrupted by Restart/);
  await page.waitForFunction(() => document.querySelector('#kernel-state')?.textContent === 'kernel ready', undefined, { timeout: 60_000 });
  await page.waitForSelector('.cell[data-id="3"][data-status="fresh"]');
  assert.ok(!processAlive(stuck));
});

test('stopping the server stops its kernel', async () => {
  const pid = (await notebook()).body.kernel.pid!;
  assert.ok(processAlive(pid));
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));
  for (const t0 = Date.now(); processAlive(pid) && Date.now() - t0 < 5_000; ) await new Promise((r) => setTimeout(r, 50));
  assert.ok(!processAlive(pid), 'no orphaned kernel');
});
