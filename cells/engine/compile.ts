// Turns notebook cells into runtime definitions and checks the whole graph before anything runs:
// syntax errors, two cells defining one name, references to names nobody defines, and cycles are all
// reported with the cell id and the line in the notebook file, so nothing runs half-way silently.
import { isValidName, type Notebook, type NotebookCell } from './notebook.ts';

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

export { NotebookError } from './errors.ts';
import { NotebookError } from './errors.ts';
import { transpileCell, type Transpiled } from './transpile.ts';

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

/** Cells read from a file report file lines; cells not saved yet (line 0) report lines within the cell. */
function fileLine(cell: NotebookCell, inCell: number): number {
  return cell.line > 0 ? cell.line + inCell - 1 : inCell;
}

/** `transpiled`: where transpiled cells are kept between processes (transpile.ts); none: in memory only. */
export function compileCell(cell: NotebookCell, transpiled?: string): CompiledCell {
  const at = fileLine(cell, 1);
  if (cell.output !== undefined && !isValidName(cell.output)) {
    throw new NotebookError(`cell ${cell.id}, line ${at}: output ${JSON.stringify(cell.output)} is not a valid name`, cell.id, at);
  }
  let t: Transpiled;
  try {
    t = transpileCell(cell, transpiled);
  } catch (err) {
    const loc = (err as { loc?: { line: number; column: number } }).loc;
    // An unterminated string or bracket is reported at the end of input, one line past the cell's last.
    const line = loc ? fileLine(cell, Math.min(loc.line, cell.value.split('\n').length)) : at;
    throw new NotebookError(`cell ${cell.id}, line ${line}: ${describe(err).replace(/\s*\(\d+:\d+\)$/, '')}`, cell.id, line);
  }
  // Copies: the transpiled cell is shared by every compilation of the same text.
  const inputs = [...t.inputs];
  const single = cell.mode === 'sql' && !!cell.output;
  const outputs = single ? [cell.output!] : t.outputs ? [...t.outputs] : t.output ? [t.output] : [];
  const firstLine = cell.value.split('\n').find((l) => l.trim()) ?? '';
  const bodyLines = t.body.split('\n');
  const found = bodyLines.findIndex((l) => firstLine && l.includes(firstLine.trim()));
  const bodyLineOffset = found >= 0 ? found : 1;
  let fn: (...args: unknown[]) => unknown;
  try {
    // Indirect eval in global scope; sourceURL lets us map a stack trace line back to the cell.
    fn = (0, eval)(`(${t.body})\n//# sourceURL=promptscope-cell-${cell.id}.js`);
  } catch (err) {
    throw new NotebookError(`cell ${cell.id}, line ${at}: ${describe(err)}`, cell.id, at);
  }
  return { cell, inputs, outputs, single, fn, bodyLineOffset };
}

/** A parser's own message, except where that would be about the parser rather than the cell. */
function describe(err: unknown): string {
  // Acorn and V8 parse recursively: a thousands-deep expression runs them out of stack.
  if (err instanceof RangeError && /call stack/i.test(err.message)) return 'the code is nested too deeply to parse';
  return err instanceof Error ? err.message : String(err);
}

/** Compiles every cell and validates the graph; throws the first problem found, naming the cell. */
export function compileNotebook(nb: Notebook, builtins: Set<string>, transpiled?: string): CompiledCell[] {
  const compiled = nb.cells.map((cell) => compileCell(cell, transpiled));
  const definer = new Map<string, CompiledCell>();
  for (const c of compiled) {
    for (const name of c.outputs) {
      const prev = definer.get(name);
      if (prev) {
        const line = lineOf(c, name);
        throw new NotebookError(
          `cell ${c.cell.id}, line ${line}: "${name}" is already defined by cell ${prev.cell.id} (line ${lineOf(prev, name)}); each name may be defined by one cell`,
          c.cell.id,
          line,
        );
      }
      // The runtime's own names count too: a cell defining `invalidation` would replace the promise
      // every other cell is handed to learn that it is being re-run.
      if (builtins.has(name) || RUNTIME_NAMES.has(name)) {
        const line = lineOf(c, name);
        throw new NotebookError(`cell ${c.cell.id}, line ${line}: "${name}" shadows a built-in of the same name; rename it`, c.cell.id, line);
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
    const [first, next] = cycle;
    // Point at the line where the first cell reads a name of the next one in the cycle.
    const read = first.inputs.find((n) => definer.get(n) === next);
    const line = read ? lineOf(first, read) : fileLine(first.cell, 1);
    throw new NotebookError(`cell ${first.cell.id}, line ${line}: circular definition: ${path}`, first.cell.id, line);
  }
  return compiled;
}

function lineOf(c: CompiledCell, name: string): number {
  const lines = c.cell.value.split('\n');
  const re = new RegExp(`(^|[^\\w$.])${name.replace(/\$/g, '\\$')}([^\\w$]|$)`);
  const i = lines.findIndex((l) => re.test(l));
  return fileLine(c.cell, Math.max(0, i) + 1);
}

/**
 * Depth-first search over "reads a name defined by" edges, with an explicit stack: a notebook of a few
 * thousand cells written in reverse dependency order would overflow the call stack if this recursed.
 */
function findCycle(cells: CompiledCell[], definer: Map<string, CompiledCell>): CompiledCell[] | null {
  const state = new Map<CompiledCell, 'visiting' | 'done'>();
  const deps = (c: CompiledCell) => c.inputs.map((n) => definer.get(n)).filter((d): d is CompiledCell => !!d);
  for (const start of cells) {
    if (state.has(start)) continue;
    const path: { cell: CompiledCell; deps: CompiledCell[]; next: number }[] = [{ cell: start, deps: deps(start), next: 0 }];
    state.set(start, 'visiting');
    while (path.length) {
      const top = path[path.length - 1];
      if (top.next === top.deps.length) {
        state.set(top.cell, 'done');
        path.pop();
        continue;
      }
      const dep = top.deps[top.next++];
      const s = state.get(dep);
      if (s === 'done') continue;
      if (s === 'visiting') {
        // A cell reading a name it defines closes a cycle of one: [c, c].
        const from = path.findIndex((p) => p.cell === dep);
        return [...path.slice(from).map((p) => p.cell), dep];
      }
      state.set(dep, 'visiting');
      path.push({ cell: dep, deps: deps(dep), next: 0 });
    }
  }
  return null;
}
