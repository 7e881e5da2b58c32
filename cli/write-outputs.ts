// Writes a finished run's named values to --out: tables as CSV (+ Arrow IPC), charts as SVG + PNG (+ the
// Vega-Lite spec), markdown as .md, image grids as NAME-1.png …, numbers and plain JSON as metrics.json / NAME.json, and manifest.json
// with the provenance a collaborator needs to reproduce the numbers (model and dataset fingerprints).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Table, tableToIPC } from 'apache-arrow';
import { writeFileAtomic } from '../cells/util/atomic.ts';
import { isChart } from '../cells/plots/vegalite.ts';
import type { NotebookSession } from '../cells/engine/session.ts';
import type { Cache } from '../cells/exec/cache.ts';
import type { Pin } from '../cells/exec/types.ts';
import { chartFiles, type ChartFiles } from './chart-files.ts';

export interface RunManifest {
  notebook: string;
  notebookSha256: string;
  settings: Record<string, unknown>;
  backend?: string;
  startedAt: string;
  elapsedMs: number;
  cells: { id: number; names: string[]; status: string; runs: number; hits: number; misses: number; elapsedMs?: number; error?: string }[];
  pins: Pin[];
  stages: { stage: string; key: string; hit: boolean; ms: number }[];
  outputs: Record<string, string[]>;
  /** Outputs that could not be written; a run with any of these exits 1. */
  outputErrors?: OutputError[];
}

export interface OutputError {
  /** The notebook name whose output failed (or the run's own file: metrics.json, manifest.json). */
  name: string;
  file: string;
  error: string;
}

/** A failure to write one file of an output, naming the file. */
class WriteError extends Error {
  constructor(readonly file: string, cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}


export function toCsv(table: Table): string {
  const names = table.schema.fields.map((f) => f.name);
  const esc = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    let s = typeof v === 'object' ? JSON.stringify(typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON(): unknown }).toJSON() : v) : String(v);
    if (typeof v === 'bigint') s = v.toString();
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [names.map(esc).join(',')];
  for (const row of table) {
    const r = row as unknown as Record<string, unknown>;
    lines.push(names.map((n) => esc(r[n])).join(','));
  }
  return `${lines.join('\n')}\n`;
}

const isPlainJson = (v: unknown): boolean => {
  if (v === null || ['number', 'string', 'boolean'].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every(isPlainJson);
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    return (proto === Object.prototype || proto === null) && Object.values(v as object).every(isPlainJson);
  }
  return false;
};

/**
 * Writes every output it can and returns the manifest with the ones it could not in `outputErrors`: a run
 * whose outputs are missing has failed, and the caller must say so (a warning is easy to miss in a log,
 * and a script that reads the outputs next would fail later with a less useful message).
 */
export async function writeOutputs(session: NotebookSession, outDir: string, manifest: Omit<RunManifest, 'outputs' | 'outputErrors'>, cache?: Cache): Promise<RunManifest> {
  const errors: OutputError[] = [];
  const failed = (name: string, err: unknown, file = '') =>
    errors.push({ name, file: err instanceof WriteError ? err.file : file, error: (err as Error)?.message ?? String(err) });
  try {
    await mkdir(outDir, { recursive: true });
  } catch (err) {
    failed('--out', err, outDir);
    return { ...manifest, outputs: {}, outputErrors: errors };
  }
  const outputs: Record<string, string[]> = {};
  const metrics: Record<string, unknown> = {};
  for (const name of session.names()) {
    let value: unknown;
    try {
      value = await session.value(name);
    } catch {
      continue; // failed cells are reported in the manifest
    }
    const files: string[] = [];
    try {
      await writeOne(outDir, name, value, files, metrics, cache);
    } catch (err) {
      failed(name, err);
    }
    if (files.length) outputs[name] = files;
  }
  if (Object.keys(metrics).length) {
    await writeFileAtomic(join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 1)).catch((err) => {
      for (const name of Object.keys(metrics)) failed(name, err, 'metrics.json');
    });
  }
  const full: RunManifest = { ...manifest, outputs, outputErrors: errors };
  // The manifest lists the failures too, so it is written even when other outputs were not.
  await writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(full, null, 1)).catch((err) => failed('manifest', err, 'manifest.json'));
  return full;
}

async function writeOne(outDir: string, name: string, value: unknown, files: string[], metrics: Record<string, unknown>, cache?: Cache): Promise<void> {
  // Each file is listed once it exists, and a failure names the file it happened on.
  const put = async (file: string, data: () => string | Uint8Array | Promise<string | Uint8Array>) => {
    try {
      await writeFileAtomic(join(outDir, file), await data());
    } catch (err) {
      throw new WriteError(file, err);
    }
    files.push(file);
  };
  if (value instanceof Table) {
    await put(`${name}.csv`, () => toCsv(value));
    await put(`${name}.arrow`, () => tableToIPC(value, 'file'));
  } else if (isChart(value)) {
    // Drawn once per spec, renderers and fonts: a warm re-render takes both files from the cache.
    let drawn: ChartFiles | undefined;
    await put(`${name}.svg`, async () => (drawn = await chartFiles(value, cache)).svg);
    await put(`${name}.png`, () => drawn!.png);
    await put(`${name}.vl.json`, () => JSON.stringify(value.spec, null, 1));
  } else if (isImageGrid(value)) {
    // An image grid (imageGrid(): the explorer's thumbnails) as NAME-1.png, NAME-2.png, … in grid order.
    for (const [i, item] of value.items.entries()) await put(`${name}-${i + 1}.png`, () => item.png);
  } else if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'markdown') {
    await put(`${name}.md`, () => String((value as { text: unknown }).text));
  } else if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
    metrics[name] = value;
    files.push('metrics.json');
  } else if (value !== undefined && isPlainJson(value)) {
    await put(`${name}.json`, () => JSON.stringify(value, null, 1));
  }
}

function isImageGrid(v: unknown): v is { kind: 'images'; items: { png: Uint8Array }[] } {
  const o = v as { kind?: unknown; items?: unknown } | null;
  return !!o && typeof o === 'object' && o.kind === 'images' && Array.isArray(o.items) && o.items.every((i) => (i as { png?: unknown })?.png instanceof Uint8Array);
}
