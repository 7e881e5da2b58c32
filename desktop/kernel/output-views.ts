// Turns cell values into what the browser can show; it runs in the kernel, where the values live. The
// browser never gets live engine objects: a chart becomes its Vega-Lite spec, markdown its text, an Arrow
// table a handle the UI pages through a window of rows at a time (a 100k-row table must never travel or
// render at once), anything else bounded JSON.
import { Table } from 'apache-arrow';
import type { ColumnView, OutputView } from '../protocol.ts';
import { datasetSamples, isDatasetLike } from './thumbnails.ts';

/** Something the UI can fetch rows from by handle. */
export interface RowSource {
  numRows: number;
  columns: ColumnView[];
  rows(offset: number, limit: number): unknown[][];
}

/** Rows of an Arrow table inlined into a chart spec; past this the chart shows a prefix (said in the title). */
const MAX_CHART_ROWS = 50_000;

function isArrowTable(v: unknown): v is Table {
  if (v instanceof Table) return true;
  // A second copy of apache-arrow (another package's) fails instanceof; its tables still look like this.
  const t = v as Table | null;
  return !!t && typeof t === 'object' && typeof t.numRows === 'number' && !!t.schema && Array.isArray(t.schema.fields) && typeof t.slice === 'function';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function arrowSource(table: Table): RowSource {
  const columns = table.schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));
  return {
    numRows: table.numRows,
    columns,
    rows(offset, limit) {
      const out: unknown[][] = [];
      const end = Math.min(table.numRows, offset + limit);
      const vectors = columns.map((c) => table.getChild(c.name));
      for (let i = offset; i < end; i++) out.push(vectors.map((v) => cellValue(v?.get(i))));
      return out;
    },
  };
}

function rowsSource(rows: Record<string, unknown>[]): RowSource {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const r of rows.slice(0, 200)) for (const k of Object.keys(r)) if (!seen.has(k)) (seen.add(k), names.push(k));
  const columns = names.map((name) => {
    const sample = rows.find((r) => r[name] !== undefined && r[name] !== null)?.[name];
    return { name, type: sample === undefined ? 'null' : Array.isArray(sample) ? 'array' : typeof sample };
  });
  return {
    numRows: rows.length,
    columns,
    rows: (offset, limit) => rows.slice(offset, offset + limit).map((r) => names.map((n) => cellValue(r[n]))),
  };
}

/** One table cell as a short JSON value: long vectors (embeddings) are summarised, bigints become numbers. */
function cellValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string') return v.length > 500 ? `${v.slice(0, 500)}…` : v;
  if (typeof v === 'boolean') return v;
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return summariseArray(v as unknown as ArrayLike<number | bigint>);
  const maybeVector = v as { toArray?: () => ArrayLike<unknown> };
  if (typeof maybeVector.toArray === 'function' && !Array.isArray(v)) return summariseArray(maybeVector.toArray());
  if (Array.isArray(v)) return summariseArray(v);
  return toJsonSafe(v, { maxDepth: 2, maxItems: 8, maxString: 200 });
}

// Reads the first six elements only: copying a whole typed array first (a dataset's pixels, a feature matrix)
// made the views of a transferability run's values take 9 s of the kernel's time.
function summariseArray(a: ArrayLike<unknown>): string {
  const shown = Array.from({ length: Math.min(6, a.length) }, (_, i) => a[i]).map((x) => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toPrecision(4)) : String(x)));
  return a.length > 6 ? `[${shown.join(', ')}, … ×${a.length}]` : `[${shown.join(', ')}]`;
}

export interface JsonLimits {
  maxDepth: number;
  maxItems: number;
  maxString: number;
}

