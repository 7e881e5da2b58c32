// The notebook file format: Observable Notebooks 2.0 — an HTML file with a <notebook> element and one
// <script> per cell, each with a stable numeric id. It diffs well and opens in Observable's own tools.
// We parse it ourselves with parse5 (the HTML parser jsdom uses, without building a whole window: about
// a hundred times faster, which matters for the fuzz suite and for big notebooks) rather than
// notebook-kit's `deserialize`, because that one silently renumbers duplicate ids, treats unknown cell
// types as JavaScript and drops whatever is not a cell; a malformed notebook must instead fail with the
// cell and line named. Writing uses the same layout as notebook-kit's `serialize`, so files round-trip
// between the two.
import { parse, type DefaultTreeAdapterTypes as Html } from 'parse5';
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

/** Cell ids are small positive integers; the cap keeps every id (and the next one) exactly representable. */
export const MAX_CELL_ID = 2 ** 31 - 1;

/** Words that cannot name a variable, so an `output` attribute naming one could never be read by a cell. */
const RESERVED = new Set(
  ('arguments await break case catch class const continue debugger default delete do else enum eval export extends false ' +
    'finally for function if implements import in instanceof interface let new null package private protected public ' +
    'return static super switch this throw true try typeof var void while with yield').split(' '),
);

export function isValidName(name: string): boolean {
  return /^[A-Za-z_$][\w$]*$/.test(name) && !RESERVED.has(name);
}

type Element = Html.Element;
type Location = NonNullable<Element['sourceCodeLocation']>;

const isElement = (n: Html.Node): n is Element => 'tagName' in n;
const HTML_NS = 'http://www.w3.org/1999/xhtml';

/** Elements of the parsed document in source order, without recursion (hostile files nest deeply). */
function* elements(root: Html.ParentNode): Generator<Element> {
  const stack: Html.Node[] = [...root.childNodes].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    if (!isElement(n)) continue;
    yield n;
    // A <notebook>'s children are checked one by one by the caller, not searched here.
    if (n.tagName !== 'notebook') for (let i = n.childNodes.length - 1; i >= 0; i--) stack.push(n.childNodes[i]);
  }
}

function attr(el: Element, name: string): string | null {
  return el.attrs.find((a) => a.name === name)?.value ?? null;
}

/** 1-based line of `offset` in `text` (the parser counts \r\n, \r and \n as one line break each, as we do). */
function lineAt(text: string, offset: number): number {
  const m = text.slice(0, offset).match(/\r\n|\r|\n/g);
  return (m?.length ?? 0) + 1;
}

