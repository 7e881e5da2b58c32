// End to end on a notebook the project ships (notebooks/hello.html) with the real cell library, as
// `promptscope serve` runs it: a shipped notebook is trusted without asking, runs on open, an input
// change re-runs only what depends on it, and after a restart the memoised stage comes from the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, settled as settledIn } from './browser.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';

const NOTEBOOK = fileURLToPath(new URL('../../notebooks/hello.html', import.meta.url));
const OUT = fileURLToPath(new URL('../../test-output/desktop/', import.meta.url));

let dir: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-e2e-shipped-'));
  server = await startServer({ notebookPath: NOTEBOOK, cache: new Cache(join(dir, 'cache')), trustStore: join(dir, 'trusted.json') });
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 1400 }));
});

after(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const runs = async (id: number) => Number(await page.locator(`.cell[data-id="${id}"]`).getAttribute('data-runs'));
const settled = (id: number, attr: 'runs' | 'status', value: string) => settledIn(page, id, attr, value);

test('notebooks/hello.html: runs on open, reacts to an input, restarts from the cache', async () => {
  await page.goto(server.url);
  assert.ok(await page.locator('#trust-banner').isHidden(), 'a notebook shipped with Promptscope is trusted');
  await settled(6, 'runs', '1');
  assert.deepEqual(await page.locator('.cell .cell-error:visible').allTextContents(), []);
  await page.waitForSelector('.cell[data-id="6"] .chart[data-rendered="true"] svg');

  await page.locator('.cell[data-id="2"] input[type="range"]').evaluate((el: HTMLInputElement) => {
    el.value = '300';
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await settled(6, 'runs', '2');
  const after = Object.fromEntries(await Promise.all([1, 2, 3, 4, 5, 6].map(async (id) => [id, await runs(id)] as const)));
  assert.deepEqual(after, { 1: 1, 2: 2, 3: 1, 4: 2, 5: 2, 6: 2 }, 'points feeds samples → meanY, chart; noise did not re-run');
  await page.waitForSelector('.cell[data-id="6"] .chart[data-rendered="true"] svg');
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, 'hello.png'), fullPage: true });

  await page.click('#restart');
  await settled(4, 'status', 'cached');
  assert.equal(await page.locator('.cell[data-id="4"] .badge').textContent(), 'cached');
  assert.equal(await page.locator('.cell[data-id="2"] input[type="range"]').inputValue(), '300', 'the input kept its value across the restart');
});
