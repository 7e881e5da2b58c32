// One open notebook behind the server: its file, its trust, the running session (if trusted) and the
// views of its cells that browsers are sent. Every UI action is a method here; the HTTP layer only
// validates payloads and calls them. The session is only created once the notebook is trusted, so an
// untrusted notebook is shown read-only and none of its code is even compiled.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Cache } from '../../cells/exec/cache.ts';
import { NotebookError } from '../../cells/engine/compile.ts';
import type { InputSpec } from '../../cells/engine/inputs.ts';
import { notebookHash, parseNotebook, serializeNotebook, type CellMode, type Notebook } from '../../cells/engine/notebook.ts';
import { NotebookSession, type CellState, type CellStatus } from '../../cells/engine/session.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { writeFileAtomic } from '../../cells/util/atomic.ts';
import { outputView, TableRegistry, type OutputView } from './outputs.ts';
import { BadRequest } from './validate.ts';

export interface CellSource {
  id: number;
  mode: CellMode;
  value: string;
  /** Line of the cell's first source line in the file (0 for cells added since): maps error lines to editor lines. */
  line: number;
  output?: string;
  hidden?: boolean;
  pinned?: boolean;
}

/** What a browser is sent of a cell: the engine's state, with outputs rendered for the page instead of raw values. */
export interface CellView extends Omit<CellState, 'displayed'> {
  /** Present once the cell settled; absent on running/stale updates (the UI keeps the last outputs). */
  outputs?: OutputView[];
}

export interface NotebookView {
  path: string;
  file: string;
  title: string;
  trusted: boolean;
  /** True while edits have not been saved. */
  dirty: boolean;
  /** Why the notebook cannot run (a compile error), when it cannot. */
  problem?: { message: string; cellId?: number; line?: number };
  cells: CellSource[];
  states: CellView[];
}

export type HostEvent =
  | { type: 'cell'; cell: CellView }
  | { type: 'notebook'; notebook: NotebookView }
  | { type: 'log'; cellId?: number; message: string };

export interface HostOptions {
  notebookPath: string;
  cache: Cache;
  builtins: Record<string, unknown>;
  trustStore: TrustStore;
}

const SETTLED: CellStatus[] = ['fresh', 'cached', 'error', 'cancelled', 'idle'];
/** Progress updates can arrive per batch; browsers get at most one per cell per interval. */
const PROGRESS_INTERVAL_MS = 50;
const VALUE_TIMEOUT_MS = 5_000;

export class NotebookHost {
  readonly path: string;
  notebook: Notebook;
  trusted: boolean;
  dirty = false;
  session: NotebookSession | null = null;
  problem: NotebookView['problem'];
  private diskHash: string | null;
  private readonly options: HostOptions;
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private readonly tables = new TableRegistry();
  private readonly views = new Map<number, CellView>();
  private readonly latest = new Map<number, number>();
  private readonly pending = new Map<number, { seq: number; view: CellView }>();
  private flushTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private unsubscribe: (() => void) | null = null;

  private constructor(options: HostOptions, notebook: Notebook, diskHash: string | null, trusted: boolean) {
    this.options = options;
    this.path = resolve(options.notebookPath);
    this.notebook = notebook;
    this.diskHash = diskHash;
    this.trusted = trusted;
  }

