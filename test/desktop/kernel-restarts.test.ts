// A long session stays bounded (issue #23): 20 Restarts from the UI (Chromium) leave exactly one kernel
// process, and neither the server's heap nor the page's grows with them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { BrowserContext, Page } from 'playwright-core';
import { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { launchChromium } from './browser.ts';
import { TEST_KERNEL } from './builtins.ts';
import { processAlive } from '../../cells/util/process.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/demo.html', import.meta.url));
const RESTARTS = 20;

let dir: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-restarts-'));
  const path = join(dir, 'demo.html');
  copyFileSync(FIXTURE, path);
  const trust = new TrustStore(join(dir, 'trusted.json'));
  await trust.trust((await import('node:fs')).readFileSync(path, 'utf8'), path);
  server = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore: trust });
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 900 }));
});

after(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** This process's heap after a full collection (the test runner does not expose gc; V8 can). */
function serverHeap(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

async function pageHeap(): Promise<number> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return metrics.find((m) => m.name === 'JSHeapUsedSize')!.value;
}

/** Every cell settled under a kernel that is ready, and the kernel is the `n`th this session started. */
async function settledOn(n: number): Promise<void> {
  await page.waitForFunction(
    (n) =>
      document.querySelector('#kernel-state')?.textContent === 'kernel ready' &&
      (document.querySelector('#kernel-state') as HTMLElement).title.includes(`${n} started`) &&
      [...document.querySelectorAll<HTMLElement>('.cell')].every((c) => ['fresh', 'cached'].includes(c.dataset.status ?? '')),
    n,
    { timeout: 60_000 },
  );
}

test(`${RESTARTS} restarts: one kernel left, server and page memory bounded`, async () => {
  await page.goto(server.url);
  await settledOn(1);
  const pids = [server.notebook.kernel!.pid];
  const heaps: { server: number; page: number }[] = [];
  for (let i = 2; i <= RESTARTS + 1; i++) {
    await page.click('#restart');
    await settledOn(i);
    pids.push(server.notebook.kernel!.pid);
    if (i === 4 || i === RESTARTS + 1) heaps.push({ server: serverHeap(), page: await pageHeap() });
  }
  assert.equal(new Set(pids).size, RESTARTS + 1, 'every restart is a new process');
  assert.deepEqual(pids.slice(0, -1).filter(processAlive), [], 'no old kernel is left running');
  assert.ok(processAlive(pids.at(-1)!));
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  const grew = { server: heaps[1].server - heaps[0].server, page: heaps[1].page - heaps[0].page };
  console.log(`after restart 3 → ${RESTARTS}: server heap ${mb(heaps[0].server)} → ${mb(heaps[1].server)} MB, page heap ${mb(heaps[0].page)} → ${mb(heaps[1].page)} MB`);
  assert.ok(grew.server < 8 * 2 ** 20, `the server's heap grew by ${mb(grew.server)} MB over ${RESTARTS - 3} restarts`);
  assert.ok(grew.page < 8 * 2 ** 20, `the page's heap grew by ${mb(grew.page)} MB over ${RESTARTS - 3} restarts`);
  // The restarted notebook still works: a cached stage, and the input values carried over.
  assert.equal(await page.locator('.cell[data-id="4"]').getAttribute('data-status'), 'cached');
});
