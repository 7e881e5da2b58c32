// End to end: the real UI in Debian's Chromium (playwright-core, headless) against startServer on a
// small notebook. Open it untrusted (nothing runs), trust it, change an input and check that only the
// cells downstream of it re-ran, restart and see the upstream stage come back "cached", cancel a running
// stage, edit and save a cell, and keep a screenshot with a rendered chart under test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, settled as settledIn } from './browser.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { notebookHash, parseNotebook } from '../../cells/engine/notebook.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { TEST_KERNEL } from './builtins.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/demo.html', import.meta.url));
const OUT = fileURLToPath(new URL('../../test-output/desktop/', import.meta.url));

let dir: string;
let notebookPath: string;
let trustPath: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-e2e-'));
  notebookPath = join(dir, 'demo.html');
  trustPath = join(dir, 'trusted.json');
  copyFileSync(FIXTURE, notebookPath);
  server = await startServer({ notebookPath, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore: trustPath });
  ({ context, page } = await launchChromium(dir, { width: 1200, height: 900 }));
  page.on('console', (m) => {
    // CSP violations and script errors would otherwise pass silently.
    // (Chromium's own contenteditable typing may try a style attribute on a CodeMirror line; the CSP
    // blocks it and CodeMirror redraws the line, so that one is expected.)
    if (m.type() === 'error' && !/Applying inline style violates/.test(m.text())) console.error(`console error: ${m.text()}`);
  });
});

