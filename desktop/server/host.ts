// One open notebook behind the server: its file, its trust, the kernel that runs it and the views of its
// cells that browsers are sent. Every UI action is a method here; the HTTP layer only validates payloads
// and calls them. No cell runs in this process: the kernel (desktop/kernel, a child process) does, so a
// cell that never returns cannot stop the server from answering. The kernel is only started once the
// notebook is trusted, so an untrusted notebook is shown read-only and none of its code is compiled.
//
// Interrupt and Restart: Cancel (one cell) and Interrupt (every running cell) ask the kernel to abort;
// a cell stuck in synchronous code cannot hear that, so when the kernel has not answered within
// INTERRUPT_GRACE_MS it is killed and a new one started, with the stuck cell *held* (not run again until
// the user runs it) and everything else recomputed, finished stages from the cache. A kernel that dies on
// its own is reported with the reason, and the next action starts a new one.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Cache } from '../../cells/exec/cache.ts';
import { notebookHash, parseNotebook, serializeNotebook, type CellMode, type Notebook } from '../../cells/engine/notebook.ts';
import type { TrustStore } from '../../cells/engine/trust.ts';
import { writeFileAtomic } from '../../cells/util/atomic.ts';
import type { CacheInfo, CellView, KernelCall, KernelCalls, KernelEvent, KernelSnapshot, KernelView, NotebookView, Problem, RunSettings, ServerEvent, TableRows } from '../protocol.ts';
import { KernelCallError, KernelGone, KernelProcess, KernelTimeout, type KernelExit } from './kernel.ts';
import { BadRequest } from './validate.ts';

export interface HostOptions {
  notebookPath: string;
  cache: Cache;
  /** The kernel's entry module; default desktop/kernel/kernel-process.ts, the full cell library. */
  kernelEntry?: string;
  trustStore: TrustStore;
  /** Extra Node flags for kernel processes (tests give them a small heap). */
  kernelExecArgv?: string[];
  /** Where heavy stages run until the UI's run settings change it (default: local). */
  run?: RunSettings;
}

/** How long a cell has to obey Cancel/Interrupt before its kernel is replaced. */
export const INTERRUPT_GRACE_MS = 1_000;
/** How long an action waits for a busy kernel before answering "busy, press Interrupt". */
const CALL_TIMEOUT_MS = 5_000;
/** Loading the cell library (tfjs, DuckDB) takes a few seconds on a slow machine. */
const START_TIMEOUT_MS = 120_000;
/** Progress updates can arrive per batch; browsers get at most one per cell per interval. */
const PROGRESS_INTERVAL_MS = 50;

export class NotebookHost {
  readonly path: string;
  notebook: Notebook;
  trusted: boolean;
  dirty = false;
  problem: Problem | undefined;
  /** The kernel process, while one is running or starting. */
  kernel: KernelProcess | null = null;
  private kernelReady: Promise<KernelProcess> | null = null;
  private kernelView: KernelView = { state: 'off', starts: 0 };
  /** Cells that were running when their kernel was stopped: they do not run again until asked to. */
  private readonly held = new Map<number, string>();
  private diskHash: string | null;
  private readonly options: HostOptions;
  private readonly listeners = new Set<(e: ServerEvent) => void>();
  private views = new Map<number, CellView>();
  /** What the kernel last said each cell is doing; ahead of `views`, whose outputs take longer. */
  private readonly activity = new Map<number, CellView['status']>();
  /** The cell that started running last, while it runs: the one a blocked event loop is stuck in. */
  private lastStarted: number | null = null;
  private readonly pending = new Map<number, CellView>();
  private flushTimer: NodeJS.Timeout | null = null;
  private disposed = false;
  /** Where heavy stages run: kept here, so that a restarted kernel runs them in the same place. */
  private run: RunSettings;

