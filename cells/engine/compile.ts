// Turns notebook cells into runtime definitions and checks the whole graph before anything runs:
// syntax errors, two cells defining one name, references to names nobody defines, and cycles are all
// reported with the cell id and the line in the notebook file, so nothing runs half-way silently.
import { transpile } from '@observablehq/notebook-kit';
import type { Notebook, NotebookCell } from './notebook.ts';

export interface CompiledCell {
  cell: NotebookCell;
  /** Names this cell reads (other cells' outputs or builtins). */
  inputs: string[];
  /** Names this cell defines. */
  outputs: string[];
  /** True when the cell's value is itself the named output (SQL cell with output="name"). */
  single: boolean;
  /** The cell body as a function of its inputs. */
  fn: (...args: unknown[]) => unknown;
  /** Line in the transpiled body where the cell's own first line is, to map stack traces back. */
  bodyLineOffset: number;
}

export class NotebookError extends Error {
  constructor(message: string, readonly cellId?: number, readonly line?: number) {
    super(message);
    this.name = 'NotebookError';
  }
}

/** Names the runtime provides to every cell in addition to the session's builtins. */
export const RUNTIME_NAMES = new Set(['invalidation', 'visibility']);

/** Names a SQL query reads as tables (after FROM or JOIN), ignoring `${…}` interpolations. */
export function sqlTableRefs(sql: string): string[] {
  const text = sql.replace(/\$\{[^}]*\}/g, ' ').replace(/--[^\n]*/g, ' ').replace(/'(?:[^']|'')*'/g, "''");
  const out = new Set<string>();
  for (const m of text.matchAll(/\b(?:from|join)\s+([A-Za-z_$][\w$]*)/gi)) out.add(m[1]);
  return [...out];
}

/**
 * SQL cells may name a cell's value as a table (`SELECT … FROM cifar`, where `cifar` is a dataset or an
 * Arrow table defined by a JavaScript cell): such names become inputs, so the query re-runs when the
 * table changes, and the session registers their values with the database before the query runs.
 */
function withTableInputs(c: CompiledCell, defined: Set<string>): CompiledCell {
  const tables = sqlTableRefs(c.cell.value).filter((n) => defined.has(n) && !c.inputs.includes(n));
  if (!tables.length) return c;
  const body = c.fn;
  const n = c.inputs.length;
  const fn = async function (this: unknown, ...args: unknown[]) {
    const db = args[c.inputs.indexOf('db')] as { registerValue(name: string, value: unknown): Promise<void> };
    for (let i = 0; i < tables.length; i++) await db.registerValue(tables[i], args[n + i]);
    return body.apply(this, args.slice(0, n));
  };
  return { ...c, inputs: [...c.inputs, ...tables], fn };
}

export function compileCell(cell: NotebookCell): CompiledCell {
  let t: ReturnType<typeof transpile>;
  try {
    t = transpile({ id: cell.id, value: cell.value, mode: cell.mode, pinned: false, hidden: false, output: cell.output });
  } catch (err) {
    const loc = (err as { loc?: { line: number; column: number } }).loc;
    const line = loc ? cell.line + loc.line - 1 : cell.line;
    throw new NotebookError(`cell ${cell.id}, line ${line}: ${(err as Error).message.replace(/\s*\(\d+:\d+\)$/, '')}`, cell.id, line);
  }
  const inputs = t.inputs ?? [];
  const single = cell.mode === 'sql' && !!cell.output;
  const outputs = single ? [cell.output!] : t.outputs ?? (t.output ? [t.output] : []);
  const firstLine = cell.value.split('\n').find((l) => l.trim()) ?? '';
  const bodyLines = t.body.split('\n');
  const at = bodyLines.findIndex((l) => firstLine && l.includes(firstLine.trim()));
  const bodyLineOffset = at >= 0 ? at : 1;
  let fn: (...args: unknown[]) => unknown;
  try {
    // Indirect eval in global scope; sourceURL lets us map a stack trace line back to the cell.
    fn = (0, eval)(`(${t.body})\n//# sourceURL=promptscope-cell-${cell.id}.js`);
  } catch (err) {
    throw new NotebookError(`cell ${cell.id}, line ${cell.line}: ${(err as Error).message}`, cell.id, cell.line);
  }
  return { cell, inputs, outputs, single, fn, bodyLineOffset };
}

