// Shared helpers for engine tests: temp dirs and a session runner with a private cache.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import { parseNotebook } from '../../cells/engine/notebook.ts';
import { NotebookSession } from '../../cells/engine/session.ts';

export async function tempDir(prefix = 'ps-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Builds a notebook from [id, source] pairs (JavaScript cells). */
export function notebookOf(cells: [number, string][]): string {
  const body = cells.map(([id, src]) => `  <script id="${id}" type="module">\n    ${src}\n  </script>`).join('\n');
  return `<!doctype html>\n<notebook>\n  <title>t</title>\n${body}\n</notebook>\n`;
}

export async function startSession(html: string, builtins: Record<string, unknown> = {}, cache?: Cache) {
  const c = cache ?? new Cache(await tempDir('ps-cache-'));
  c.onWarning = () => undefined;
  const session = new NotebookSession(parseNotebook(html), { cache: c, builtins }).start();
  await session.idle();
  return { session, cache: c };
}

export function runs(session: NotebookSession): Record<number, number> {
  return Object.fromEntries(session.states().map((s) => [s.id, s.runs]));
}