after(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cell = (id: number) => page.locator(`.cell[data-id="${id}"]`);
const runs = async (id: number) => Number(await cell(id).getAttribute('data-runs'));
const status = (id: number) => cell(id).getAttribute('data-status');

const settled = (id: number, attr: 'runs' | 'status', value: string) => settledIn(page, id, attr, value, 20_000);

test('a request without the token is refused', async () => {
  const base = `http://127.0.0.1:${server.port}`;
  for (const path of ['/', '/api/notebook', '/app.js', '/api/events']) {
    assert.equal((await fetch(base + path)).status, 403, path);
  }
  assert.equal((await fetch(`${base}/api/notebook?token=wrong`)).status, 403);
  const post = await fetch(`${base}/api/run-all`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 403);
  assert.equal((await fetch(`${base}/api/notebook?token=${server.token}`)).status, 200);
});

test('the notebook UI: trust, reactivity, cache after restart, cancel, edit and save', async (t) => {
  await t.test('opens read-only: cells shown, nothing runs until trusted', async () => {
    await page.goto(server.url);
    assert.ok(!page.url().includes('token='), 'the token is moved out of the address bar');
    await page.waitForSelector('.cell[data-id="13"]');
    assert.equal(await page.locator('.cell').count(), 13);
    assert.ok(await page.locator('#trust-banner').isVisible());
    for (let id = 1; id <= 13; id++) assert.equal(await runs(id), 0, `cell ${id} must not run before trust`);
    assert.equal(server.notebook.kernel, null, 'no kernel runs for an untrusted notebook');
    assert.match((await page.locator('.cell[data-id="1"] .markdown h1').textContent()) ?? '', /UI demo/);
  });

  await t.test('Trust runs every cell once; the trust store records the file hash', async () => {
    await page.click('#trust');
    await settled(8, 'runs', '1');
    await page.waitForSelector('.cell[data-id="8"] .metric');
    for (let id = 1; id <= 13; id++) assert.equal(await runs(id), 1, `cell ${id} ran once`);
    assert.equal(await status(4), 'fresh');
    assert.match((await cell(4).locator('.cell-log summary').textContent()) ?? '', /log · 1 line · sampled 12 values/, 'stage logs show on their cell');
    assert.ok(await page.locator('#trust-banner').isHidden());
    const store = JSON.parse(readFileSync(trustPath, 'utf8')) as { hashes: Record<string, unknown> };
    assert.ok(notebookHash(readFileSync(notebookPath, 'utf8')) in store.hashes);
  });

  await t.test('changing an input re-runs exactly its downstream cells', async () => {
    // Let the first run (Trust) finish, slow cell included, so this change is a wave of its own.
    await page.waitForFunction(() => /^Ran 13 cells/.test(document.querySelector('#last-run')?.textContent ?? ''));
    await page.locator('.cell[data-id="2"] input[type="range"]').evaluate((el: HTMLInputElement) => {
      el.value = '5';
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await settled(8, 'runs', '2');
    const after = Object.fromEntries(await Promise.all([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map(async (id) => [id, await runs(id)] as const)));
    assert.deepEqual(after, { 1: 1, 2: 2, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2, 10: 1, 11: 1, 12: 1, 13: 2 });
    assert.equal(await page.locator('.cell[data-id="8"] .metric-value').first().textContent(), '5');
    assert.equal(await page.locator('#inputs-bar input[type="range"]').inputValue(), '5', 'the inputs bar follows the value');
    await page.waitForFunction(() => /^Ran 7 cells/.test(document.querySelector('#last-run')?.textContent ?? ''));
    assert.equal(await page.locator('#last-run').textContent(), 'Ran 7 cells: #2 steps, #5 curve, #6, #7 rows, #8 summary, #9 slow, #13 plan');
  });

  await t.test('a select and a multi-select drive their variables; only the cell reading them re-runs', async () => {
    const before = await Promise.all([5, 8, 13].map(runs));
    // The same inputs from the bar under the top bar.
    assert.deepEqual(await page.locator('#inputs-bar .input').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.input)), ['steps', 'train', 'method', 'tasks']);
    await page.locator('#inputs-bar select').selectOption({ label: 'vpt' });
    await page.waitForFunction(() => (document.querySelector('.cell[data-id="11"] select') as HTMLSelectElement | null)?.selectedOptions[0]?.text === 'vpt');
    await settled(13, 'runs', String(before[2] + 1));
    // The select's change re-renders the input widgets; a click that lands while the checkbox is being
    // replaced does not stick, so check until it is checked.
    const gtsrb = () => cell(12).locator('label.choice', { hasText: 'gtsrb' }).locator('input');
    for (let i = 0; i < 5 && !(await gtsrb().isChecked()); i++) await gtsrb().check({ timeout: 5_000 }).catch(() => undefined);
    assert.ok(await gtsrb().isChecked(), 'the gtsrb checkbox could not be checked');
    await settled(13, 'runs', String(before[2] + 2));
    const tiles = await cell(13).locator('.metric-value').allTextContents();
    assert.deepEqual(tiles, ['vpt', 'mnist + gtsrb', '5']);
    assert.deepEqual(await Promise.all([5, 8].map(runs)), before.slice(0, 2), 'cells that do not read method/tasks did not re-run');
  });

  await t.test('the table pages rows from the server and keeps the DOM small', async () => {
    const table = page.locator('.cell[data-id="7"] .vtable');
    assert.equal(await table.getAttribute('data-rows'), '5000');
    await table.locator('.vt-body').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForSelector('.cell[data-id="7"] .vt-row[data-row="4999"]');
    assert.equal(await table.locator('.vt-row[data-row="4999"] div').nth(2).textContent(), (4999 * 5).toLocaleString('en-US'));
    assert.ok((await table.locator('.vt-body .vt-row').count()) < 60, 'only the rows in view are in the DOM');
  });

  await t.test('a dataset shows a sample grid (one image per class first) and its rows', async () => {
    const grid = page.locator('.cell[data-id="10"] .dataset');
    assert.match((await grid.locator('.dataset-head').textContent()) ?? '', /colours · 30 images · 3 classes/);
    assert.deepEqual((await grid.locator('figcaption').allTextContents()).slice(0, 3), ['red', 'green', 'blue']);
    assert.ok(await grid.locator('img').first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 16), 'the thumbnail decoded');
    assert.equal(await grid.locator('.vtable').getAttribute('data-rows'), '30');
  });

  await t.test('the chart renders; screenshot saved', async () => {
    await page.waitForSelector('.cell[data-id="6"] .chart[data-rendered="true"] svg');
    assert.ok((await page.locator('.cell[data-id="6"] .chart svg path').count()) > 0);
    mkdirSync(OUT, { recursive: true });
    // CodeMirror only lays out editors in view; a viewport as tall as the page renders every one.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: 1200, height });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(OUT, 'notebook.png'), fullPage: true });
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  await t.test('after a restart the upstream stage shows "cached" and inputs keep their values', async () => {
    await page.click('#restart');
    await settled(4, 'status', 'cached');
    assert.equal(await page.locator('.cell[data-id="4"] .badge').textContent(), 'cached');
    assert.equal(await runs(4), 1);
    assert.equal(await page.locator('.cell[data-id="8"] .metric-value').first().textContent(), '5');
  });

  await t.test('a running stage shows progress and can be cancelled', async () => {
    await page.locator('.cell[data-id="3"] input.switch').click();
    await page.waitForSelector('.cell[data-id="9"][data-status="running"] .progress-text:text-matches("epoch")');
    assert.ok(await cell(9).locator('.cancel').isVisible());
    await cell(9).locator('.cancel').click();
    await page.waitForSelector('.cell[data-id="9"][data-status="cancelled"]');
    assert.equal(await cell(9).locator('.badge').textContent(), 'cancelled');
    assert.ok(await cell(9).locator('.cancel').isHidden());
    assert.match((await cell(9).locator('.cell-error').textContent()) ?? '', /cancel/);
  });

  await t.test('an error shows its message and marks the failing line in the editor', async () => {
    await cell(8).locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+a');
    // insertText, not type: typed brackets and newlines would be auto-closed and auto-indented.
    await page.keyboard.insertText('const summary = (() => {\n  const x = steps;\n  throw new Error("boom at " + x);\n})()');
    await page.keyboard.press('Shift+Enter');
    await page.waitForSelector('.cell[data-id="8"][data-status="error"]');
    assert.match((await cell(8).locator('.cell-error').textContent()) ?? '', /boom at 5.*\(line \d+\)/);
    assert.match((await cell(8).locator('.cm-error-line').textContent()) ?? '', /throw new Error/);
  });

  await t.test('editing a cell re-runs it alone; Save writes the notebook and trusts it', async () => {
    const before8 = await runs(8);
    const before5 = await runs(5);
    await cell(8).locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('const summary = ({steps, doubled: steps * 2})');
    await page.keyboard.press('Shift+Enter');
    await page.waitForSelector('.cell[data-id="8"] .metric-name:text-is("doubled")');
    assert.equal(await runs(5), before5, 'an upstream cell did not re-run');
    assert.ok((await runs(8)) >= 1 && (await status(8)) === 'fresh', `cell 8 re-ran (was ${before8})`);
    await page.click('#save');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('.dirty')?.hidden === true);
    const text = readFileSync(notebookPath, 'utf8');
    assert.match(text, /doubled: steps \* 2/);
    assert.equal(parseNotebook(text).cells.length, 13);
    const store = JSON.parse(readFileSync(trustPath, 'utf8')) as { hashes: Record<string, unknown> };
    assert.ok(notebookHash(text) in store.hashes, 'a notebook saved from the UI is trusted');
  });
});
