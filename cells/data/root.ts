// A dataset root that is either a directory or a tar archive, behind one listing/reading interface,
// so every loader accepts both layouts (`root/<class>/<img>` on disk or inside `train.tar`).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import type { DatasetOrigin } from './dataset.ts';
import { TarArchive } from './tar.ts';

export interface DatasetRoot {
  /** The path as given (for error messages). */
  readonly path: string;
  readonly origin: DatasetOrigin;
  /** Every regular file, as a '/'-separated path relative to the root, sorted. */
  files(): string[];
  /** Every directory (relative, no trailing slash), sorted; tar archives list those with explicit entries or files. */
  directories(): string[];
  has(file: string): boolean;
  /** Byte offset of the file's data (0 for plain files, the member offset inside a tar). */
  offsetOf(file: string): number;
  read(file: string): Uint8Array;
  /** How to name `file` in an error message. */
  where(file: string): string;
  close(): void;
}

export function isTarPath(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(path);
}

export function openRoot(path: string): DatasetRoot {
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
  if (statSync(path).isDirectory()) return new DirRoot(path);
  if (isTarPath(path)) return new TarRoot(path);
  throw new Error(`${path}: expected a directory or a .tar / .tar.gz archive`);
}

/** Default dataset name from its path: 'cifar10/test.tar' → 'cifar10-test'. */
export function nameFromPath(path: string): string {
  const base = basename(path).replace(/\.(tar\.gz|tgz|tar)$/i, '');
  const parent = basename(join(path, '..'));
  return parent && parent !== '.' && parent !== base ? `${parent}-${base}` : base;
}

class DirRoot implements DatasetRoot {
  readonly origin: DatasetOrigin;
  private listing?: { files: string[]; dirs: string[] };
  constructor(readonly path: string) {
    this.origin = { kind: 'dir', root: path };
  }
  private walk(): { files: string[]; dirs: string[] } {
    if (this.listing) return this.listing;
    const files: string[] = [];
    const dirs: string[] = [];
    for (const entry of readdirSync(this.path, { recursive: true, withFileTypes: true })) {
      const rel = relative(this.path, join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)).split(sep).join('/');
      if (entry.isDirectory()) dirs.push(rel);
      else if (entry.isFile()) files.push(rel);
    }
    files.sort();
    dirs.sort();
    this.listing = { files, dirs };
    return this.listing;
  }
  files(): string[] {
    return this.walk().files;
  }
  directories(): string[] {
    return this.walk().dirs;
  }
  has(file: string): boolean {
    return existsSync(join(this.path, file));
  }
  offsetOf(): number {
    return 0;
  }
  read(file: string): Uint8Array {
    try {
      return readFileSync(join(this.path, file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${this.where(file)}: ${code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? (err as Error).message})`}`);
    }
  }
  where(file: string): string {
    return join(this.path, file);
  }
  close(): void {}
}

class TarRoot implements DatasetRoot {
  readonly origin: DatasetOrigin;
  private readonly archive: TarArchive;
  constructor(readonly path: string) {
    this.archive = TarArchive.open(path);
    this.origin = { kind: 'tar', path };
  }
  files(): string[] {
    return this.archive.entries.map((e) => e.name).sort();
  }
  directories(): string[] {
    const dirs = new Set(this.archive.directories);
    for (const e of this.archive.entries) {
      const parts = e.name.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    return [...dirs].sort();
  }
  has(file: string): boolean {
    return this.archive.get(file) !== undefined;
  }
  offsetOf(file: string): number {
    return this.archive.get(file)?.offset ?? -1;
  }
  read(file: string): Uint8Array {
    const entry = this.archive.get(file);
    if (!entry) throw new Error(`${this.where(file)}: file not found in the archive`);
    return this.archive.read(entry);
  }
  where(file: string): string {
    return `${this.path}:${file}`;
  }
  close(): void {
    this.archive.close();
  }
}
