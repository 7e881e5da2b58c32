// A kernel that dies is reported, not fatal (issue #23). kill -9 of the kernel in the middle of a
// checkpointed training stage: the UI (Chromium) says the kernel died and why, the server keeps
// answering, and running the cell again starts a new kernel that resumes from the checkpoint. A kernel
// that runs out of memory is reported as such, and the cell that did it does not run by itself again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { launchChromium } from './browser.ts';
import { TEST_KERNEL } from './builtins.ts';

const TRAINING = `<!doctype html>
<notebook theme="air">
  <title>training</title>
  <script id="1" type="module">
    const trained = await stage({name: "kernelDeathTrain", version: 1, params: {epochs: 40}}, jsonCodec(), (ctx) => trainWithCheckpoints(ctx, 40, 120))
  </script>
  <script id="2" type="module">
    const other = "independent of the training"
  </script>
</notebook>
`;

const HOG = `<!doctype html>
<notebook theme="air">
  <title>hog</title>
  <script id="1" type="module">
    const small = 1
  </script>
  <script id="2" type="module">
    const hog = (() => { const keep = []; for (;;) keep.push(new Array(1 << 16).fill(small + 0.5)); })()
  </script>
</notebook>
`;

let dir: string;
let trust: TrustStore;
let context: BrowserContext;
let page: Page;
const servers: RunningServer[] = [];

async function serveText(name: string, text: string, kernelExecArgv?: string[]): Promise<RunningServer> {
  const path = join(dir, name);
  writeFileSync(path, text);
  await trust.trust(text, path);
  const s = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore: trust, kernelExecArgv });
  servers.push(s);
  return s;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-kernel-death-'));
  trust = new TrustStore(join(dir, 'trusted.json'));
});

after(async () => {
  await context?.close();
  for (const s of servers) await s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Nb {
  states: { id: number; status: string; error?: { message: string } }[];
  kernel: { state: string; pid?: number; message?: string };
}
async function view(s: RunningServer): Promise<Nb> {
  return (await (await fetch(`http://127.0.0.1:${s.port}/api/notebook`, { headers: { 'X-Promptscope-Token': s.token } })).json()) as Nb;
}
async function until(s: RunningServer, what: string, ok: (nb: Nb) => boolean, ms = 60_000): Promise<Nb> {
  for (const t0 = Date.now(); ; ) {
    const nb = await view(s);
    if (ok(nb)) return nb;
    if (Date.now() - t0 > ms) assert.fail(`${what}: ${JSON.stringify(nb)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('kill -9 of the kernel mid-training: the UI says so, and Run resumes from the checkpoint', async () => {
  const server = await serveText('training.html', TRAINING);
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 900 }));
  await page.goto(server.url);
  await page.waitForSelector('.cell[data-id="1"][data-status="running"] .progress-text:text-matches("epoch ([5-9]|[1-3][0-9])")', { timeout: 60_000 });
  const pid = server.notebook.kernel!.pid;
  process.kill(pid, 'SIGKILL');

  await page.waitForSelector('#kernel-banner.dead', { timeout: 10_000 });
  assert.match((await page.locator('#kernel-banner').textContent()) ?? '', /The kernel died: it was killed \(SIGKILL: kill -9, or the system ran out of memory\)/);
  assert.equal(await page.locator('#kernel-state').textContent(), 'kernel died');
  await page.waitForSelector('.cell[data-id="1"][data-status="cancelled"]');
  assert.match((await page.locator('.cell[data-id="1"] .cell-error').textContent()) ?? '', /the kernel died while this cell was running/);
  assert.equal((await view(server)).kernel.state, 'dead', 'the server still answers');

  await page.locator('.cell[data-id="1"] .run').click();
  // A new kernel loads the library, then trains the remaining epochs: on a loaded 2-core CI machine (another
  // browser test in parallel) that took over a minute once.
  // Asked of the server (not only the page), so that a run that never ends says where it stopped: it timed
  // out once in a clean-clone run (180 s, against ~10 s usually) and did not reproduce.
  await until(server, 'the resumed run', (nb) => nb.states.find((c) => c.id === 1)?.status === 'fresh', 180_000);
  await page.waitForSelector('.cell[data-id="1"][data-status="fresh"]', { timeout: 30_000 });
  const trained = (await server.notebook.value('trained')) as { resumedFrom: number; epochs: number };
  console.log(`resumed from epoch ${trained.resumedFrom} of ${trained.epochs}`);
  assert.ok(trained.resumedFrom >= 5 && trained.resumedFrom < 40, `resumed from epoch ${trained.resumedFrom}`);
  assert.equal(await page.locator('#kernel-state').textContent(), 'kernel ready');
  assert.notEqual(server.notebook.kernel!.pid, pid);
});

test('a kernel out of memory is reported with the reason; the next action starts a kernel that skips the culprit', async () => {
  const server = await serveText('hog.html', HOG, ['--max-old-space-size=48']);
  const dead = await until(server, 'the kernel never died', (nb) => nb.kernel.state === 'dead');
  assert.match(dead.kernel.message ?? '', /The kernel died: it ran out of memory \(JavaScript heap limit\)/);
  assert.match(dead.states.find((s) => s.id === 2)?.error?.message ?? '', /the kernel died while this cell was running/);
  const r = await fetch(`http://127.0.0.1:${server.port}/api/cell/edit`, {
    method: 'POST',
    headers: { 'X-Promptscope-Token': server.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 1, value: 'const small = 2' }),
  });
  assert.equal(r.status, 200, await r.text());
  const nb = await until(server, 'the new kernel', (nb) => nb.kernel.state === 'ready' && nb.states.find((s) => s.id === 1)?.status === 'fresh');
  assert.equal(nb.states.find((s) => s.id === 2)?.status, 'cancelled', 'the cell that ran out of memory waits to be run again');
  await server.notebook.idle();
  assert.equal(await server.notebook.value('small'), 2);
});