  private constructor(options: HostOptions, notebook: Notebook, diskHash: string | null, trusted: boolean) {
    this.options = options;
    this.path = resolve(options.notebookPath);
    this.notebook = notebook;
    this.diskHash = diskHash;
    this.trusted = trusted;
    this.run = options.run ?? { executor: 'local' };
  }

  /**
   * Opens the file (a missing file starts a new, trusted notebook that the first save creates). A trusted
   * notebook's kernel starts in the background: this returns before any cell runs.
   */
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
      host.startKernel();
      return host;
    }
    const nb = parseNotebook(text, path);
    const trusted = await options.trustStore.isTrusted(text, path);
    const host = new NotebookHost(options, nb, notebookHash(text), trusted);
    if (trusted) host.startKernel();
    return host;
  }

  on(listener: (e: ServerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: ServerEvent): void {
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
      kernel: { ...this.kernelView },
      run: { ...this.run },
    };
  }

  kernelState(): KernelView {
    return { ...this.kernelView };
  }

  private broadcastNotebook(): void {
    this.emit({ type: 'notebook', notebook: this.view() });
  }

  private setKernel(view: Omit<KernelView, 'starts'>): void {
    this.kernelView = { ...view, starts: this.kernelView.starts };
    this.emit({ type: 'kernel', kernel: { ...this.kernelView } });
  }

  // ---- the kernel ------------------------------------------------------------------------------------

  /** Starts a kernel on the current cells and input values; `message` says why (shown until it is ready). */
  private startKernel(message?: string): Promise<KernelProcess> {
    const k = new KernelProcess({
      execArgv: this.options.kernelExecArgv,
      entry: this.options.kernelEntry,
      onEvent: (e) => {
        if (this.kernel === k) this.onKernelEvent(e);
      },
      onExit: (exit) => this.onKernelExit(k, exit),
    });
    const settings = this.settings();
    this.kernel = k;
    this.kernelView.starts++;
    // The new kernel reports every cell afresh; only held cells keep the state that says why they wait.
    this.views = new Map([...this.views].filter(([id]) => this.held.has(id)));
    this.pending.clear();
    this.activity.clear();
    this.lastStarted = null;
    this.setKernel({ state: 'starting', pid: k.pid, ...(message ? { message } : {}) });
    this.broadcastNotebook();
    const held = [...this.held].map(([id, m]) => ({ id, message: m }));
    const ready = k
      .call('init', { notebook: this.notebook, settings, cacheDir: this.options.cache.root, held, run: this.run, name: basename(this.path) }, START_TIMEOUT_MS)
      .then(
        (snapshot) => {
          if (this.kernel !== k) throw new KernelGone('it was replaced while starting');
          this.applySnapshot(snapshot);
          this.setKernel({ state: 'ready', pid: k.pid, ...(message ? { message } : {}) });
          return k;
        },
        (err: Error) => {
          if (this.kernel === k) {
            this.kernel = null;
            this.kernelReady = null;
            void k.kill();
            this.setKernel({ state: 'dead', message: `The kernel could not start: ${err.message}` });
          }
          throw err;
        },
      );
    ready.catch(() => undefined);
    this.kernelReady = ready;
    return ready;
  }

  private onKernelEvent(e: KernelEvent): void {
    if (e.type === 'settled') this.setActivity(e.id, e.status);
    else if (e.type === 'cell') {
      this.setActivity(e.cell.id, e.cell.status);
      this.onCell(e.cell);
    } else if (e.type === 'notebook') {
      this.applySnapshot(e.snapshot);
      this.broadcastNotebook();
    } else {
      // Send the cell's pending "running" state first: the UI starts a fresh log when a run starts.
      this.flush();
      this.emit(e);
    }
  }

  /** A kernel that exits while it is the current one died on its own (kills replace it first). */
  private onKernelExit(k: KernelProcess, exit: KernelExit): void {
    if (this.kernel !== k || this.disposed) return;
    this.kernel = null;
    this.kernelReady = null;
    this.flush();
    this.hold(this.runningCells(), `Interrupted: the kernel died while this cell was running (${exit.reason}). Run it again to continue; finished stages come from the cache.`);
    this.setKernel({ state: 'dead', message: `The kernel died: ${exit.reason}. Finished cells are in the cache; your next action starts a new kernel.` });
  }

  /** The running kernel, started if there is none (after a death, the next action starts one). */
  private async ensureKernel(what: string): Promise<KernelProcess> {
    this.requireTrusted(what);
    if (!this.kernel) this.startKernel();
    try {
      return await this.kernelReady!;
    } catch (err) {
      throw new BadRequest(`${what}: the kernel could not start: ${(err as Error).message}`, 503);
    }
  }

  private async call<K extends KernelCall>(what: string, call: K, args: KernelCalls[K]['args'], timeoutMs = CALL_TIMEOUT_MS): Promise<KernelCalls[K]['result']> {
    const k = await this.ensureKernel(what);
    try {
      return await k.call(call, args, timeoutMs);
    } catch (err) {
      throw this.explain(what, err);
    }
  }

  private explain(what: string, err: unknown): Error {
    if (err instanceof KernelCallError) return new BadRequest(err.message, err.status);
    if (err instanceof KernelTimeout) {
      const running = this.runningCells();
      const busy = running.length ? `cell${running.length > 1 ? 's' : ''} ${running.join(', ')} ${running.length > 1 ? 'are' : 'is'} running` : 'a cell is running';
      return new BadRequest(`${what}: the kernel is busy (${busy} and not letting go); press Interrupt to stop it`, 503);
    }
    if (err instanceof KernelGone) return new BadRequest(`${what}: ${err.message}`, 503);
    return err as Error;
  }

  /**
   * Stops the current kernel and starts another. `hold` are cells that must not run in the new one (they
   * were stuck); every other cell recomputes, its stages from the cache.
   */
  private async replaceKernel(hold: number[], holdMessage: string, message: string): Promise<void> {
    const old = this.kernel;
    this.kernel = null;
    this.kernelReady = null;
    this.flush();
    this.hold(hold, holdMessage);
    this.setKernel({ state: 'restarting', message });
    if (old) await old.kill();
    if (!this.disposed) this.startKernel(message);
  }

  private hold(ids: number[], message: string): void {
    for (const id of ids) {
      this.held.set(id, message);
      this.setActivity(id, 'cancelled');
      const c = this.notebook.cells.find((x) => x.id === id);
      if (!c) continue;
      const previous = this.views.get(id) ?? idleView(id, c.mode);
      const { progress: _progress, ...rest } = previous;
      const view: CellView = { ...rest, status: 'cancelled', error: { message }, outputs: [] };
      this.views.set(id, view);
      this.emit({ type: 'cell', cell: view });
    }
  }

  private setActivity(id: number, status: CellView['status']): void {
    if (status === 'running' && this.activity.get(id) !== 'running') this.lastStarted = id;
    else if (status !== 'running' && this.lastStarted === id) this.lastStarted = null;
    this.activity.set(id, status);
  }

  /**
   * The cells a blocked kernel is stuck in. A synchronous body starts right after its `running` update
   * and never yields, so it is the cell that started last; cells that started before it may show as
   * running only because their results could not be sent. Without such a cell (a loop after an
   * `await`), every running cell is suspect.
   */
  private stuckCells(): number[] {
    return this.lastStarted !== null ? [this.lastStarted] : this.runningCells();
  }

  private runningCells(): number[] {
    return [...this.activity].filter(([, status]) => status === 'running').map(([id]) => id);
  }

  /** Input values as the last kernel had them, for the next one. */
  private settings(): Record<string, unknown> {
    return Object.fromEntries([...this.views.values()].filter((v) => v.input).map((v) => [v.input!.name, v.input!.spec.value]));
  }

  private applySnapshot(s: KernelSnapshot): void {
    this.notebook = s.notebook;
    this.problem = s.problem;
    for (const id of [...this.views.keys()]) if (!this.notebook.cells.some((c) => c.id === id)) this.views.delete(id);
  }

  private onCell(view: CellView): void {
    if (view.outputs) {
      this.pending.delete(view.id);
      this.views.set(view.id, view);
      // Queued running/stale updates of other cells happened before this one: keep that order.
      this.flush();
      this.emit({ type: 'cell', cell: view });
      return;
    }
    // Running/stale: keep the last outputs on record, send the new status (coalesced).
    const previous = this.views.get(view.id);
    this.views.set(view.id, { ...view, ...(previous?.outputs ? { outputs: previous.outputs } : {}) });
    this.pending.set(view.id, view);
    this.flushTimer ??= setTimeout(() => this.flush(), PROGRESS_INTERVAL_MS);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const view of batch) this.emit({ type: 'cell', cell: view });
  }

  private requireTrusted(what: string): void {
    if (!this.trusted) throw new BadRequest(`${what}: this notebook is not trusted, so none of its code runs. Read it, then click Trust.`, 409);
  }

  private requireCell(id: number, what: string): void {
    if (!this.notebook.cells.some((c) => c.id === id)) throw new BadRequest(`${what}: no cell ${id} in ${basename(this.path)}`, 404);
  }

  // ---- actions -------------------------------------------------------------------------------------

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
    this.startKernel();
    this.broadcastNotebook();
  }

  async edit(id: number, value: string): Promise<void> {
    const what = `edit cell ${id}`;
    this.requireTrusted(what);
    this.requireCell(id, what);
    this.applySnapshot(await this.call(what, 'edit', { id, value }));
    this.held.delete(id);
    this.edited();
  }

  async add(mode: CellMode, value: string, after?: number, output?: string): Promise<number> {
    this.requireTrusted('add cell');
    if (after !== undefined) this.requireCell(after, 'add cell');
    const r = await this.call('add cell', 'add', { mode, value, after, output });
    this.applySnapshot(r);
    this.edited();
    return r.id;
  }

  async remove(id: number): Promise<void> {
    const what = `remove cell ${id}`;
    this.requireTrusted(what);
    this.requireCell(id, what);
    this.applySnapshot(await this.call(what, 'remove', { id }));
    this.held.delete(id);
    this.edited();
  }

  private edited(): void {
    this.dirty = true;
    this.broadcastNotebook();
  }

  async runCell(id: number): Promise<void> {
    const what = `run cell ${id}`;
    this.requireTrusted(what);
    this.requireCell(id, what);
    this.held.delete(id);
    // A new kernel runs every cell that is not held, this one included.
    if (!this.kernel) return void (await this.ensureKernel(what));
    await this.call(what, 'run', { id });
  }

  async runAll(): Promise<void> {
    this.requireTrusted('run all');
    this.held.clear();
    if (!this.kernel) return void (await this.ensureKernel('run all'));
    await this.call('run all', 'runAll', {});
  }

  /**
   * Cancels one running cell. A cell that does not let go within INTERRUPT_GRACE_MS (synchronous code
   * never yields to hear the request) is stopped by replacing its kernel.
   */
  async cancel(id: number): Promise<{ cancelled: boolean; restarted: boolean }> {
    const what = `cancel cell ${id}`;
    this.requireTrusted(what);
    this.requireCell(id, what);
    const k = this.kernel;
    if (!k || this.kernelView.state !== 'ready') return { cancelled: false, restarted: false };
    try {
      return { cancelled: (await k.call('cancel', { id }, INTERRUPT_GRACE_MS)).cancelled, restarted: false };
    } catch (err) {
      if (!(err instanceof KernelTimeout) || this.kernel !== k) throw this.explain(what, err);
      await this.interruptByRestart(this.stuckCells());
      return { cancelled: true, restarted: true };
    }
  }

  /** Cancels every running cell (the top bar's Interrupt), replacing the kernel if one does not stop. */
  async interrupt(): Promise<{ cancelled: number[]; restarted: boolean }> {
    this.requireTrusted('interrupt');
    const k = this.kernel;
    if (!k || this.kernelView.state !== 'ready') return { cancelled: [], restarted: false };
    try {
      return { cancelled: (await k.call('interrupt', {}, INTERRUPT_GRACE_MS)).cancelled, restarted: false };
    } catch (err) {
      if (!(err instanceof KernelTimeout) || this.kernel !== k) throw this.explain('interrupt', err);
      const stuck = this.stuckCells();
      await this.interruptByRestart(stuck);
      return { cancelled: stuck, restarted: true };
    }
  }

  private async interruptByRestart(stuck: number[]): Promise<void> {
    const cells = stuck.length === 1 ? `Cell ${stuck[0]}` : stuck.length ? `Cells ${stuck.join(', ')}` : 'The running cell';
    const secs = INTERRUPT_GRACE_MS / 1000;
    await this.replaceKernel(
      stuck,
      `Interrupted: it did not stop within ${secs} s (synchronous code that never yields), so the kernel was restarted. Run it again to retry.`,
      `${cells} did not stop within ${secs} s of Interrupt, so the kernel was restarted. Finished cells come back from the cache; ${stuck.length > 1 ? 'those cells wait' : 'it waits'} until you run ${stuck.length > 1 ? 'them' : 'it'} again.`,
    );
  }

  /**
   * Where heavy stages run from now on. A running kernel switches at once (its cells re-run, finished
   * stages from the cache); without one, the next kernel starts with it.
   */
  async setRunSettings(run: RunSettings): Promise<void> {
    this.requireTrusted('run settings');
    // Kept only once the kernel took them: a refused change must not be reported as the one in force.
    if (this.kernel) await this.call('run settings', 'runSettings', run);
    this.run = run;
    this.broadcastNotebook();
  }

  async setInput(name: string, value: unknown): Promise<void> {
    await this.call(`set input ${name}`, 'input', { name, value });
  }

  /**
   * Restart: a new kernel on the current cells, keeping input values; stages come back from the cache.
   * Works at any time: a kernel that does not answer is killed, and the cells it was stuck in are held.
   */
  async restart(): Promise<void> {
    this.requireTrusted('restart');
    const k = this.kernel;
    let stuck: number[] = [];
    if (k && this.kernelView.state === 'ready') {
      try {
        await k.call('ping', {}, INTERRUPT_GRACE_MS / 2);
      } catch {
        stuck = this.stuckCells();
      }
    }
    await this.replaceKernel(
      stuck,
      'Interrupted by Restart: it was running synchronous code that never yields. Run it again to retry.',
      'Restarted: a new kernel runs the notebook; finished stages come back from the cache.',
    );
  }

  async tableRows(handle: string, offset: number, limit: number): Promise<TableRows> {
    if (!this.kernel) throw new BadRequest(`no table "${handle}" (the kernel restarted; reload the output)`, 404);
    return this.call('table', 'rows', { handle, offset, limit });
  }

  /** Resolves when the kernel has no cell waiting or running (tests and scripts). */
  async idle(): Promise<void> {
    await this.call('idle', 'idle', {}, 0);
  }

  /** A named value, as bounded JSON (tests and scripts). */
  async value(name: string): Promise<unknown> {
    return this.call(`value ${name}`, 'value', { name }, 0);
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

  /** Read from the cache directory here, not through the kernel, so the panel works while a cell is stuck. */
  async cacheInfo(): Promise<CacheInfo> {
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

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.listeners.clear();
    const k = this.kernel;
    this.kernel = null;
    this.kernelReady = null;
    await k?.kill();
  }
}

function idleView(id: number, mode: CellMode): CellView {
  return { id, mode, names: [], status: 'idle', runs: 0, hits: 0, misses: 0 };
}
