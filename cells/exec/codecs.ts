// How stage results are stored in the cache: open formats only, so an entry can be opened without
// Promptscope — Arrow IPC for tables, safetensors for arrays and weights, JSON for everything else.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../util/safetensors.ts';

export interface Codec<T> {
  encode(value: T, dir: string): Promise<void>;
  decode(dir: string): Promise<T>;
}

export function jsonCodec<T>(): Codec<T> {
  return {
    encode: (value, dir) => writeFile(join(dir, 'value.json'), JSON.stringify(value)),
    decode: async (dir) => JSON.parse(await readFile(join(dir, 'value.json'), 'utf8')) as T,
  };
}

export const arrowCodec: Codec<Table> = {
  encode: (table, dir) => writeFile(join(dir, 'table.arrow'), tableToIPC(table, 'file')),
  decode: async (dir) => tableFromIPC(await readFile(join(dir, 'table.arrow'))),
};

type Stored = Float32Array | Int32Array | Uint8Array;
const isStored = (v: unknown): v is Stored => v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array;

/**
 * A structured value: plain objects and arrays whose leaves are JSON values, Arrow tables or
 * Float32/Int32/Uint8 arrays. Tables go to `table-<i>.arrow`, arrays to one `arrays.safetensors`,
 * the skeleton to `value.json` with `{"$table": i}` / `{"$array": "a<i>"}` placeholders.
 */
export function valueCodec<T>(): Codec<T> {
  return {
    async encode(value, dir) {
      const tables: Table[] = [];
      const arrays: Record<string, TensorToWrite> = {};
      // Walk by hand: JSON.stringify would call toJSON on tables before a replacer could see them.
      const walk = (v: unknown): unknown => {
        if (v instanceof Table) {
          tables.push(v);
          return { $table: tables.length - 1 };
        }
        if (isStored(v)) {
          const name = `a${Object.keys(arrays).length}`;
          arrays[name] = { shape: [v.length], data: v };
          return { $array: name };
        }
        if (ArrayBuffer.isView(v)) throw new TypeError(`cannot cache a ${v.constructor.name}: use Float32Array, Int32Array or Uint8Array`);
        if (Array.isArray(v)) return v.map(walk);
        if (v && typeof v === 'object') {
          const proto = Object.getPrototypeOf(v);
          if (proto !== Object.prototype && proto !== null) throw new TypeError(`cannot cache an instance of ${v.constructor?.name}: give its stage its own codec`);
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
        }
        return v;
      };
      const skeleton = JSON.stringify(walk(value));
      await writeFile(join(dir, 'value.json'), skeleton ?? 'null');
      await Promise.all(tables.map((t, i) => writeFile(join(dir, `table-${i}.arrow`), tableToIPC(t, 'file'))));
      if (Object.keys(arrays).length) await writeSafetensors(join(dir, 'arrays.safetensors'), arrays);
    },
    async decode(dir) {
      const text = await readFile(join(dir, 'value.json'), 'utf8');
      const needsArrays = text.includes('"$array"');
      const file = needsArrays ? await readSafetensors(join(dir, 'arrays.safetensors')) : null;
      const tableCache = new Map<number, Table>();
      const pendingTables: number[] = [];
      JSON.parse(text, (_k, v: unknown) => {
        if (v && typeof v === 'object' && '$table' in v) pendingTables.push((v as { $table: number }).$table);
        return v;
      });
      for (const i of pendingTables) tableCache.set(i, tableFromIPC(await readFile(join(dir, `table-${i}.arrow`))));
      return JSON.parse(text, (_k, v: unknown) => {
        if (v && typeof v === 'object') {
          if ('$table' in v && Object.keys(v).length === 1) return tableCache.get((v as { $table: number }).$table);
          if ('$array' in v && Object.keys(v).length === 1) return file!.get((v as { $array: string }).$array).data;
        }
        return v;
      }) as T;
    },
  };
}
