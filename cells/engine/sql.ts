// The `db` builtin SQL cells run against. A SQL cell transpiles to db.sql`…${x}…`: interpolations become
// bound parameters (never string-spliced into the query), and cell values named as tables are registered
// first (see compile.ts). The database itself is injected (DuckDB in Node), so the engine stays generic.
import { Table, tableFromArrays, tableFromJSON } from 'apache-arrow';

type Param = string | number | boolean | bigint | null;

export interface SqlBackend {
  query(sql: string, params?: Param[]): Promise<Table>;
  registerTable(name: string, table: Table): Promise<void>;
}

export interface NotebookDatabase {
  sql(strings: TemplateStringsArray, ...values: unknown[]): Promise<Table>;
  query(sql: string, params?: Param[]): Promise<Table>;
  registerValue(name: string, value: unknown): Promise<void>;
}

/** Turns what a cell may hold into an Arrow table: a table, a dataset (its rows), rows as objects, or columns. */
export function asTable(value: unknown, name: string): Table {
  if (value instanceof Table) return value;
  const rows = (value as { rows?: unknown })?.rows;
  if (rows instanceof Table) return rows;
  if (Array.isArray(value) && value.every((r) => r && typeof r === 'object')) return tableFromJSON(value as Record<string, unknown>[]);
  if (value && typeof value === 'object' && Object.values(value).every((c) => Array.isArray(c) || ArrayBuffer.isView(c))) {
    return tableFromArrays(value as Parameters<typeof tableFromArrays>[0]);
  }
  throw new TypeError(`"${name}" is used as a table in SQL but is not an Arrow table, a dataset or an array of rows`);
}

function toParam(v: unknown, i: number): Param {
  if (v === null || v === undefined) return null;
  if (['string', 'number', 'boolean', 'bigint'].includes(typeof v)) return v as Param;
  if (v instanceof Date) return v.toISOString();
  throw new TypeError(`SQL parameter ${i + 1} must be a string, number, boolean or null, got ${typeof v}`);
}

export function notebookDatabase(backend: SqlBackend): NotebookDatabase {
  // Per table name, the registration in flight or done and the value it was for. Two SQL cells that read
  // the same value start at once; a registration is CREATE OR REPLACE then appends, so two of them
  // interleaved would leave the rows twice. The second caller waits for the first instead, and a
  // registration of a new value under the same name waits for the one before it.
  const latest = new Map<string, { table: Table; done: Promise<void> }>();
  return {
    sql(strings, ...values) {
      const text = strings.reduce((acc, s, i) => acc + (i > 0 ? `$${i}` : '') + s, '');
      return backend.query(text, values.map(toParam));
    },
    query: (sql, params) => backend.query(sql, params),
    registerValue(name, value) {
      const table = asTable(value, name);
      const prev = latest.get(name);
      if (prev?.table === table) return prev.done;
      const done = (prev?.done ?? Promise.resolve()).catch(() => undefined).then(() => backend.registerTable(name, table));
      const entry = { table, done };
      latest.set(name, entry);
      // A failed registration is forgotten, so the next reader tries again instead of reusing the failure.
      done.catch(() => { if (latest.get(name) === entry) latest.delete(name); });
      return done;
    },
  };
}
