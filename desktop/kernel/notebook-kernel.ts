// The kernel's side of one open notebook: the running session, the values its cells produced and the
// views of them the UI is sent. Each method answers one call of the kernel protocol (desktop/protocol.ts);
// desktop/kernel/kernel-process.ts routes the messages. A notebook that does not compile is kept, with its problem
// reported, and an edit that fixes it starts the session.
import type { Cache } from '../../cells/exec/cache.ts';
import { NotebookError } from '../../cells/engine/compile.ts';
import type { InputSpec } from '../../cells/engine/inputs.ts';
import { nextCellId, serializeNotebook, type CellMode, type Notebook } from '../../cells/engine/notebook.ts';
import { NotebookSession, type CellState, type CellStatus } from '../../cells/engine/session.ts';
import { SlurmExecutor } from '../../cells/exec/slurm/executor.ts';
import { InProcessExecutor, defaultWorkers } from '../../cells/exec/executor.ts';
import { thisPromptscope } from '../../cells/exec/slurm/launcher.ts';
import type { Executor } from '../../cells/exec/types.ts';
import type { CellView, HeldCell, KernelEvent, KernelSnapshot, OutputView, Problem, RunSettings, TableRows } from '../protocol.ts';
import { outputView, TableRegistry, toJsonSafe } from './output-views.ts';

/** An error the server passes on to the UI with this HTTP status. */
export class CallError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

const SETTLED: CellStatus[] = ['fresh', 'cached', 'error', 'cancelled'];
const VALUE_TIMEOUT_MS = 5_000;

export interface KernelOptions {
  notebook: Notebook;
  cache: Cache;
  builtins: Record<string, unknown>;
  settings: Record<string, unknown>;
  held: HeldCell[];
  send: (event: KernelEvent) => void;
  /** Where heavy stages run (default: in this process). */
  run?: RunSettings;
  /** The notebook's file name, for Slurm job names and messages. */
  name?: string;
  /** Milliseconds between Slurm polls (tests poll faster than the default 2 s). */
  slurmPollMs?: number;
}

export class NotebookKernel {
  notebook: Notebook;
  private session: NotebookSession | null = null;
  private problem: Problem | undefined;
  private readonly options: KernelOptions;
  private readonly tables = new TableRegistry();
  /** The sequence number of each cell's latest state: outputs of an older run are never sent after it. */
  private readonly latest = new Map<number, number>();
  private seq = 0;
  private executor: Executor;

  constructor(options: KernelOptions) {
    this.options = options;
    this.notebook = options.notebook;
    this.executor = this.makeExecutor(options.run ?? { executor: 'local' });
    this.startSession(options.settings, options.held);
  }

  /**
   * The executor for `run`. A Slurm job re-runs the notebook as it is when the job is submitted — the
   * cells after any edit, the inputs as the user has set them — so the job computes the very key the
   * cell asked for.
   */
  private makeExecutor(run: RunSettings): Executor {
    // Here: a batch's trainings side by side in worker threads, as `promptscope run` does by default.
    if (run.executor === 'local') return new InProcessExecutor({ workers: defaultWorkers() });
    const pollMs = this.options.slurmPollMs ?? (Number(process.env.PROMPTSCOPE_SLURM_POLL_MS) || undefined);
    return new SlurmExecutor({
      notebook: () => ({ text: serializeNotebook(this.notebook), name: this.options.name ?? 'notebook.html', settings: this.inputValues() }),
      launcher: thisPromptscope(),
      partition: run.partition, gres: run.gres, maxJobs: run.maxJobs, pollMs,
    });
  }

  /** Every input's current value, as the session has it. */
  private inputValues(): Record<string, unknown> {
    return Object.fromEntries((this.session?.inputs() ?? []).map((i) => [i.name, i.spec.value]));
  }

  /**
   * Runs heavy stages where `run` says from now on. The session is rebuilt on the new executor: cells
   * that were running stop (a Slurm job of theirs is scancelled) and every cell runs again, finished
   * stages from the cache, with the inputs as they were.
   */
  setRunSettings(run: RunSettings): void {
    const settings = this.inputValues();
    this.executor = this.makeExecutor(run);
    // A notebook that does not compile has no session; the next edit that fixes it starts one on this executor.
    if (this.session) this.startSession(settings);
  }

  snapshot(): KernelSnapshot {
    return { notebook: this.notebook, ...(this.problem ? { problem: this.problem } : {}) };
  }

  private startSession(settings: Record<string, unknown>, held: HeldCell[] = []): void {
    this.session?.dispose();
    this.tables.clear();
    try {
      this.session = new NotebookSession(this.notebook, { cache: this.options.cache, builtins: this.options.builtins, settings, held, executor: this.executor });
      this.problem = undefined;
    } catch (err) {
      this.session = null;
      const e = err as NotebookError;
      this.problem = { message: e.message, ...(e.cellId ? { cellId: e.cellId } : {}), ...(e.line ? { line: e.line } : {}) };
      return;
    }
    const session = this.session;
    session.on((e) => {
      if (this.session !== session) return;
      if (e.type === 'cell') this.onCell(e.cell);
      else if (e.type === 'log') this.options.send({ type: 'log', cellId: e.cellId, message: e.message });
    });
    session.start();
  }

