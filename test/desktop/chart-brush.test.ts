// A chart input with an interval selection in Chromium: dragging along x commits [lo, hi] once the brush
// settles, the cell reading it re-runs on the brushed range, and a cell that does not read it stays put.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { TEST_KERNEL } from './builtins.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/chart-brush.html', import.meta.url));

let dir: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-brush-'));
  const notebookPath = join(dir, 'chart-brush.html');
  copyFileSync(FIXTURE, notebookPath);
  const trustStore = new TrustStore(join(dir, 'trusted.json'));
  await trustStore.trust(readFileSync(notebookPath, 'utf8'), notebookPath);
  server = await startServer({ notebookPath, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore });
  ({ context, page } = await launchChromium(dir, { width: 1000, height: 900 }));
});

after(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cell = (id: number) => page.locator(`.cell[data-id="${id}"]`);
const runs = async (id: number) => Number(await cell(id).getAttribute('data-runs'));

test('brushing an x range sets the chart input to [lo, hi] and re-runs only its reader', async () => {
  await page.goto(server.url);
  await page.waitForFunction(() => document.querySelector<HTMLElement>('.cell[data-id="3"]')?.dataset.status === 'fresh');
  assert.equal((await cell(3).locator('.outputs').textContent())?.includes('-1'), true, 'nothing brushed: -1');
  const plot = cell(2).locator('.chart-input[data-rendered="true"] svg path.background').first();
  const box = (await plot.boundingBox())!;
  assert.ok(box && box.width > 300, `the plot area is drawn (${JSON.stringify(box)})`);
  // From x = 5 to x = 10 of the 0–20 axis: points 5..10 lie inside, give or take the edges.
  const at = (x: number) => box.x + (x / 20) * box.width;
  await page.mouse.move(at(4.5), box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(at(10.5), box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector<HTMLElement>('.cell[data-id="3"]')?.dataset.runs === '2' &&
    document.querySelector<HTMLElement>('.cell[data-id="3"]')?.dataset.status === 'fresh', undefined, { timeout: 20_000 });
  const picked = (await cell(2).locator('.chart-pick').textContent())!;
  const [lo, hi] = picked.split('–').map((s) => Number(s.trim()));
  assert.ok(Math.abs(lo - 4.5) < 0.5 && Math.abs(hi - 10.5) < 0.5, `brushed about [4.5, 10.5], shown as "${picked}"`);
  assert.match((await cell(3).locator('.outputs').textContent()) ?? '', /\b6\b/, 'six points (5..10) in the range');
  assert.equal(await runs(4), 1, 'a cell that does not read the range did not re-run');
  assert.equal(await runs(2), 2, 'the input cell ran once more, for the settled brush only');
});