export function parseNotebook(html: string, source = 'notebook'): Notebook {
  const failNow = (line: number, message: string): never => {
    throw new NotebookFormatError(`${source}:${line}: ${message}`, undefined, line);
  };
  // A UTF-16 file read as UTF-8 is every other byte NUL (or starts with the replaced byte-order mark);
  // the HTML parser would quietly find no notebook in it, which says nothing about why.
  if (/^(\uFFFD\uFFFD|\uFEFF?[^\0]?\0)/.test(html) || (html.length > 16 && html.slice(0, 64).split('\0').length > 8)) {
    failNow(1, 'the file looks like UTF-16 (or another encoding with NUL bytes); notebooks are UTF-8 text, save it as UTF-8');
  }
  const doc = parse(html, { sourceCodeLocationInfo: true });
  const where = (el: Element): Location => el.sourceCodeLocation!;
  // Problems outside <notebook> are found first but reported in file order with those inside it, so a
  // cell cut short (whose remainder closed </notebook> early) is named before what that left outside.
  let outside: { line: number; message: string } | undefined;
  let root: Element | undefined;
  for (const el of elements(doc)) {
    if (el.tagName === 'notebook' && el.namespaceURI === HTML_NS) {
      if (root) outside ??= { line: where(el).startLine, message: `a second <notebook> element (the first is on line ${where(root).startLine}); a file holds one notebook` };
      root ??= el;
    } else if (el.tagName === 'script') {
      // Code outside <notebook> is not a cell: running it silently, or dropping it silently, would both surprise.
      const id = attr(el, 'id');
      outside ??= { line: where(el).startLine, message: `a <script>${id !== null ? ` (id ${JSON.stringify(id.slice(0, 20))})` : ''} outside <notebook> is not a cell; move it inside <notebook> or delete it` };
    }
  }
  if (!root) failNow(outside?.line ?? 1, outside?.message ?? 'not a notebook (no <notebook> element). Notebooks are Observable Notebooks 2.0 HTML files.');
  const fail = (line: number, message: string, cellId?: number): never => {
    if (outside && outside.line < line) throw new NotebookFormatError(`${source}:${outside.line}: ${outside.message}`, undefined, outside.line);
    throw new NotebookFormatError(`${source}:${line}: ${message}`, cellId, line);
  };
  const nb = root!;
  const seen = new Map<number, number>();
  const cells: NotebookCell[] = [];
  let titleEl: Element | undefined;
  for (const node of nb.childNodes) {
    if (!isElement(node)) {
      // Text between cells is lost on save, so it is an error rather than ignored (comments are fine).
      if (node.nodeName === '#text') {
        const text = (node as Html.TextNode).value;
        const at = text.search(/\S/);
        if (at >= 0) {
          const loc = (node as Html.TextNode).sourceCodeLocation!;
          const line = lineAt(html, loc.startOffset + at);
          fail(line, `text outside any cell: ${JSON.stringify(text.trim().slice(0, 40))}; cells are <script> elements`);
        }
      }
      continue;
    }
    const loc = where(node);
    const tagLine = loc.startLine;
    if (node.tagName === 'title' && node.namespaceURI === HTML_NS) {
      if (!loc.endTag) fail(tagLine, '<title> is never closed (no </title>), so the rest of the file was read as the title');
      titleEl ??= node;
      continue;
    }
    if (node.tagName !== 'script') fail(tagLine, `unexpected <${node.tagName}> in <notebook>; only <title> and <script> cells are allowed`);
    const rawId = attr(node, 'id');
    if (rawId === null || !/^[1-9][0-9]*$/.test(rawId) || Number(rawId) > MAX_CELL_ID) {
      const why = rawId === null ? 'no id' : `invalid id ${JSON.stringify(rawId.slice(0, 40))}`;
      fail(tagLine, `cell has ${why}; every <script> needs a unique id, a whole number from 1 to ${MAX_CELL_ID} written in digits`);
    }
    const id = Number(rawId);
    const first = seen.get(id);
    if (first !== undefined) fail(tagLine, `duplicate cell id ${id} (first used on line ${first})`, id);
    seen.set(id, tagLine);
    // An unclosed <script> swallows every cell after it: say so instead of reporting a syntax error deep inside.
    if (!loc.endTag) fail(tagLine, `cell ${id}: <script> is never closed (no </script>), so the rest of the file was read as its code; the file may be truncated`, id);
    const type = attr(node, 'type') ?? 'module';
    const mode = MODES[type];
    if (!mode) fail(tagLine, `cell ${id} has unknown type ${JSON.stringify(type.slice(0, 60))}; use module (JavaScript), text/markdown or application/sql`, id);
    const textNodes = node.childNodes.filter((n): n is Html.TextNode => n.nodeName === '#text');
    const raw = textNodes.map((t) => t.value).join('');
    const { text, skipped } = dedent(unescapeScript(raw));
    const textLine = textNodes[0]?.sourceCodeLocation?.startLine ?? loc.startTag!.endLine;
    const cell: NotebookCell = { id, mode: mode!, value: text, line: textLine + skipped };
    const output = attr(node, 'output');
    if (output !== null) {
      if (!isValidName(output)) fail(tagLine, `cell ${id} output ${JSON.stringify(output.slice(0, 60))} is not a valid name (a JavaScript identifier that is not a reserved word)`, id);
      cell.output = output;
    }
    const database = attr(node, 'database');
    if (database !== null) cell.database = database;
    if (attr(node, 'hidden') !== null) cell.hidden = true;
    if (attr(node, 'pinned') !== null) cell.pinned = true;
    cells.push(cell);
  }
  if (!where(nb).endTag) {
    // Cells all closed but no </notebook>: a file cut between two cells, which silently loses the rest.
    fail(lineAt(html, html.length), 'the file ends before </notebook>; it may be truncated');
  }
  // The parser turns NUL into U+FFFD inside a cell, which would change its code without a word.
  const nul = html.indexOf('\0');
  if (nul >= 0) {
    const inside = nb.childNodes.find((n) => isElement(n) && n.sourceCodeLocation!.startOffset <= nul && nul < n.sourceCodeLocation!.endOffset);
    const id = inside && isElement(inside) ? Number(attr(inside, 'id')) : undefined;
    fail(lineAt(html, nul), `${id ? `cell ${id} contains` : 'the file contains'} a NUL character, which HTML cannot hold; remove it`, id);
  }
  if (outside) failNow(outside.line, outside.message);
  const title = titleEl ? titleEl.childNodes.map((t) => (t as Html.TextNode).value ?? '').join('').trim() : '';
  return { title, theme: attr(nb, 'theme') ?? 'air', cells };
}

// Inside <script>, the HTML parser ends the element at `</script` and enters a special state after `<!--`
// (where `<script` … `</script>` nests), so both are written with a backslash after `<`; a literal
// backslash already there gets one more, which keeps the mapping reversible. notebook-kit escapes
// `</script` before whitespace or `>` the same way.
const ESCAPED = /<\\(?=\\*(?:\/script|!--))/gi;
const NEEDS_ESCAPE = /<(?=\\*(?:\/script|!--))/gi;

function unescapeScript(text: string): string {
  return text.replace(ESCAPED, '<');
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
    const body = c.value.replace(NEEDS_ESCAPE, '<\\');
    // Whitespace-only lines keep their indentation too: inside a template literal it is part of the value.
    const indented = body.split(/\r\n?|\n/).map((l) => (l ? `    ${l}` : '')).join('\n');
    out.push(`  <script ${attrs}>\n${indented}\n  </script>`);
  }
  out.push('</notebook>', '');
  return out.join('\n');
}

/** The hash a trust store records: any change to the file's bytes revokes trust. */
export function notebookHash(text: string): string {
  return sha256(text);
}

/** One more than the largest id in use; if that would pass MAX_CELL_ID, the smallest free id. */
export function nextCellId(nb: Notebook): number {
  const max = nb.cells.reduce((m, c) => Math.max(m, c.id), 0);
  if (max < MAX_CELL_ID) return max + 1;
  const used = new Set(nb.cells.map((c) => c.id));
  let id = 1;
  while (used.has(id)) id++;
  return id;
}