  private requireSession(what: string): NotebookSession {
    if (!this.session) throw new CallError(`${what}: the notebook cannot run: ${this.problem?.message ?? 'it failed to compile'}`, 409);
    return this.session;
  }

  private requireCell(id: number, what: string): void {
    if (!this.notebook.cells.some((c) => c.id === id)) throw new CallError(`${what}: no cell ${id}`, 404);
  }

  /**
   * Running and stale states go out at once: the `running` state of a cell that then blocks the event
   * loop must already be on its way, so the server knows which cell to stop. A settled state goes out
   * twice: its status at once (the next cell may block before outputs are rendered), then its view
   * with outputs.
   */
  private onCell(state: CellState): void {
    const seq = ++this.seq;
    this.latest.set(state.id, seq);
    const view = stateView(state);
    if (!SETTLED.includes(state.status)) return this.options.send({ type: 'cell', cell: view });
    this.options.send({ type: 'settled', id: state.id, status: state.status });
    const displayed = [...state.displayed];
    void this.outputsFor(view, displayed).then((outputs) => {
      if (this.latest.get(state.id) !== seq) return;
      this.options.send({ type: 'cell', cell: { ...view, outputs } });
    });
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

  // ---- calls ---------------------------------------------------------------------------------------

  edit(id: number, value: string): KernelSnapshot {
    const what = `edit cell ${id}`;
    this.requireCell(id, what);
    this.mutate(what, (s) => s.setCell(id, value), (nb) => ({ ...nb, cells: nb.cells.map((c) => (c.id === id ? { ...c, value } : c)) }));
    return this.snapshot();
  }

  add(mode: CellMode, value: string, after?: number, output?: string): KernelSnapshot & { id: number } {
    if (after !== undefined) this.requireCell(after, 'add cell');
    let id = 0;
    this.mutate(
      'add cell',
      (s) => {
        id = s.addCell(mode, value, after, output);
      },
      (nb) => {
        id = nextCellId(nb);
        const cells = [...nb.cells];
        const at = after === undefined ? cells.length : cells.findIndex((c) => c.id === after) + 1;
        cells.splice(at, 0, { id, mode, value, line: 0, ...(output ? { output } : {}) });
        return { ...nb, cells };
      },
    );
    return { ...this.snapshot(), id };
  }

  remove(id: number): KernelSnapshot {
    const what = `remove cell ${id}`;
    this.requireCell(id, what);
    this.mutate(what, (s) => s.removeCell(id), (nb) => ({ ...nb, cells: nb.cells.filter((c) => c.id !== id) }));
    return this.snapshot();
  }

  /**
   * Applies an edit through the running session (only dependents recompute), or — when the notebook
   * did not compile and so has no session — to the notebook itself, then tries to start it again.
   */
  private mutate(what: string, withSession: (s: NotebookSession) => void, withoutSession: (nb: Notebook) => Notebook): void {
    if (this.session) {
      try {
        withSession(this.session);
      } catch (err) {
        if (err instanceof NotebookError) throw new CallError(`${what}: ${err.message}`);
        throw err;
      }
      this.notebook = this.session.notebook;
    } else {
      this.notebook = withoutSession(this.notebook);
      this.startSession(this.options.settings);
    }
  }

  run(id: number): void {
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

  interrupt(): number[] {
    if (!this.session) return [];
    const session = this.session;
    return session.states().filter((s) => s.status === 'running' && session.cancel(s.id)).map((s) => s.id);
  }

  input(name: string, value: unknown): void {
    const session = this.requireSession(`set input ${name}`);
    try {
      session.setInput(name, value);
    } catch (err) {
      throw new CallError((err as Error).message);
    }
  }

  rows(handle: string, offset: number, limit: number): TableRows {
    const src = this.tables.get(handle);
    if (!src) throw new CallError(`no table "${handle}" (its cell re-ran or the kernel restarted; reload the output)`, 404);
    return { numRows: src.numRows, offset, rows: src.rows(offset, limit) };
  }

  async idle(): Promise<void> {
    await this.session?.idle();
  }

  async value(name: string): Promise<unknown> {
    return toJsonSafe(await this.requireSession(`value ${name}`).value(name));
  }

  dispose(): void {
    this.session?.dispose();
    this.session = null;
  }

  /** Before the process ends: scancel this kernel's Slurm jobs (no one will read their results), then dispose. */
  async shutdown(): Promise<void> {
    const executor = this.executor;
    this.dispose();
    if (executor instanceof SlurmExecutor) await executor.cancelAll();
  }
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
