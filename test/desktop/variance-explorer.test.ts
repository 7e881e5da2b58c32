// The variance explorer in Chromium with the real library: a click on a class's bar in the spread chart is
// the `pickedClass` input, so the thumbnails switch to that class, and only the cells that read the pick
// (the chart input itself, the projection and similarity charts that highlight it, images, nearest classes,
// the accuracy chart) run again, counted per cell: not the model, the features, the training.
// The shipped notebook runs on MNIST without trained methods (its defaults edited in a copy), so it
// settles in seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';

const NOTEBOOK = fileURLToPath(new URL('../../notebooks/variance-explorer.html', import.meta.url));
const OUT = fileURLToPath(new URL('../../test-output/desktop/', import.meta.url));
const CELLS = Array.from({ length: 18 }, (_, i) => i + 1);
const PICKED_CELL = 10;
/** The cells that read pickedClass, and so must re-run after a click, besides the input's own. */
const DEPENDENT = [11, 12, 13, 14, 18];

let dir: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;

/** The shipped notebook with faster defaults; fails loudly if the defaults it edits are gone. */
function smallCopy(): string {
  let text = readFileSync(NOTEBOOK, 'utf8');
  const edits: [string, string][] = [
    ['{value: "cifar10", label: "dataset"}', '{value: "mnist", label: "dataset"}'],
    ['{value: ["CoOp", "VPT", "UPT", "linear probe"], label:', '{value: [], label:'],
  ];
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `notebooks/variance-explorer.html no longer has ${from}`);
    text = text.replace(from, to);
  }
  return text;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-explorer-'));
  const notebookPath = join(dir, 'variance-explorer.html');
  const text = smallCopy();
  writeFileSync(notebookPath, text);
  const trustStore = new TrustStore(join(dir, 'trusted.json'));
  await trustStore.trust(text, notebookPath);
  server = await startServer({ notebookPath, cache: new Cache(join(dir, 'cache')), trustStore });
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 1600 }));
});

after(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cell = (id: number) => page.locator(`.cell[data-id="${id}"]`);
const runsOf = async () => Object.fromEntries(await Promise.all(CELLS.map(async (id) => [id, Number(await cell(id).getAttribute('data-runs'))] as const)));

async function settled(id: number, runs: number): Promise<void> {
  await page.waitForFunction(
    ([id, runs]) =>
      [...document.querySelectorAll<HTMLElement>('.cell')].every((c) => ['fresh', 'cached', 'error', 'cancelled'].includes(c.dataset.status ?? '')) &&
      document.querySelector<HTMLElement>(`.cell[data-id="${id}"]`)?.dataset.runs === String(runs),
    [id, runs] as const,
    { timeout: 90_000 },
  );
}

/** The captions of the picked class's thumbnails ("three #1234"), once they show `className`. */
async function thumbnails(className: string): Promise<string[]> {
  await page.waitForFunction((name) => {
    const imgs = [...document.querySelectorAll<HTMLImageElement>('.cell[data-id="13"] .images img')];
    return imgs.length > 0 && imgs.every((i) => i.alt.startsWith(`${name} #`));
  }, className, { timeout: 30_000 });
  return cell(13).locator('.images img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).alt));
}

test('variance explorer: clicking a class in the spread chart shows its images and re-runs only what reads the pick', async () => {
  await page.goto(server.url);
  await settled(18, 1);
  assert.deepEqual(await page.locator('.cell .cell-error:visible').allTextContents(), []);
  const chart = cell(PICKED_CELL).locator('.chart-input[data-rendered="true"] svg');
  await chart.waitFor();
  const initial = (await cell(PICKED_CELL).locator('.chart-pick').textContent())!.trim();
  assert.ok(['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].includes(initial), `the widest class is picked at first, got "${initial}"`);
  const before = await thumbnails(initial);
  assert.equal(before.length, 12);
  const runsBefore = await runsOf();

  const target = initial === 'three' ? 'seven' : 'three';
  // Vega-Lite labels each mark for screen readers with its fields: the bar of the target class.
  await chart.locator(`path[aria-label*="className: ${target}"]`).click();
  await settled(18, runsBefore[18] + 1);

  const after = await thumbnails(target);
  assert.equal(after.length, 12);
  assert.notDeepEqual(after, before, 'other images');
  assert.equal((await cell(PICKED_CELL).locator('.chart-pick').textContent())!.trim(), target);
  assert.match((await cell(14).locator('.output').textContent()) ?? '', /textSimilarity/, 'the nearest classes are shown');
  assert.ok(!((await cell(14).locator('.output').textContent()) ?? '').includes(`${target}\n`), 'a class is not its own neighbour');
  const runsAfter = await runsOf();
  const expected = Object.fromEntries(CELLS.map((id) => [id, runsBefore[id] + ([PICKED_CELL, ...DEPENDENT].includes(id) ? 1 : 0)]));
  assert.deepEqual(runsAfter, expected, 'the pick, the projection and similarity charts, images, nearest classes and accuracy chart re-ran; nothing else did');
  // The inputs bar offers the same pick as a menu, now showing the clicked class.
  const menu = page.locator('#inputs-bar [data-input="pickedClass"] select');
  assert.equal(await menu.evaluate((s) => (s as HTMLSelectElement).selectedOptions[0]?.textContent), target);
  assert.equal(await menu.locator('option').first().textContent(), '—', 'nothing picked is offered too');
  for (const id of [11, 12, 18]) await page.waitForSelector(`.cell[data-id="${id}"] .chart[data-rendered="true"] svg`);
  assert.match((await cell(18).locator('svg').textContent()) ?? '', new RegExp(`Accuracy on "${target}"`));

  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, 'variance-explorer.png'), fullPage: true });
  await cell(PICKED_CELL).screenshot({ path: join(OUT, 'variance-explorer-pick.png') });
});
