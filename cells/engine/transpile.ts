// One cell's source → notebook-kit's transpiled function body, with the names it reads and defines.
// Transpiling a cell takes a millisecond; loading notebook-kit takes most of a second, because its entry
// point imports the whole TypeScript compiler (for TypeScript cells, a mode Promptscope does not have):
// measured 0.8 s of a 3 s `promptscope run` of hello.html (bench/edit-answer.ts). The result depends
// only on the cell's text, so it is kept by content: in memory, so a session's edits re-transpile only the
// cell that changed, and on disk beside the cache, so a process that opens a notebook it has run before
// never loads notebook-kit at all. A second store belongs to the installation (node_modules/.cache), so
// a run on a new, empty cache (a fresh --cache folder, `cache clear`, bench/learners.ts) does not pay
// for notebook-kit either once any run on this install has transpiled the same cell text (#22).
import { mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { transpile as kitTranspile } from '@observablehq/notebook-kit';
import { sha256 } from '../util/hash.ts';
import { tempPathFor } from '../util/atomic.ts';
import type { NotebookCell } from './notebook.ts';

/** What compile.ts uses of notebook-kit's answer. */
export interface Transpiled {
  body: string;
  inputs: string[];
  outputs?: string[];
  output?: string;
}

const KIT_ENTRY = fileURLToPath(import.meta.resolve('@observablehq/notebook-kit'));
// The key names the notebook-kit release: another one may transpile the same text differently.
const KIT_VERSION = (JSON.parse(readFileSync(join(dirname(KIT_ENTRY), '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
/** Bump when the stored form changes. */
const FORMAT = 1;
/** Enough for every cell of a few large notebooks and a long editing session; oldest entries go first. */
const MEMORY_ENTRIES = 4096;

let transpile: typeof kitTranspile | undefined;
// Node ≥ 20.19 loads an ES module synchronously with require(); compiling stays synchronous (a session
// validates its notebook in its constructor). Where it cannot, notebook-kit is loaded up front, as before.
if (!(process.features as { require_module?: boolean }).require_module) {
  transpile = (await import('@observablehq/notebook-kit')).transpile;
}

function kit(): typeof kitTranspile {
  transpile ??= (createRequire(import.meta.url)(KIT_ENTRY) as { transpile: typeof kitTranspile }).transpile;
  return transpile;
}

const memory = new Map<string, Transpiled>();

/** The installation's store, shared by every cache: results depend only on the cell text and the kit's version. */
export const INSTALL_STORE = fileURLToPath(new URL('../../node_modules/.cache/promptscope/transpiled/', import.meta.url));

function keyOf(cell: NotebookCell): string {
  return sha256(JSON.stringify([FORMAT, KIT_VERSION, cell.id, cell.mode, cell.output ?? null, cell.value]));
}

function isTranspiled(t: unknown): t is Transpiled {
  const x = t as Transpiled;
  return !!x && typeof x.body === 'string' && Array.isArray(x.inputs) && (x.outputs === undefined || Array.isArray(x.outputs)) &&
    (x.output === undefined || typeof x.output === 'string');
}

function readStored(file: string): Transpiled | undefined {
  try {
    const t: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isTranspiled(t) ? t : undefined;
  } catch {
    return undefined; // absent, unreadable or torn: transpile again and overwrite it
  }
}

function store(file: string, t: Transpiled): void {
  const tmp = tempPathFor(file);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, JSON.stringify(t));
    renameSync(tmp, file);
  } catch {
    // A read-only or full cache only costs the next process the transpiler's load.
    rmSync(tmp, { force: true });
  }
}

function remember(key: string, t: Transpiled): Transpiled {
  if (memory.size >= MEMORY_ENTRIES) memory.delete(memory.keys().next().value!);
  memory.set(key, t);
  return t;
}

/**
 * notebook-kit's transpilation of `cell`. `dir` is where results are kept between processes (the cache's
 * `transpiled` folder); without it only this process remembers them. Syntax errors are thrown as
 * notebook-kit throws them, and never stored.
 */
export function transpileCell(cell: NotebookCell, dir?: string, installStore: string | null = INSTALL_STORE): Transpiled {
  const key = keyOf(cell);
  const known = memory.get(key);
  if (known) return known;
  const file = dir ? join(dir, key.slice(0, 2), `${key}.json`) : undefined;
  const stored = file ? readStored(file) : undefined;
  if (stored) return remember(key, stored);
  const shared = installStore ? join(installStore, key.slice(0, 2), `${key}.json`) : undefined;
  const fromInstall = shared ? readStored(shared) : undefined;
  if (fromInstall) {
    if (file) store(file, fromInstall);
    return remember(key, fromInstall);
  }
  const t = kit()({ id: cell.id, value: cell.value, mode: cell.mode, pinned: false, hidden: false, output: cell.output });
  const kept: Transpiled = { body: t.body, inputs: t.inputs ?? [], outputs: t.outputs, output: t.output };
  if (file) store(file, kept);
  if (shared) store(shared, kept);
  return remember(key, kept);
}

/** Where a cache at `root` keeps transpiled cells. */
export function transpiledDir(root: string): string {
  return join(root, 'transpiled');
}