/** A JSON-safe copy with bounded size: cycles, functions, typed arrays and class instances are described. */
export function toJsonSafe(value: unknown, limits: JsonLimits = { maxDepth: 6, maxItems: 100, maxString: 20_000 }): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v === 'boolean') return v;
    if (v === undefined) return { $type: 'undefined' };
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $type: 'number', text: String(v) };
    if (typeof v === 'bigint') return { $type: 'bigint', text: v.toString() };
    if (typeof v === 'string') return v.length > limits.maxString ? `${v.slice(0, limits.maxString)}… (${v.length} characters)` : v;
    if (typeof v === 'symbol') return { $type: 'symbol', text: v.toString() };
    if (typeof v === 'function') return { $type: 'function', text: `ƒ ${v.name || '(anonymous)'}()` };
    const obj = v as object;
    if (seen.has(obj)) return { $type: 'circular' };
    if (v instanceof Date) return { $type: 'date', text: v.toISOString() };
    if (v instanceof Error) return { $type: 'error', text: `${v.name}: ${v.message}` };
    if (ArrayBuffer.isView(v)) return { $type: 'typed', text: `${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength}) ${summariseArray(v instanceof DataView ? [] : (v as unknown as ArrayLike<number>))}` };
    if (isArrowTable(v)) return { $type: 'table', text: `Table ${v.numRows} rows × ${v.numCols} columns` };
    if (depth >= limits.maxDepth) return { $type: 'more', text: Array.isArray(v) ? `Array(${v.length})` : (v.constructor?.name ?? 'Object') };
    seen.add(obj);
    try {
      if (Array.isArray(v)) {
        const items = v.slice(0, limits.maxItems).map((x) => walk(x, depth + 1));
        if (v.length > limits.maxItems) items.push({ $type: 'more', text: `… ${v.length - limits.maxItems} more items (${v.length} in all)` });
        return items;
      }
      if (v instanceof Map) return { $type: 'map', entries: walk([...v.entries()], depth + 1) };
      if (v instanceof Set) return { $type: 'set', values: walk([...v.values()], depth + 1) };
      const out: Record<string, unknown> = {};
      const keys = Object.keys(obj);
      for (const k of keys.slice(0, limits.maxItems)) out[k] = walk((obj as Record<string, unknown>)[k], depth + 1);
      if (keys.length > limits.maxItems) out['…'] = `${keys.length - limits.maxItems} more keys`;
      const name = obj.constructor?.name;
      return isPlainObject(v) || !name ? out : { $type: 'instance', class: name, fields: out };
    } finally {
      seen.delete(obj);
    }
  };
  return walk(value, 0);
}

/** Replaces Arrow tables inside a Vega-Lite spec (data.values, datasets) by arrays of row objects. */
function inlineTables(spec: unknown): unknown {
  const walk = (v: unknown): unknown => {
    if (isArrowTable(v)) {
      const n = Math.min(v.numRows, MAX_CHART_ROWS);
      const rows: Record<string, unknown>[] = [];
      const fields = v.schema.fields.map((f) => f.name);
      const vectors = fields.map((f) => v.getChild(f));
      for (let i = 0; i < n; i++) rows.push(Object.fromEntries(fields.map((f, j) => [f, cellValue(vectors[j]?.get(i))])));
      return rows;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    if (typeof v === 'bigint') return Number(v);
    return v;
  };
  return walk(spec);
}

const IMAGE_SRC = /^data:image\/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+$/;

function imageItem(v: unknown): { src: string; label?: string } | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as { src?: unknown; png?: unknown; jpeg?: unknown; label?: unknown; caption?: unknown };
  const label = typeof o.label === 'string' ? o.label : typeof o.caption === 'string' ? o.caption : undefined;
  if (o.png instanceof Uint8Array) return { src: `data:image/png;base64,${Buffer.from(o.png).toString('base64')}`, label };
  if (o.jpeg instanceof Uint8Array) return { src: `data:image/jpeg;base64,${Buffer.from(o.jpeg).toString('base64')}`, label };
  // Only inline images: the UI loads no remote content.
  if (typeof o.src === 'string' && IMAGE_SRC.test(o.src)) return { src: o.src, label };
  return null;
}

