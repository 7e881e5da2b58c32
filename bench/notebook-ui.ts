// A notebook in the desktop UI: `promptscope serve`'s server in this process (token and all), driven by
// headless Chromium (test/desktop/browser.ts). Waits until every cell has run and settled, then checks that
// no cell or page shows an error, that every chart draws an SVG with marks and every table has rows, and
// that each --expect text appears in the outputs; saves a full-page screenshot and one per chart. Not a
// test: on an empty cache a study notebook trains for minutes; on a warm one this measures the UI itself.
//   node --import tsx bench/notebook-ui.ts notebooks/pro-tuning.html [--cache DIR] [--png FILE] [--expect TEXT ...] [--timeout S]
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../test/desktop/browser.ts';
import { Cache } from '../cells/exec/cache.ts';
import { TrustStore } from '../cells/engine/trust.ts';
import { startServer } from '../desktop/server/server.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { cache: { type: 'string' }, png: { type: 'string' }, expect: { type: 'string', multiple: true }, timeout: { type: 'string' } },
});
if (positionals.length !== 1) throw new Error('usage: node --import tsx bench/notebook-ui.ts NOTEBOOK.html [--cache DIR] [--png FILE] [--expect TEXT ...] [--timeout SECONDS]');
const notebookPath = resolve(positionals[0]);
const name = notebookPath.replace(/^.*\//, '').replace(/\.html$/, '');
const cacheDir = values.cache ?? process.env.PROMPTSCOPE_CACHE ?? join(tmpdir(), `${name}-ui-cache`);
const png = values.png ?? join(tmpdir(), `${name}-ui.png`);
const timeoutMs = Number(values.timeout ?? 1200) * 1000;
const text = readFileSync(notebookPath, 'utf8');

const dir = mkdtempSync(join(tmpdir(), 'notebook-ui-'));
const trustStore = new TrustStore(join(dir, 'trusted.json'));
await trustStore.trust(text, notebookPath);
const server = await startServer({ notebookPath, cache: new Cache(cacheDir), trustStore });
const { context, page } = await launchChromium(dir, { width: 1400, height: 1800 });
const pageErrors: string[] = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const t0 = Date.now();
try {
  await page.goto(server.url);
  // Every cell has run at least once and none is still running or waiting.
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll<HTMLElement>('.cell[data-id]')];
    return cells.length > 0 && cells.every((c) => ['fresh', 'cached', 'error', 'cancelled'].includes(c.dataset.status ?? '') && Number(c.dataset.runs ?? 0) >= 1);
  }, undefined, { timeout: timeoutMs, polling: 500 }).catch(async (err: Error) => {
    // Say which cells never settled, and keep a picture of the page as it was.
    const stuck = await page.locator('.cell[data-id]').evaluateAll((cs) => cs.map((c) => `${(c as HTMLElement).dataset.id}:${(c as HTMLElement).dataset.status}:${(c as HTMLElement).dataset.runs}`));
    await page.screenshot({ path: png.replace(/\.png$/, '-timeout.png'), fullPage: true });
    throw new Error(`${err.message}\ncells (id:status:runs): ${stuck.join(' ')}`);
  });
  const settledSeconds = +((Date.now() - t0) / 1000).toFixed(1);
  const statuses = await page.locator('.cell[data-id]').evaluateAll((cs) => cs.map((c) => `${(c as HTMLElement).dataset.id}:${(c as HTMLElement).dataset.status}`));
  const errors = await page.locator('.cell .cell-error:visible').allTextContents();
  // Charts embed asynchronously after their cell settles; tables fetch their rows.
  const chartCells = await page.locator('.cell[data-id]:has(.chart)').evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.id!));
  const charts: Record<string, number> = {};
  for (const id of chartCells) {
    await page.waitForSelector(`.cell[data-id="${id}"] .chart[data-rendered="true"] svg`, { timeout: 60_000 });
    charts[id] = await page.locator(`.cell[data-id="${id}"] .chart svg path`).count();
  }
  const tableCells = await page.locator('.cell[data-id]:has(.vtable)').evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.id!));
  const tables: Record<string, number> = {};
  for (const id of tableCells) tables[id] = Number(await page.locator(`.cell[data-id="${id}"] .vtable`).first().getAttribute('data-rows'));
  const outputs = (await page.locator('.cell[data-id]').allTextContents()).join('\n');
  const missing = (values.expect ?? []).filter((t) => !outputs.includes(t));
  console.log(JSON.stringify({ notebook: name, cells: statuses.length, settledSeconds, errors, pageErrors, charts, tables, missing }, null, 1));
  await page.screenshot({ path: png, fullPage: true });
  for (const id of chartCells) await page.locator(`.cell[data-id="${id}"]`).screenshot({ path: png.replace(/\.png$/, `-cell${id}.png`) });
  assert.deepEqual(errors, [], 'no cell shows an error');
  assert.deepEqual(pageErrors, [], 'no page error');
  assert.ok(statuses.every((s) => /:(fresh|cached)$/.test(s)), `every cell ran: ${statuses.join(' ')}`);
  for (const [id, marks] of Object.entries(charts)) assert.ok(marks > 0, `the chart in cell ${id} draws marks`);
  for (const [id, rows] of Object.entries(tables)) assert.ok(rows > 0, `the table in cell ${id} has rows`);
  assert.deepEqual(missing, [], 'every --expect text is in the outputs');
  console.log(`screenshots: ${png} and ${png.replace(/\.png$/, '-cell<id>.png')} per chart`);
} finally {
  await context.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
