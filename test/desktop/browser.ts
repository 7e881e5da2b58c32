// Debian's Chromium, headless, driven by playwright-core: the one browser set-up the e2e tests share.
// The flags keep it off the network (this machine's closed network refuses Chromium's background calls).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.PROMPTSCOPE_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(dir: string, viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium), as .ci/run does`);
  const context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  return { context, page };
}

/**
 * Waits until every cell has settled (fresh, cached, error or cancelled) and cell `id` has `attr` = `value`.
 * (A function, not a string: the page's CSP forbids eval, which Playwright would need for a string predicate.)
 * Cells are `.cell[data-id]`: Vega draws faceted and concatenated charts in `<g class="cell">` groups, which
 * have no status and would keep a bare `.cell` query from ever settling.
 */
export async function settled(page: Page, id: number, attr: 'runs' | 'status', value: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    ([id, attr, value]) =>
      [...document.querySelectorAll<HTMLElement>('.cell[data-id]')].every((c) => ['fresh', 'cached', 'error', 'cancelled'].includes(c.dataset.status ?? '')) &&
      document.querySelector<HTMLElement>(`.cell[data-id="${id}"]`)?.dataset[attr] === value,
    [id, attr, value] as const,
    { timeout },
  );
}