/** Registry of row sources handed out to the browser, dropped when their cell re-runs. */
export class TableRegistry {
  private readonly sources = new Map<string, RowSource>();
  private readonly byCell = new Map<number, string[]>();
  private next = 1;

  register(cellId: number, source: RowSource): string {
    const handle = `t${this.next++}`;
    this.sources.set(handle, source);
    this.byCell.get(cellId)?.push(handle) ?? this.byCell.set(cellId, [handle]);
    return handle;
  }

  dropCell(cellId: number): void {
    for (const h of this.byCell.get(cellId) ?? []) this.sources.delete(h);
    this.byCell.delete(cellId);
  }

  clear(): void {
    this.sources.clear();
    this.byCell.clear();
  }

  get(handle: string): RowSource | undefined {
    return this.sources.get(handle);
  }
}

/** One value as an output view; tables are registered under `cellId` so the UI can page them. */
export function outputView(value: unknown, cellId: number, tables: TableRegistry, label?: string): OutputView {
  const withLabel = <T extends OutputView>(o: T): T => (label ? { ...o, label } : o);
  if (isArrowTable(value)) {
    const src = arrowSource(value);
    return withLabel({ kind: 'table', handle: tables.register(cellId, src), numRows: src.numRows, columns: src.columns });
  }
  if (value && typeof value === 'object' && 'kind' in value) {
    const v = value as { kind: unknown; spec?: unknown; text?: unknown; values?: unknown; items?: unknown };
    if (v.kind === 'vega-lite' && v.spec && typeof v.spec === 'object') return withLabel({ kind: 'vega-lite', spec: inlineTables(v.spec) });
    if (v.kind === 'markdown' && typeof v.text === 'string') return withLabel({ kind: 'markdown', text: v.text });
    if (v.kind === 'metrics' && isPlainObject(v.values)) return withLabel({ kind: 'metrics', values: metricValues(v.values) });
    if (v.kind === 'image' || v.kind === 'images') {
      const list = v.kind === 'image' ? [value] : Array.isArray(v.items) ? v.items : [];
      const items = list.map(imageItem).filter((x): x is { src: string; label?: string } => x !== null);
      if (items.length) return withLabel({ kind: 'images', items });
    }
  }
  if (isDatasetLike(value)) {
    const src = arrowSource(value.rows);
    return withLabel({
      kind: 'dataset',
      name: value.name,
      images: value.rows.numRows,
      classes: value.classNames.length,
      ...(typeof value.fingerprint === 'string' ? { fingerprint: value.fingerprint } : {}),
      samples: datasetSamples(value),
      table: { handle: tables.register(cellId, src), numRows: src.numRows, columns: src.columns },
    });
  }
  // Rows of records (what SQL-minded code produces) read best as a table.
  if (Array.isArray(value) && value.length >= 2 && value.every((r) => isPlainObject(r) && Object.values(r).every(isScalar))) {
    const src = rowsSource(value as Record<string, unknown>[]);
    return withLabel({ kind: 'table', handle: tables.register(cellId, src), numRows: src.numRows, columns: src.columns });
  }
  if (isPlainObject(value) && isMetrics(value)) return withLabel({ kind: 'metrics', values: metricValues(value) });
  return withLabel({ kind: 'json', value: toJsonSafe(value) });
}

function isScalar(v: unknown): boolean {
  return v === null || v === undefined || ['number', 'string', 'boolean', 'bigint'].includes(typeof v) || v instanceof Date;
}

/** A small flat object of numbers (accuracy, loss, …) reads best as metric tiles. */
function isMetrics(o: Record<string, unknown>): boolean {
  const vals = Object.values(o);
  return vals.length > 0 && vals.length <= 24 && vals.every((v) => typeof v === 'number' || typeof v === 'string') && vals.some((v) => typeof v === 'number');
}

function metricValues(o: Record<string, unknown>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'number' && Number.isFinite(v) ? v : String(v);
  return out;
}
