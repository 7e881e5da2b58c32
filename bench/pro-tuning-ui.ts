// notebooks/pro-tuning.html in the desktop UI: `promptscope serve`'s server in this process (token and all),
// driven by headless Chromium (test/desktop/browser.ts), on a cache that already holds the notebook's
// default run (e.g. after `node --import tsx bench/pro-tuning.ts 1`, whose seed 1 is the defaults). Checks
// that every cell settles without an error, that the three tables (scenarioTable, results, accuracyTable)
// render rows and list the PGD scenario and UPT, that both charts draw an SVG with marks; saves a full-page
// screenshot and the two charts and the accuracy table alone (PNG-accuracyChart.png, …). Not a test: a cold
// run trains 27 models (minutes); on a warm cache it measures the UI's rendering.
//   node --import tsx bench/pro-tuning-ui.ts [--cache DIR] [--png /tmp/protuning-ui.png]
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, settled } from '../test/desktop/browser.ts';
import { Cache } from '../cells/exec/cache.ts';
import { TrustStore } from '../cells/engine/trust.ts';
import { startServer } from '../desktop/server/server.ts';

const { values } = parseArgs({ options: { cache: { type: 'string' }, png: { type: 'string' }, timeout: { type: 'string' } } });
const cacheDir = values.cache ?? process.env.PROMPTSCOPE_CACHE ?? '/tmp/pt-cache';
const png = values.png ?? '/tmp/protuning-ui.png';
const timeoutMs = Number(values.timeout ?? 900) * 1000;
const notebookPath = fileURLToPath(new URL('../notebooks/pro-tuning.html', import.meta.url));
const text = readFileSync(notebookPath, 'utf8');
const cellIds = [...text.matchAll(/<script id="(\d+)"/g)].map((m) => Number(m[1]));

const dir = mkdtempSync(join(tmpdir(), 'protuning-ui-'));
const trustStore = new TrustStore(join(dir, 'trusted.json'));
await trustStore.trust(text, notebookPath);
const server = await startServer({ notebookPath, cache: new Cache(cacheDir), trustStore });
const { context, page } = await launchChromium(dir, { width: 1400, height: 1800 });
const pageErrors: string[] = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const t0 = Date.now();
try {
  await page.goto(server.url);
  // Every cell settled and the last chart cell has run once.
  await settled(page, 25, 'runs', '1', timeoutMs);
  const settledMs = Date.now() - t0;
  const statuses = await page.locator('.cell[data-id]').evaluateAll((cs) => cs.map((c) => `${(c as HTMLElement).dataset.id}:${(c as HTMLElement).dataset.status}`));
  const errors = await page.locator('.cell .cell-error:visible').allTextContents();
  for (const id of [24, 25]) await page.waitForSelector(`.cell[data-id="${id}"] .chart[data-rendered="true"] svg`, { timeout: 60_000 });
  const marks = async (id: number) => page.locator(`.cell[data-id="${id}"] .chart svg path, .cell[data-id="${id}"] .chart svg .mark-symbol path, .cell[data-id="${id}"] .chart svg .mark-rect path`).count();
  // Tables are the UI's virtual tables: data-rows is the table's size, .vt-row the rows fetched and drawn.
  const rowsIn = async (id: number) => {
    await page.waitForSelector(`.cell[data-id="${id}"] .vt-body .vt-row`, { timeout: 60_000 });
    const table = page.locator(`.cell[data-id="${id}"] .vtable`);
    return { rows: Number(await table.getAttribute('data-rows')), drawn: await table.locator('.vt-body .vt-row').count() };
  };
  const tables = Object.fromEntries(await Promise.all([16, 20, 21].map(async (id) => [id, await rowsIn(id)] as const)));
  const accuracyText = (await page.locator('.cell[data-id="21"] .vtable').textContent()) ?? '';
  const chartText = await page.locator('.cell[data-id="24"] .chart svg').textContent();
  const report = {
    cells: cellIds.length, statuses, errors, pageErrors, settledSeconds: +(settledMs / 1000).toFixed(1),
    tableRows: tables, chartMarks: { accuracyChart: await marks(24), parameterChart: await marks(25) },
    adversarialInChart: /PGD/.test(chartText ?? ''), uptInChart: /UPT/.test(chartText ?? ''),
    adversarialInTable: /PGD/.test(accuracyText), uptInTable: /UPT/.test(accuracyText),
  };
  await page.screenshot({ path: png, fullPage: true });
  // The two charts and the accuracy table on their own, readable at full size beside the long page.
  for (const [id, name] of [[24, 'accuracyChart'], [25, 'parameterChart'], [21, 'accuracyTable']] as const) {
    await page.locator(`.cell[data-id="${id}"]`).screenshot({ path: png.replace(/\.png$/, `-${name}.png`) });
  }
  console.log(JSON.stringify(report, null, 1));
  assert.deepEqual(errors, [], 'no cell shows an error');
  assert.deepEqual(pageErrors, [], 'no page error');
  assert.ok(statuses.every((s) => /:(fresh|cached)$/.test(s)), `every cell ran: ${statuses.join(' ')}`);
  for (const [id, n] of Object.entries(tables)) assert.ok(n.rows > 0 && n.drawn > 0, `table in cell ${id} has rows (${n.rows}, ${n.drawn} drawn)`);
  assert.ok(report.adversarialInChart && report.uptInChart && report.adversarialInTable && report.uptInTable, 'the PGD scenario and UPT are in the chart and the table');
  assert.ok(report.chartMarks.accuracyChart > 10 && report.chartMarks.parameterChart > 10, 'both charts draw marks');
  console.log(`screenshot: ${png}`);
} finally {
  await context.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
