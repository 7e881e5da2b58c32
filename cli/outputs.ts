// Writes a finished run's named values to --out: tables as CSV (+ Arrow IPC), charts as SVG + PNG (+ the
// Vega-Lite spec), markdown as .md, numbers and plain JSON as metrics.json / NAME.json, and manifest.json
// with the provenance a collaborator needs to reproduce the numbers (model and dataset fingerprints).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Table, tableToIPC } from 'apache-arrow';
import { writeFileAtomic } from '../cells/util/atomic.ts';
import { isChart, renderSvg, svgToPng } from '../cells/plots/vegalite.ts';
import type { NotebookSession } from '../cells/engine/session.ts';
import type { Pin } from '../cells/exec/stage.ts';

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

export async function writeOutputs(session: NotebookSession, outDir: string, manifest: Omit<RunManifest, 'outputs'>): Promise<RunManifest> {
  await mkdir(outDir, { recursive: true });
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
      await writeOne(outDir, name, value, files, metrics);
    } catch (err) {
      process.stderr.write(`warning: output "${name}" could not be written: ${(err as Error).message}\n`);
    }
    if (files.length) outputs[name] = files;
  }
  if (Object.keys(metrics).length) await writeFileAtomic(join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 1));
  const full: RunManifest = { ...manifest, outputs };
  await writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(full, null, 1));
  return full;
}

async function writeOne(outDir: string, name: string, value: unknown, files: string[], metrics: Record<string, unknown>): Promise<void> {
  {
    if (value instanceof Table) {
      await writeFileAtomic(join(outDir, `${name}.csv`), toCsv(value));
      await writeFileAtomic(join(outDir, `${name}.arrow`), tableToIPC(value, 'file'));
      files.push(`${name}.csv`, `${name}.arrow`);
    } else if (isChart(value)) {
      const svg = await renderSvg(value);
      await writeFileAtomic(join(outDir, `${name}.svg`), svg);
      await writeFileAtomic(join(outDir, `${name}.png`), svgToPng(svg));
      await writeFileAtomic(join(outDir, `${name}.vl.json`), JSON.stringify(value.spec, null, 1));
      files.push(`${name}.svg`, `${name}.png`, `${name}.vl.json`);
    } else if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'markdown') {
      await writeFileAtomic(join(outDir, `${name}.md`), String((value as { text: unknown }).text));
      files.push(`${name}.md`);
    } else if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
      metrics[name] = value;
      files.push('metrics.json');
    } else if (value !== undefined && isPlainJson(value)) {
      await writeFileAtomic(join(outDir, `${name}.json`), JSON.stringify(value, null, 1));
      files.push(`${name}.json`);
    }
  }
}
