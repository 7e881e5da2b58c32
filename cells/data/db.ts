// One small database interface for SQL cells, with a Node implementation over @duckdb/node-api.
// (test/support/db-wasm.ts runs the same SQL on duckdb-wasm, so these types stay reproducible in a page.)
//
// Why not Arrow end to end: node-api has no `arrow` extension offline, so results come back as JS columns
// (getColumnsObjectJS) and are rebuilt as Arrow vectors with types derived from DuckDB's column types;
// tables go in through an appender. Type mapping, kept identical on both engines (test/support/db-wasm.ts):
//   BOOLEAN→Bool, TINYINT..BIGINT and unsigned→Int8..Int64/Uint8..Uint64, FLOAT→Float32, DOUBLE→Float64,
//   DECIMAL and HUGEINT→Float64 (e.g. sum(int) is HUGEINT in DuckDB), VARCHAR/ENUM/UUID→Utf8,
//   BLOB→Binary, DATE→DateDay, TIMESTAMP*→TimestampMillisecond, LIST/ARRAY→List.

import {
  Binary,
  Bool,
  DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  List,
  Table,
  TimestampMillisecond,
  Type,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';

/** A SQL value bound to a `?`/`$1` placeholder. */
export type SqlParam = string | number | boolean | bigint | null;

export interface Database {
  /** Runs SQL (with positional parameters) and returns the result as an Arrow table. */
  query(sql: string, params?: SqlParam[]): Promise<Table>;
  /** Creates or replaces table `name` with the contents of an Arrow table. */
  registerTable(name: string, table: Table): Promise<void>;
  close(): Promise<void>;
}

/** Quotes an identifier for SQL (table and column names from users or datasets). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** DuckDB column type for an Arrow type (for CREATE TABLE before appending). */
export function duckTypeOf(type: DataType, where: string): string {
  switch (type.typeId) {
    case Type.Bool:
      return 'BOOLEAN';
    case Type.Int: {
      const t = type as unknown as { bitWidth: 8 | 16 | 32 | 64; isSigned: boolean };
      const base = { 8: 'TINYINT', 16: 'SMALLINT', 32: 'INTEGER', 64: 'BIGINT' }[t.bitWidth];
      return t.isSigned ? base : `U${base}`;
    }
    case Type.Float:
      return (type as Float32).precision === 0 ? 'FLOAT' : (type as Float32).precision === 1 ? 'FLOAT' : 'DOUBLE';
    case Type.Utf8:
    case Type.LargeUtf8:
      return 'VARCHAR';
    case Type.Binary:
      return 'BLOB';
    case Type.Dictionary:
      return duckTypeOf((type as unknown as { dictionary: DataType }).dictionary, where);
    case Type.List:
      return `${duckTypeOf((type as List).children[0].type, where)}[]`;
    case Type.Date:
      return 'DATE';
    default:
      throw new Error(`${where}: Arrow type ${type} cannot be registered in DuckDB (use int, float, bool, string, binary, date or list columns)`);
  }
}

interface DuckColumnType {
  typeId: number;
  valueType?: DuckColumnType;
}

/** Arrow type for a node-api DuckDB type (numbers are DuckDBTypeId values). */
function arrowTypeOf(t: DuckColumnType, column: string): DataType {
  switch (t.typeId) {
    case 1:
      return new Bool();
    case 2:
      return new Int8();
    case 3:
      return new Int16();
    case 4:
      return new Int32();
    case 5:
      return new Int64();
    case 6:
      return new Uint8();
    case 7:
      return new Uint16();
    case 8:
      return new Uint32();
    case 9:
      return new Uint64();
    case 10:
      return new Float32();
    case 11:
    case 16: // HUGEINT
    case 32: // UHUGEINT
    case 19: // DECIMAL
      return new Float64();
    case 17: // VARCHAR
    case 23: // ENUM
    case 27: // UUID
      return new Utf8();
    case 18:
      return new Binary();
    case 13:
      return new DateDay();
    case 12:
    case 20:
    case 21:
    case 22:
    case 31:
      return new TimestampMillisecond();
    case 24: // LIST
    case 33: // ARRAY
      return new List(new Field('item', arrowTypeOf(t.valueType!, column), true));
    case 36: // SQLNULL (e.g. SELECT NULL)
      return new Int32();
    default:
      throw new Error(`SQL result column "${column}": DuckDB type id ${t.typeId} has no Arrow mapping here; CAST it (e.g. to VARCHAR)`);
  }
}

function jsValue(value: unknown, type: DataType): unknown {
  if (value === null || value === undefined) return null;
  if (type.typeId === Type.Float && typeof value === 'bigint') return Number(value);
  if (type.typeId === Type.Date || type.typeId === Type.Timestamp) return value instanceof Date ? value : new Date(Number(value));
  if (type.typeId === Type.List) return (value as unknown[]).map((v) => jsValue(v, (type as List).children[0].type));
  return value;
}

type NodeApi = typeof import('@duckdb/node-api');
type NodeInstance = InstanceType<NodeApi['DuckDBInstance']>;
type NodeConnection = Awaited<ReturnType<NodeInstance['connect']>>;
type NodeAppender = Awaited<ReturnType<NodeConnection['createAppender']>>;
type NodeDuckType = Parameters<NodeApi['LIST']>[0];

export class NodeDatabase implements Database {
  /**
   * One connection runs one statement at a time: two SQL cells of a notebook query at once, and node-api
   * fails a statement started while another is pending on the same connection ("unsuccessful or closed
   * pending query result"). Every operation waits for the one before it.
   */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly api: NodeApi,
    private readonly instance: NodeInstance,
    private readonly conn: NodeConnection,
  ) {}

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Opens an in-memory database (or a file when `path` is given). node-api is loaded on first use. */
  static async open(path = ':memory:'): Promise<NodeDatabase> {
    const api: NodeApi = await import('@duckdb/node-api');
    const instance = await api.DuckDBInstance.create(path);
    return new NodeDatabase(api, instance, await instance.connect());
  }

  query(sql: string, params: SqlParam[] = []): Promise<Table> {
    return this.exclusive(() => this.queryNow(sql, params));
  }

  private async queryNow(sql: string, params: SqlParam[]): Promise<Table> {
    const reader = await this.conn.runAndReadAll(sql, params.length ? (params as never) : undefined);
    const names = reader.columnNames();
    const types = reader.columnTypes() as unknown as DuckColumnType[];
    const columns = reader.getColumnsJS();
    const vectors: Record<string, Vector> = {};
    names.forEach((name, i) => {
      const type = arrowTypeOf(types[i], name);
      vectors[name] = vectorFromArray(columns[i].map((v) => jsValue(v, type)) as never, type);
    });
    return new Table(vectors);
  }

  registerTable(name: string, table: Table): Promise<void> {
    return this.exclusive(() => this.registerNow(name, table));
  }

  private async registerNow(name: string, table: Table): Promise<void> {
    const cols = table.schema.fields.map((f) => `${quoteIdent(f.name)} ${duckTypeOf(f.type, `${name}.${f.name}`)}`);
    await this.conn.run(`CREATE OR REPLACE TABLE ${quoteIdent(name)} (${cols.join(', ')})`);
    if (table.numRows === 0) return;
    const appender = await this.conn.createAppender(name);
    const fields = table.schema.fields;
    const vectors = fields.map((f) => table.getChild(f.name)!);
    const appendFns = fields.map((f) => this.appendFor(appender, f.type));
    for (let r = 0; r < table.numRows; r++) {
      for (let c = 0; c < fields.length; c++) {
        const v = vectors[c].get(r);
        if (v === null || v === undefined) appender.appendNull();
        else appendFns[c](v);
      }
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }

  private duckType(type: DataType): NodeDuckType {
    const api = this.api;
    switch (type.typeId) {
      case Type.Bool:
        return api.BOOLEAN;
      case Type.Int: {
        const t = type as unknown as { bitWidth: 8 | 16 | 32 | 64; isSigned: boolean };
        const signed = { 8: api.TINYINT, 16: api.SMALLINT, 32: api.INTEGER, 64: api.BIGINT };
        const unsigned = { 8: api.UTINYINT, 16: api.USMALLINT, 32: api.UINTEGER, 64: api.UBIGINT };
        return (t.isSigned ? signed : unsigned)[t.bitWidth];
      }
      case Type.Float:
        return (type as Float64).precision === 2 ? api.DOUBLE : api.FLOAT;
      case Type.List:
        return api.LIST(this.duckType((type as List).children[0].type));
      default:
        return api.VARCHAR;
    }
  }

  private appendFor(appender: NodeAppender, type: DataType): (v: unknown) => void {
    switch (type.typeId) {
      case Type.Bool:
        return (v) => appender.appendBoolean(v as boolean);
      case Type.Int: {
        const t = type as unknown as { bitWidth: 8 | 16 | 32 | 64; isSigned: boolean };
        if (t.bitWidth === 64) return t.isSigned ? (v) => appender.appendBigInt(BigInt(v as bigint)) : (v) => appender.appendUBigInt(BigInt(v as bigint));
        if (!t.isSigned) return t.bitWidth === 32 ? (v) => appender.appendUInteger(v as number) : t.bitWidth === 16 ? (v) => appender.appendUSmallInt(v as number) : (v) => appender.appendUTinyInt(v as number);
        return t.bitWidth === 32 ? (v) => appender.appendInteger(v as number) : t.bitWidth === 16 ? (v) => appender.appendSmallInt(v as number) : (v) => appender.appendTinyInt(v as number);
      }
      case Type.Float:
        return (type as Float64).precision === 2 ? (v) => appender.appendDouble(v as number) : (v) => appender.appendFloat(v as number);
      case Type.Utf8:
      case Type.LargeUtf8:
      case Type.Dictionary:
        return (v) => appender.appendVarchar(String(v));
      case Type.Binary:
        return (v) => appender.appendBlob(v as Uint8Array);
      case Type.List: {
        const listType = this.duckType(type) as Parameters<NodeAppender['appendList']>[1];
        return (v) => appender.appendList(Array.from(v as Iterable<never>), listType);
      }
      case Type.Date:
        return (v) => appender.appendValue(this.api.dateValue(Math.floor((v instanceof Date ? v.getTime() : Number(v)) / 86400000)));
      default:
        return (v) => appender.appendValue(v as never);
    }
  }
}

/** The Database for Node (notebook engine, CLI, tests). */
export function openNodeDatabase(path = ':memory:'): Promise<Database> {
  return NodeDatabase.open(path);
}

/** Registers a dataset's rows (no pixels) as a SQL table, named after the dataset unless told otherwise. */
export async function registerDataset(db: Database, dataset: { name: string; rows: Table }, tableName = dataset.name.replace(/[^A-Za-z0-9_]/g, '_')): Promise<string> {
  await db.registerTable(tableName, dataset.rows);
  return tableName;
}