  /** Opens the file (a missing file starts a new, trusted notebook that the first save creates). */
  static async open(options: HostOptions): Promise<NotebookHost> {
    const path = resolve(options.notebookPath);
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === null) {
      const title = basename(path).replace(/\.html?$/i, '');
      const nb: Notebook = { title, theme: 'air', cells: [{ id: 1, mode: 'md', value: `# ${title}`, line: 0 }] };
      const host = new NotebookHost(options, nb, null, true);
      host.dirty = true;
      host.startSession();
      return host;
    }
    const nb = parseNotebook(text, path);
    const trusted = await options.trustStore.isTrusted(text, path);
    const host = new NotebookHost(options, nb, notebookHash(text), trusted);
    if (trusted) host.startSession();
    return host;
  }

  on(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: HostEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A broken client connection must not stop the others.
      }
    }
  }

  view(): NotebookView {
    return {
      path: this.path,
      file: basename(this.path),
      title: this.notebook.title,
      trusted: this.trusted,
      dirty: this.dirty,
      ...(this.problem ? { problem: this.problem } : {}),
      cells: this.notebook.cells.map((c) => ({
        id: c.id,
        mode: c.mode,
        value: c.value,
        line: c.line,
        ...(c.output ? { output: c.output } : {}),
        ...(c.hidden ? { hidden: true } : {}),
        ...(c.pinned ? { pinned: true } : {}),
      })),
      states: this.notebook.cells.map((c) => this.views.get(c.id) ?? idleView(c.id, c.mode)),
    };
  }

  private broadcastNotebook(): void {
    this.emit({ type: 'notebook', notebook: this.view() });
  }

  private requireSession(what: string): NotebookSession {
    if (!this.trusted) throw new BadRequest(`${what}: this notebook is not trusted, so none of its code runs. Read it, then click Trust.`, 409);
    if (!this.session) throw new BadRequest(`${what}: the notebook cannot run: ${this.problem?.message ?? 'it failed to compile'}`, 409);
    return this.session;
  }

  private requireCell(id: number, what: string): void {
    if (!this.notebook.cells.some((c) => c.id === id)) throw new BadRequest(`${what}: no cell ${id} in ${basename(this.path)}`, 404);
  }

  /** Creates and starts the session; a notebook that does not compile is kept, with the problem shown. */
  private startSession(settings?: Record<string, unknown>): void {
    this.stopSession();
    try {
      this.session = new NotebookSession(this.notebook, { cache: this.options.cache, builtins: this.options.builtins, settings });
      this.problem = undefined;
    } catch (err) {
      this.session = null;
      const e = err as NotebookError;
      this.problem = { message: e.message, ...(e.cellId ? { cellId: e.cellId } : {}), ...(e.line ? { line: e.line } : {}) };
      return;
    }
    const session = this.session;
    this.unsubscribe = session.on((e) => {
      if (this.session !== session) return;
      if (e.type === 'cell') this.onCell(e.cell);
      else if (e.type === 'log') {
        // Send the cell's pending "running" state first: the UI starts a fresh log when a run starts.
        this.flush();
        this.emit({ type: 'log', cellId: e.cellId, message: e.message });
      }
    });
    session.start();
  }

  private stopSession(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.session?.dispose();
    this.session = null;
    this.tables.clear();
    this.views.clear();
    this.pending.clear();
    this.latest.clear();
  }

  private onCell(state: CellState): void {
    const seq = ++this.seq;
    this.latest.set(state.id, seq);
    const view = stateView(state);
    if (SETTLED.includes(state.status) && state.status !== 'idle') {
      this.pending.delete(state.id);
      const displayed = [...state.displayed];
      void this.outputsFor(view, displayed).then((outputs) => {
        if (this.latest.get(state.id) !== seq) return;
        view.outputs = outputs;
        this.views.set(view.id, view);
        // Queued running/stale updates of other cells happened before this one: keep that order.
        this.flush();
        this.emit({ type: 'cell', cell: view });
      });
      return;
    }
    // Running/stale: keep the last outputs on record, send the new status (coalesced).
    const previous = this.views.get(view.id);
    this.views.set(view.id, { ...view, ...(previous?.outputs ? { outputs: previous.outputs } : {}) });
    this.pending.set(state.id, { seq, view });
    this.flushTimer ??= setTimeout(() => this.flush(), PROGRESS_INTERVAL_MS);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const { seq, view } of batch) if (this.latest.get(view.id) === seq) this.emit({ type: 'cell', cell: view });
  }

  private async outputsFor(view: CellView, displayed: unknown[]): Promise<OutputView[]> {
    this.tables.dropCell(view.id);
    if (view.status === 'error' || view.status === 'cancelled') return [];
    const out = displayed.map((v) => outputView(v, view.id, this.tables));
    if (out.length || view.input || !this.session) return out;
    const session = this.session;
    for (const name of view.names) {
      try {
        const value = await withTimeout(session.value(name), VALUE_TIMEOUT_MS);
        out.push(outputView(value, view.id, this.tables, name));
      } catch {
        // The value failed or is recomputing; the cell's own status says so.
      }
    }
    return out;
  }

  tableRows(handle: string, offset: number, limit: number): { numRows: number; offset: number; rows: unknown[][] } {
    const src = this.tables.get(handle);
    if (!src) throw new BadRequest(`no table "${handle}" (its cell re-ran or the notebook restarted; reload the output)`, 404);
    return { numRows: src.numRows, offset, rows: src.rows(offset, limit) };
  }

  // ---- actions -------------------------------------------------------------------------------

  async trust(): Promise<void> {
    if (this.trusted) return;
    // Trust exactly what the user was shown. If the file changed on disk since, show the new text and
    // ask again, rather than trusting code nobody has read.
    const text = await readFile(this.path, 'utf8');
    if (notebookHash(text) !== this.diskHash) {
      this.notebook = parseNotebook(text, this.path);
      this.diskHash = notebookHash(text);
      this.broadcastNotebook();
      throw new BadRequest(`trust: ${basename(this.path)} changed on disk since it was shown; it has been reloaded — read it again, then click Trust`, 409);
    }
    await this.options.trustStore.trust(text, this.path);
    this.trusted = true;
    this.startSession();
    this.broadcastNotebook();
  }

  edit(id: number, value: string): void {
    const what = `edit cell ${id}`;
    this.requireCell(id, what);
    this.mutate(what, (s) => s.setCell(id, value), (nb) => ({ ...nb, cells: nb.cells.map((c) => (c.id === id ? { ...c, value } : c)) }));
  }

  add(mode: CellMode, value: string, after?: number, output?: string): number {
    if (after !== undefined) this.requireCell(after, 'add cell');
    let id = 0;
    this.mutate(
      'add cell',
      (s) => {
        id = s.addCell(mode, value, after, output);
      },
      (nb) => {
        id = nb.cells.reduce((m, c) => Math.max(m, c.id), 0) + 1;
        const cells = [...nb.cells];
        const at = after === undefined ? cells.length : cells.findIndex((c) => c.id === after) + 1;
        cells.splice(at, 0, { id, mode, value, line: 0, ...(output ? { output } : {}) });
        return { ...nb, cells };
      },
    );
    return id;
  }

  remove(id: number): void {
    const what = `remove cell ${id}`;
    this.requireCell(id, what);
    this.mutate(what, (s) => s.removeCell(id), (nb) => ({ ...nb, cells: nb.cells.filter((c) => c.id !== id) }));
  }

  /**
   * Applies an edit through the running session (only dependents recompute), or — when the notebook
   * did not compile and so has no session — to the notebook itself, then tries to start it again.
   */
  private mutate(what: string, withSession: (s: NotebookSession) => void, withoutSession: (nb: Notebook) => Notebook): void {
    if (!this.trusted) this.requireSession(what);
    if (this.session) {
      try {
        withSession(this.session);
      } catch (err) {
        if (err instanceof NotebookError) throw new BadRequest(`${what}: ${err.message}`);
        throw err;
      }
      this.notebook = this.session.notebook;
      for (const id of [...this.views.keys()]) if (!this.notebook.cells.some((c) => c.id === id)) this.views.delete(id);
    } else {
      this.notebook = withoutSession(this.notebook);
      this.startSession();
    }
    this.dirty = true;
    this.broadcastNotebook();
  }

  runCell(id: number): void {
    const session = this.requireSession(`run cell ${id}`);
    this.requireCell(id, `run cell ${id}`);
    session.runCell(id);
  }

  runAll(): void {
    const session = this.requireSession('run all');
    // Redefinitions in one tick coalesce: each cell computes once.
    for (const c of this.notebook.cells) session.runCell(c.id);
  }

  cancel(id: number): boolean {
    const session = this.requireSession(`cancel cell ${id}`);
    this.requireCell(id, `cancel cell ${id}`);
    return session.cancel(id);
  }

  setInput(name: string, value: unknown): void {
    const session = this.requireSession(`set input ${name}`);
    try {
      session.setInput(name, value);
    } catch (err) {
      throw new BadRequest((err as Error).message);
    }
  }

  /** A fresh session on the current cells, keeping input values; stages come back from the cache. */
  restart(): void {
    this.requireSession('restart');
    const settings = Object.fromEntries(this.session!.inputs().map((i) => [i.name, i.spec.value]));
    this.startSession(settings);
    this.broadcastNotebook();
  }

  /** Writes the notebook atomically and trusts what was written (the user wrote it). */
  async save(force: boolean): Promise<{ path: string; bytes: number }> {
    if (!this.trusted) throw new BadRequest('save: trust the notebook before saving it from here', 409);
    if (this.diskHash !== null && !force) {
      const onDisk = await readFile(this.path, 'utf8').then(notebookHash, () => null);
      if (onDisk !== null && onDisk !== this.diskHash) {
        throw new BadRequest(`save: ${basename(this.path)} changed on disk since it was opened; reload it, or save with force to overwrite`, 409);
      }
    }
    const text = serializeNotebook(this.notebook);
    await writeFileAtomic(this.path, text);
    await this.options.trustStore.trust(text, this.path);
    this.diskHash = notebookHash(text);
    this.dirty = false;
    this.broadcastNotebook();
    return { path: this.path, bytes: Buffer.byteLength(text) };
  }

  async cacheInfo(): Promise<{ root: string; entries: number; bytes: number; stages: { stage: string; entries: number; bytes: number }[] }> {
    const list = await this.options.cache.list();
    const stages = new Map<string, { stage: string; entries: number; bytes: number }>();
    for (const e of list) {
      const s = stages.get(e.stage) ?? { stage: e.stage, entries: 0, bytes: 0 };
      s.entries++;
      s.bytes += e.bytes;
      stages.set(e.stage, s);
    }
    return {
      root: this.options.cache.root,
      entries: list.length,
      bytes: list.reduce((a, e) => a + e.bytes, 0),
      stages: [...stages.values()].sort((a, b) => b.bytes - a.bytes),
    };
  }

  async clearCache(): Promise<void> {
    await this.options.cache.clear();
  }

  dispose(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.stopSession();
    this.listeners.clear();
  }
}

function idleView(id: number, mode: CellMode): CellView {
  return { id, mode, names: [], status: 'idle', runs: 0, hits: 0, misses: 0 };
}

function stateView(s: CellState): CellView {
  return {
    id: s.id,
    mode: s.mode,
    names: [...s.names],
    status: s.status,
    runs: s.runs,
    hits: s.hits,
    misses: s.misses,
    ...(s.progress ? { progress: { ...s.progress } } : {}),
    ...(s.error ? { error: { ...s.error } } : {}),
    ...(s.elapsedMs !== undefined ? { elapsedMs: s.elapsedMs } : {}),
    ...(s.input ? { input: { name: s.input.name, spec: JSON.parse(JSON.stringify(s.input.spec)) as InputSpec } } : {}),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]);
}
