// Notebook trust, as Jupyter does it: a notebook runs only if the sha256 of its exact bytes is in the
// user's trust store (or it ships inside this package, whose code the user already runs). Any edit by
// someone else changes the hash and so revokes trust; saving from our own UI re-trusts what the user wrote.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve, relative, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/atomic.ts';
import { notebookHash } from './notebook.ts';

const PACKAGE_NOTEBOOKS = fileURLToPath(new URL('../../notebooks/', import.meta.url));

export function defaultTrustStorePath(): string {
  if (process.env.PROMPTSCOPE_TRUST_STORE) return process.env.PROMPTSCOPE_TRUST_STORE;
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'promptscope', 'trusted.json');
}

interface StoreFile {
  hashes: Record<string, { path: string; trustedAt: string }>;
}

export class TrustStore {
  constructor(readonly path: string = defaultTrustStorePath()) {}

  private async load(): Promise<StoreFile> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as StoreFile;
      return parsed && typeof parsed.hashes === 'object' ? parsed : { hashes: {} };
    } catch {
      return { hashes: {} };
    }
  }

  async isTrusted(text: string, filePath?: string): Promise<boolean> {
    if (filePath && isShipped(filePath)) return true;
    return notebookHash(text) in (await this.load()).hashes;
  }

  async trust(text: string, filePath = ''): Promise<void> {
    const store = await this.load();
    store.hashes[notebookHash(text)] = { path: filePath, trustedAt: new Date().toISOString() };
    await writeFileAtomic(this.path, JSON.stringify(store, null, 1));
  }
}

function isShipped(filePath: string): boolean {
  const rel = relative(PACKAGE_NOTEBOOKS, resolve(filePath));
  return !!rel && !rel.startsWith('..') && !isAbsolute(rel);
}