/** Compiles every cell and validates the graph; throws the first problem found, naming the cell. */
export function compileNotebook(nb: Notebook, builtins: Set<string>): CompiledCell[] {
  const compiled = nb.cells.map(compileCell);
  const definer = new Map<string, CompiledCell>();
  for (const c of compiled) {
    for (const name of c.outputs) {
      const prev = definer.get(name);
      if (prev) {
        throw new NotebookError(
          `cell ${c.cell.id}, line ${c.cell.line}: "${name}" is already defined by cell ${prev.cell.id} (line ${prev.cell.line}); each name may be defined by one cell`,
          c.cell.id,
          c.cell.line,
        );
      }
      if (builtins.has(name)) {
        throw new NotebookError(`cell ${c.cell.id}, line ${c.cell.line}: "${name}" shadows a built-in of the same name; rename it`, c.cell.id, c.cell.line);
      }
      definer.set(name, c);
    }
  }
  const defined = new Set(definer.keys());
  for (let i = 0; i < compiled.length; i++) {
    if (compiled[i].cell.mode === 'sql') compiled[i] = withTableInputs(compiled[i], defined);
  }
  for (const c of compiled) {
    for (const name of c.inputs) {
      if (!definer.has(name) && !builtins.has(name) && !RUNTIME_NAMES.has(name)) {
        const line = lineOf(c, name);
        throw new NotebookError(`cell ${c.cell.id}, line ${line}: "${name}" is not defined by any cell or built-in`, c.cell.id, line);
      }
    }
  }
  const cycle = findCycle(compiled, definer);
  if (cycle) {
    const path = cycle.map((c) => `cell ${c.cell.id} (${c.outputs.join(', ') || 'anonymous'})`).join(' → ');
    const first = cycle[0];
    throw new NotebookError(`cell ${first.cell.id}, line ${first.cell.line}: circular definition: ${path}`, first.cell.id, first.cell.line);
  }
  return compiled;
}

function lineOf(c: CompiledCell, name: string): number {
  const lines = c.cell.value.split('\n');
  const re = new RegExp(`(^|[^\\w$.])${name.replace(/\$/g, '\\$')}([^\\w$]|$)`);
  const i = lines.findIndex((l) => re.test(l));
  return c.cell.line + Math.max(0, i);
}

function findCycle(cells: CompiledCell[], definer: Map<string, CompiledCell>): CompiledCell[] | null {
  const state = new Map<CompiledCell, 'visiting' | 'done'>();
  const stack: CompiledCell[] = [];
  const visit = (c: CompiledCell): CompiledCell[] | null => {
    const s = state.get(c);
    if (s === 'done') return null;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(c)), c];
    state.set(c, 'visiting');
    stack.push(c);
    for (const name of c.inputs) {
      const dep = definer.get(name);
      if (dep === c) {
        // A cell reading a name it defines is a self-reference, which is a cycle too.
        return [c, c];
      }
      if (dep) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(c, 'done');
    return null;
  };
  for (const c of cells) {
    const found = visit(c);
    if (found) return found;
  }
  return null;
}

/** The ids of every cell downstream of `ids` (inclusive), in notebook order. */
export function downstreamOf(cells: CompiledCell[], ids: Iterable<number>): number[] {
  const byName = new Map<string, CompiledCell>();
  for (const c of cells) for (const n of c.outputs) byName.set(n, c);
  const out = new Set<number>(ids);
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of cells) {
      if (out.has(c.cell.id)) continue;
      if (c.inputs.some((n) => { const d = byName.get(n); return d && out.has(d.cell.id); })) {
        out.add(c.cell.id);
        grew = true;
      }
    }
  }
  return cells.filter((c) => out.has(c.cell.id)).map((c) => c.cell.id);
}
