// Manifest loader: a CSV (any delimiter) or Parquet file naming an image path and a label per row, with
// image paths relative to the manifest, inside a directory or a tar. Real case: GTSRB's test set,
// `GT-final_test.csv` (';'-separated, column ClassId) beside the PPM images in test.tar.

import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { assembleDataset, type Candidate } from './assemble.ts';
import type { Dataset, LoadOptions, SkippedFile } from './dataset.ts';
import { parseCsv } from './csv.ts';
import { nameFromPath, openRoot, type DatasetRoot } from './root.ts';

export interface ManifestOptions extends LoadOptions {
  /** The manifest: a member/file inside `root`, or a file path on disk. `.parquet` is read with DuckDB. */
  manifest: string;
  /** Directory or tar holding the images (default: the manifest's directory on disk). */
  root?: string;
  pathColumn: string;
  labelColumn: string;
  /** CSV delimiter (default: sniffed from the header line). */
  delimiter?: string;
  /**
   * Class names indexed by label. With them, labels may be integers (indices) or names; without them,
   * integer labels get names "0".."max" and string labels become the sorted distinct values.
   */
  classNames?: string[];
  /** Folder (relative to the root) the image paths are relative to; default: the manifest's folder. */
  imageDir?: string;
}

/** Reads a two-column `id,name` class list (e.g. GTSRB's classes.csv) into names indexed by id. */
export function readClassNamesCsv(path: string, idColumn?: string, nameColumn?: string): string[] {
  const table = parseCsv(readFileSync(path, 'utf8'), path);
  const idIdx = idColumn ? table.header.indexOf(idColumn) : 0;
  const nameIdx = nameColumn ? table.header.indexOf(nameColumn) : 1;
  if (idIdx < 0 || nameIdx < 0) throw new Error(`${path}: columns ${idColumn}/${nameColumn} not found (header: ${table.header.join(', ')})`);
  const names: string[] = [];
  for (const row of table.rows) {
    const id = Number(row[idIdx]);
    if (!Number.isInteger(id) || id < 0) throw new Error(`${path}: class id "${row[idIdx]}" is not a non-negative integer`);
    names[id] = row[nameIdx];
  }
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) throw new Error(`${path}: class id ${i} is missing`);
  return names;
}

async function readParquetColumns(bytesOrPath: string, columns: string[]): Promise<string[][]> {
  // DuckDB reads Parquet natively in Node; loaded lazily so CSV manifests need no native module.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const quoted = columns.map((c) => `CAST("${c.replace(/"/g, '""')}" AS VARCHAR)`).join(', ');
    const reader = await conn.runAndReadAll(`SELECT ${quoted} FROM read_parquet($1)`, [bytesOrPath]);
    return reader.getRowsJS().map((r) => r.map((v) => (v === null ? '' : String(v))));
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function joinPath(dir: string, file: string): string {
  const parts = (dir ? `${dir}/${file}` : file).split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out.join('/');
}

export async function loadManifest(opts: ManifestOptions): Promise<Dataset> {
  const rootPath = opts.root ?? dirname(opts.manifest);
  const root: DatasetRoot = openRoot(rootPath);
  try {
    // The manifest is looked up inside the root first (tar member), then on disk.
    const inRoot = root.has(opts.manifest);
    if (!inRoot && !existsSync(opts.manifest)) throw new Error(`${root.where(opts.manifest)}: manifest not found (neither in the root nor on disk)`);
    const manifestLabel = inRoot ? root.where(opts.manifest) : opts.manifest;
    const manifestDir = inRoot ? dirname(opts.manifest).replace(/^\.$/, '') : '';
    const imageDir = opts.imageDir ?? manifestDir;

    let header: string[];
    let records: string[][];
    if (/\.parquet$/i.test(opts.manifest)) {
      if (inRoot) throw new Error(`${manifestLabel}: a Parquet manifest must be a file on disk, not inside an archive`);
      header = [opts.pathColumn, opts.labelColumn];
      records = await readParquetColumns(opts.manifest, header);
    } else {
      const text = new TextDecoder().decode(inRoot ? root.read(opts.manifest) : readFileSync(opts.manifest));
      const table = parseCsv(text, manifestLabel, opts.delimiter);
      header = table.header;
      records = table.rows;
    }
    const pathIdx = header.indexOf(opts.pathColumn);
    const labelIdx = header.indexOf(opts.labelColumn);
    if (pathIdx < 0) throw new Error(`${manifestLabel}: no column "${opts.pathColumn}" (columns: ${header.join(', ')})`);
    if (labelIdx < 0) throw new Error(`${manifestLabel}: no column "${opts.labelColumn}" (columns: ${header.join(', ')})`);

    const rawLabels = records.map((r) => r[labelIdx].trim());
    const allIntegers = rawLabels.every((l) => /^-?\d+$/.test(l));
    let classNames = opts.classNames;
    if (!classNames) {
      if (allIntegers) {
        const max = Math.max(...rawLabels.map(Number));
        classNames = Array.from({ length: max + 1 }, (_, i) => String(i));
      } else {
        classNames = [...new Set(rawLabels)].sort();
      }
    }
    const byName = new Map(classNames.map((c, i) => [c, i]));
    const problems: SkippedFile[] = [];
    const candidates: Candidate[] = [];
    records.forEach((record, i) => {
      const file = joinPath(imageDir, record[pathIdx].trim());
      const raw = rawLabels[i];
      let label = /^-?\d+$/.test(raw) ? Number(raw) : byName.get(raw);
      if (label === undefined) {
        problems.push({ source: file, reason: `${manifestLabel} row ${i + 1} (${file}): label "${raw}" is not one of the ${classNames.length} class names` });
        return;
      }
      candidates.push({ source: file, label, offset: root.offsetOf(file), where: root.where(file), read: () => root.read(file) });
    });
    return assembleDataset({
      name: opts.name ?? nameFromPath(rootPath),
      classNames,
      multiLabel: false,
      split: opts.split ?? 'all',
      candidates,
      origin: root.origin,
      onError: opts.onError ?? 'error',
      denseLimitBytes: opts.denseLimitBytes,
      classWhere: classNames.map((c, k) => `${manifestLabel} (class ${k} "${c}")`),
      listingProblems: problems,
    });
  } finally {
    root.close();
  }
}
