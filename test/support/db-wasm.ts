// The Database interface (cells/data/db.ts) over duckdb-wasm. Nothing in the product uses it: SQL cells run
// in the kernel on DuckDB node-api and the page receives their tables. test/data/db.test.ts runs the same
// query set on both engines through duckdb-wasm's blocking build in Node, so db.ts's type mapping stays one
// that a page-only build could reproduce; the adapter lives with the tests until such a build exists.
//
// duckdb-wasm bundles its own apache-arrow; Arrow objects do not cross versions (instanceof checks fail
// and tables are dropped silently). So everything crosses as Arrow IPC bytes: tables go in with
// insertArrowFromIPCStream, results come out of runQuery/runPrepared as IPC and are read with *our*
// apache-arrow. Works with the async (browser worker) and the blocking (Node) builds: both connections
// expose `useUnsafe((bindings, connId) => ...)` with the same method names, sync or returning promises.
//
// Results are normalised to the Node implementation's types (db.ts): DECIMAL and HUGEINT (which wasm
// returns as Decimal) become Float64, so the same SQL yields identical tables on both engines.

import { Decimal, Float64, Table, Type, makeVector, tableFromIPC, tableToIPC, type Vector } from 'apache-arrow';
import { quoteIdent, type Database, type SqlParam } from '../../cells/data/db.ts';

type MaybePromise<T> = T | Promise<T>;

/** The subset of duckdb-wasm's bindings used here (DuckDBBindings or AsyncDuckDB). */
export interface WasmBindingsLike {
  runQuery(conn: number, text: string): MaybePromise<Uint8Array>;
  createPrepared(conn: number, text: string): MaybePromise<number>;
  runPrepared(conn: number, statement: number, params: unknown[]): MaybePromise<Uint8Array>;
  closePrepared(conn: number, statement: number): MaybePromise<void>;
  insertArrowFromIPCStream(conn: number, buffer: Uint8Array, options?: { name: string; create?: boolean }): MaybePromise<void>;
}

/** A duckdb-wasm connection (DuckDBConnection or AsyncDuckDBConnection). */
export interface WasmConnectionLike {
  useUnsafe<R>(callback: (bindings: never, conn: number) => R): R;
  close(): MaybePromise<unknown>;
}

export class WasmDatabase implements Database {
  constructor(private readonly conn: WasmConnectionLike) {}

  private run<R>(fn: (b: WasmBindingsLike, conn: number) => R): R {
    return this.conn.useUnsafe((b: never, c: number) => fn(b as WasmBindingsLike, c));
  }

  async query(sql: string, params: SqlParam[] = []): Promise<Table> {
    let ipc: Uint8Array;
    if (params.length === 0) {
      ipc = await this.run((b, c) => b.runQuery(c, sql));
    } else {
      const statement = await this.run((b, c) => b.createPrepared(c, sql));
      try {
        // wasm binds through JSON: bigints would not serialise
        ipc = await this.run((b, c) => b.runPrepared(c, statement, params.map((p) => (typeof p === 'bigint' ? Number(p) : p))));
      } finally {
        await this.run((b, c) => b.closePrepared(c, statement));
      }
    }
    return normaliseDecimals(tableFromIPC(ipc));
  }

  async registerTable(name: string, table: Table): Promise<void> {
    await this.run((b, c) => b.runQuery(c, `DROP TABLE IF EXISTS ${quoteIdent(name)}`));
    await this.run((b, c) => b.insertArrowFromIPCStream(c, tableToIPC(table, 'stream'), { name, create: true }));
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}

/** Decimal128 columns → Float64 (value / 10^scale), like node-api's doubleFromDecimalValue. */
function normaliseDecimals(table: Table): Table {
  if (!table.schema.fields.some((f) => f.type.typeId === Type.Decimal)) return table;
  const columns: Record<string, Vector> = {};
  for (const field of table.schema.fields) {
    const col = table.getChild(field.name)!;
    if (field.type.typeId !== Type.Decimal) {
      columns[field.name] = col;
      continue;
    }
    const scale = (field.type as Decimal).scale;
    const out = new Float64Array(col.length);
    const valid: boolean[] = [];
    for (let i = 0; i < col.length; i++) {
      const words = col.get(i) as Uint32Array | null;
      valid.push(words !== null);
      if (words === null) continue;
      // 128-bit two's complement, little-endian 32-bit words
      let v = 0n;
      for (let w = 3; w >= 0; w--) v = (v << 32n) | BigInt(words[w]);
      if (v >= 1n << 127n) v -= 1n << 128n;
      out[i] = Number(v) / 10 ** scale;
    }
    columns[field.name] = valid.every(Boolean)
      ? makeVector(out)
      : makeVector({ type: new Float64(), data: out, length: out.length, nullBitmap: bitmap(valid) } as never);
  }
  return new Table(columns);
}

function bitmap(valid: boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(valid.length / 8));
  valid.forEach((v, i) => {
    if (v) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

/**
 * duckdb-wasm's blocking build in Node (tests, and a check that page SQL runs): loads the wasm from
 * node_modules, so it works offline.
 */
export async function openWasmDatabaseInNode(): Promise<Database> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const duck = await import('@duckdb/duckdb-wasm/blocking');
  const bundles = {
    mvp: {
      mainModule: require.resolve('@duckdb/duckdb-wasm/dist/duckdb-mvp.wasm'),
      mainWorker: require.resolve('@duckdb/duckdb-wasm/dist/duckdb-node-mvp.worker.cjs'),
    },
    eh: {
      mainModule: require.resolve('@duckdb/duckdb-wasm/dist/duckdb-eh.wasm'),
      mainWorker: require.resolve('@duckdb/duckdb-wasm/dist/duckdb-node-eh.worker.cjs'),
    },
  };
  const db = await duck.createDuckDB(bundles, new duck.VoidLogger(), duck.NODE_RUNTIME);
  await db.instantiate(() => undefined);
  db.open({});
  const conn = db.connect();
  return new WasmDatabase({
    useUnsafe: (cb) => conn.useUnsafe(cb as never),
    close: () => {
      conn.close();
      db.reset();
    },
  });
}
