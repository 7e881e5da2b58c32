// The notebook file format: Observable Notebooks 2.0 — an HTML file with a <notebook> element and one
// <script> per cell, each with a stable numeric id. It diffs well and opens in Observable's own tools.
// We parse it ourselves with jsdom (with source locations) rather than notebook-kit's `deserialize`,
// because that one silently renumbers duplicate ids and treats unknown cell types as JavaScript; a
// malformed notebook must instead fail with the cell and line named. Writing uses the same layout as
// notebook-kit's `serialize`, so files round-trip between the two.
import { JSDOM } from 'jsdom';
import { sha256 } from '../util/hash.ts';

export type CellMode = 'js' | 'md' | 'sql';

export interface NotebookCell {
  id: number;
  mode: CellMode;
  /** Source text, dedented. */
  value: string;
  /** For SQL cells: the variable the result table is bound to. */
  output?: string;
  /** For SQL cells: the database to query (default: the session's DuckDB). */
  database?: string;
  hidden?: boolean;
  pinned?: boolean;
  /** 1-based line of the first source line in the file (0 for cells not read from a file). */
  line: number;
}

export interface Notebook {
  title: string;
  theme: string;
  cells: NotebookCell[];
}

export class NotebookFormatError extends Error {
  constructor(message: string, readonly cellId?: number, readonly line?: number) {
    super(message);
    this.name = 'NotebookFormatError';
  }
}

const MODES: Record<string, CellMode> = {
  module: 'js',
  'text/javascript': 'js',
  'application/javascript': 'js',
  'text/markdown': 'md',
  'application/sql': 'sql',
};
const TYPE_OF: Record<CellMode, string> = { js: 'module', md: 'text/markdown', sql: 'application/sql' };

export function parseNotebook(html: string, source = 'notebook'): Notebook {
  const dom = new JSDOM(html, { includeNodeLocations: true });
  const doc = dom.window.document;
  const root = doc.querySelector('notebook');
  if (!root) throw new NotebookFormatError(`${source}: not a notebook (no <notebook> element). Notebooks are Observable Notebooks 2.0 HTML files.`);
  const seen = new Map<number, number>();
  const cells: NotebookCell[] = [];
  for (const el of Array.from(root.children)) {
    const loc = dom.nodeLocation(el);
    const tagLine = loc?.startLine ?? 0;
    if (el.tagName === 'TITLE') continue;
    if (el.tagName !== 'SCRIPT') {
      throw new NotebookFormatError(`${source}:${tagLine}: unexpected <${el.tagName.toLowerCase()}> in <notebook>; only <title> and <script> cells are allowed`, undefined, tagLine);
    }
    const rawId = el.getAttribute('id');
    const id = Number(rawId);
    if (rawId === null || !Number.isInteger(id) || id <= 0) {
      throw new NotebookFormatError(`${source}:${tagLine}: cell has ${rawId === null ? 'no id' : `invalid id "${rawId}"`}; every <script> needs a unique positive integer id`, undefined, tagLine);
    }
    if (seen.has(id)) {
      throw new NotebookFormatError(`${source}:${tagLine}: duplicate cell id ${id} (first used on line ${seen.get(id)})`, id, tagLine);
    }
    seen.set(id, tagLine);
    const type = el.getAttribute('type') ?? 'module';
    const mode = MODES[type];
    if (!mode) {
      throw new NotebookFormatError(
        `${source}:${tagLine}: cell ${id} has unknown type "${type}"; use module (JavaScript), text/markdown or application/sql`,
        id,
        tagLine,
      );
    }
    const { text, skipped } = dedent((el.textContent ?? '').replace(/<\\(?=\\*\/script(\s|>))/gi, '<'));
    const cell: NotebookCell = { id, mode, value: text, line: tagLine + skipped };
    const output = el.getAttribute('output');
    if (output !== null) {
      if (!/^[A-Za-z_$][\w$]*$/.test(output)) throw new NotebookFormatError(`${source}:${tagLine}: cell ${id} output "${output}" is not a valid name`, id, tagLine);
      cell.output = output;
    }
    const database = el.getAttribute('database');
    if (database !== null) cell.database = database;
    if (el.hasAttribute('hidden')) cell.hidden = true;
    if (el.hasAttribute('pinned')) cell.pinned = true;
    cells.push(cell);
  }
  const title = doc.querySelector('notebook > title')?.textContent?.trim() ?? '';
  return { title, theme: root.getAttribute('theme') ?? 'air', cells };
}

function dedent(text: string): { text: string; skipped: number } {
  const lines = text.split(/\r\n?|\n/);
  let skipped = 0;
  if (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  if (lines.length && !lines[0].trim()) {
    lines.shift();
    skipped = 1;
  }
  return { text: lines.map((l) => l.replace(/^ {4}/, '')).join('\n'), skipped };
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function serializeNotebook(nb: Notebook): string {
  const out = [`<!doctype html>`, `<notebook theme="${escapeHtml(nb.theme)}">`, `  <title>${escapeHtml(nb.title)}</title>`];
  for (const c of nb.cells) {
    let attrs = `id="${c.id}" type="${TYPE_OF[c.mode]}"`;
    if (c.pinned) attrs += ' pinned';
    if (c.hidden) attrs += ' hidden';
    if (c.database) attrs += ` database="${escapeHtml(c.database)}"`;
    if (c.output) attrs += ` output="${escapeHtml(c.output)}"`;
    const body = c.value.replace(/<(?=\\*\/script(\s|>))/gi, '<\\');
    const indented = body.split(/\r\n?|\n/).map((l) => (l.trim() ? `    ${l}` : '')).join('\n');
    out.push(`  <script ${attrs}>\n${indented}\n  </script>`);
  }
  out.push('</notebook>', '');
  return out.join('\n');
}

/** The hash a trust store records: any change to the file's bytes revokes trust. */
export function notebookHash(text: string): string {
  return sha256(text);
}

export function nextCellId(nb: Notebook): number {
  return nb.cells.reduce((m, c) => Math.max(m, c.id), 0) + 1;
}
