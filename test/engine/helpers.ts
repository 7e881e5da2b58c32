// Shared helpers for engine tests: temp dirs and a session runner with a private cache.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import { parseNotebook } from '../../cells/engine/notebook.ts';
import { NotebookSession } from '../../cells/engine/session.ts';
import type { CompiledCell } from '../../cells/engine/compile.ts';

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

/**
 * The ids of every cell downstream of `ids` (inclusive), in notebook order: the fuzz tests' oracle for which
 * cells a failure must reach (the runtime itself propagates errors through its variables).
 */
export function downstreamOf(cells: CompiledCell[], ids: Iterable<number>): number[] {
  // Readers of each cell, so the walk is linear in the graph rather than a rescan of every cell per step.
  const definer = new Map<string, CompiledCell>();
  for (const c of cells) for (const n of c.outputs) definer.set(n, c);
  const readers = new Map<number, number[]>();
  for (const c of cells) {
    for (const n of c.inputs) {
      const d = definer.get(n);
      if (!d) continue;
      const list = readers.get(d.cell.id);
      if (list) list.push(c.cell.id);
      else readers.set(d.cell.id, [c.cell.id]);
    }
  }
  const out = new Set<number>(ids);
  const todo = [...out];
  while (todo.length) {
    for (const r of readers.get(todo.pop()!) ?? []) {
      if (!out.has(r)) {
        out.add(r);
        todo.push(r);
      }
    }
  }
  return cells.filter((c) => out.has(c.cell.id)).map((c) => c.cell.id);
}
