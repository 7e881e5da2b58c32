// A running notebook: cells become @observablehq/runtime variables, so when a cell's source or an input
// changes the runtime recomputes exactly its transitive dependents. Around each cell body the session sets
// the cell's context (AbortSignal tied to the runtime's invalidation, progress sink, cache, counters), which
// `stage()` picks up. The UI and the CLI only talk to this class: they read cell states and subscribe to
// events; they never compute.
import { Runtime } from '@observablehq/runtime';
import type { Cache } from '../exec/cache.ts';
import { compileNotebook, NotebookError, type CompiledCell } from './compile.ts';
import { transpiledDir } from './transpile.ts';
import { coerceInput, Inputs, isChartValue, type InputSpec } from './inputs.ts';
import { nextCellId, type CellMode, type Notebook, type NotebookCell } from './notebook.ts';
import { CancelledError, type CellContext, type Executor, type StageRecord } from '../exec/types.ts';
import { runWithContext, currentContext } from '../exec/context.ts';

export type CellStatus = 'idle' | 'stale' | 'running' | 'fresh' | 'cached' | 'error' | 'cancelled';

export interface CellState {
  id: number;
  mode: CellMode;
  names: string[];
  status: CellStatus;
  /** How many times the body has started (the counter tests and the UI use to show what re-ran). */
  runs: number;
  hits: number;
  misses: number;
  progress?: { fraction: number; message?: string; etaSeconds?: number };
  error?: { message: string; line?: number; cellId?: number };
  elapsedMs?: number;
  /** Values passed to display() during the last run, and the cell's own value if it has no name. */
  displayed: unknown[];
  input?: { name: string; spec: InputSpec };
}

export type SessionEvent =
  | { type: 'cell'; cell: CellState }
  | { type: 'log'; cellId?: number; message: string }
  | { type: 'notebook' };

export interface SessionOptions {
  cache: Cache;
  /** The library visible to cells (loaders, stages, plots, db …), merged with the engine's own builtins. */
  builtins?: Record<string, unknown>;
  /** Input overrides by variable name (CLI --set, UI widgets). */
  settings?: Record<string, unknown>;
  /**
   * Cells that must not run until they are run or edited again, with the reason they show (as
   * `cancelled`): a cell that was stuck when its kernel was replaced would otherwise hang the new one.
   */
  held?: { id: number; message: string }[];
  /** Where the cells' stages run (in this process when absent; a Slurm cluster with `--executor slurm`). */
  executor?: Executor;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return !!v && typeof (v as { then?: unknown }).then === 'function';
}

interface Slot {
  compiled: CompiledCell;
  state: CellState;
  variables: { delete(): void }[];
  controller?: AbortController;
  runToken: number;
  startedAt?: number;
}

interface RuntimeVariable {
  define(name: string | null, inputs: string[], fn: (...a: unknown[]) => unknown): RuntimeVariable;
  delete(): void;
}
interface RuntimeModule {
  variable(observer?: unknown, options?: unknown): RuntimeVariable;
  value(name: string): Promise<unknown>;
}

export class NotebookSession {
  notebook: Notebook;
  private readonly options: SessionOptions;
  private runtime!: InstanceType<typeof Runtime>;
  private module!: RuntimeModule;
  private readonly slots = new Map<number, Slot>();
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private readonly settings: Map<string, unknown>;
  private readonly records: StageRecord[] = [];
  private waiters: (() => void)[] = [];
  private readonly builtinNames: Set<string>;
  private readonly errorOrigin = new WeakMap<object, number>();
  private readonly held: Map<number, string>;
  /** Inputs whose setting has fitted the input at least once (see `view`). */
  private readonly accepted = new Set<string>();
  /** Where transpiled cells are kept beside the cache, so the next process need not load the transpiler. */
  private readonly transpiled: string | undefined;

  constructor(notebook: Notebook, options: SessionOptions) {
    this.notebook = notebook;
    this.options = options;
    this.transpiled = options.cache?.root ? transpiledDir(options.cache.root) : undefined;
    this.settings = new Map(Object.entries(options.settings ?? {}));
    this.held = new Map((options.held ?? []).map((h) => [h.id, h.message]));
    this.builtinNames = new Set([...Object.keys(this.engineBuiltins()), ...Object.keys(options.builtins ?? {})]);
    // Validate everything before the first cell runs.
    compileNotebook(notebook, this.builtinNames, this.transpiled);
  }

  /** Defines every cell; computation starts on the next tick. */
  start(): this {
    const builtins: Record<string, () => unknown> = {};
    for (const [name, value] of Object.entries({ ...this.engineBuiltins(), ...this.options.builtins })) builtins[name] = () => value;
    this.runtime = new Runtime(builtins);
    this.module = this.runtime.module() as unknown as RuntimeModule;
    for (const compiled of compileNotebook(this.notebook, this.builtinNames, this.transpiled)) this.defineCell(compiled);
    return this;
  }

  /** Everything the engine itself provides to cells. */
  private engineBuiltins(): Record<string, unknown> {
    return {
      Inputs,
      // `view(chart)`: a chart with a selection param is an input whose value is what is picked in it.
      view: (spec: InputSpec | unknown) => this.view(isChartValue(spec) ? Inputs.chart(spec) : (spec as InputSpec)),
      display: (value: unknown) => this.display(value),
      md: (strings: TemplateStringsArray, ...values: unknown[]) => ({ kind: 'markdown', text: String.raw({ raw: strings }, ...values) }),
    };
  }

  on(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: SessionEvent): void {
    for (const l of this.listeners) l(e);
  }

  states(): CellState[] {
    return this.notebook.cells.map((c) => this.slots.get(c.id)!.state);
  }

  state(id: number): CellState {
    const s = this.slots.get(id);
    if (!s) throw new Error(`no cell ${id}`);
    return s.state;
  }

  /** Provenance of every stage call so far (pins the model and dataset fingerprints of a run). */
  stageRecords(): StageRecord[] {
    return [...this.records];
  }

  /** The named values defined by cells, for exporting outputs. */
  names(): string[] {
    return this.notebook.cells.flatMap((c) => this.slots.get(c.id)!.compiled.outputs);
  }

  value(name: string): Promise<unknown> {
    return this.module.value(name);
  }

  /** The inputs cells have declared so far, with their current values. */
  inputs(): { name: string; cellId: number; spec: InputSpec }[] {
    return [...this.slots.values()].filter((s) => s.state.input).map((s) => ({ cellId: s.state.id, ...s.state.input! }));
  }

  /** Resolves when no cell is waiting or running. */
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const computing = (this.runtime as unknown as { _computing: Promise<void> | null })._computing;
      if (computing) {
        await computing;
        continue;
      }
      const busy = [...this.slots.values()].some((s) => s.state.status === 'stale' || s.state.status === 'running');
      if (!busy) return;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Replaces a cell's source; only it and its dependents recompute. Invalid source leaves the notebook untouched. */
  setCell(id: number, value: string): void {
    const slot = this.slots.get(id);
    if (!slot) throw new Error(`no cell ${id}`);
    const cells = this.notebook.cells.map((c) => (c.id === id ? { ...c, value } : c));
    this.replaceCells(cells, [id]);
    this.held.delete(id);
  }

  addCell(mode: CellMode, value: string, afterId?: number, output?: string): number {
    const id = nextCellId(this.notebook);
    const cell: NotebookCell = { id, mode, value, line: 0, ...(output ? { output } : {}) };
    const cells = [...this.notebook.cells];
    const at = afterId === undefined ? cells.length : cells.findIndex((c) => c.id === afterId) + 1;
    cells.splice(at, 0, cell);
    this.replaceCells(cells, [id]);
    return id;
  }

  removeCell(id: number): void {
    this.replaceCells(this.notebook.cells.filter((c) => c.id !== id), [id]);
  }

  private replaceCells(cells: NotebookCell[], changed: number[]): void {
    const next: Notebook = { ...this.notebook, cells };
    const compiled = compileNotebook(next, this.builtinNames, this.transpiled); // throws NotebookError and leaves the session as it was
    this.notebook = next;
    for (const id of changed) {
      const slot = this.slots.get(id);
      const c = compiled.find((x) => x.cell.id === id);
      if (slot) {
        slot.controller?.abort(new CancelledError(`cell ${id} was redefined`));
        for (const v of slot.variables) v.delete();
        this.slots.delete(id);
      }
      if (c) this.defineCell(c, slot?.state);
    }
    this.emit({ type: 'notebook' });
  }

  /** Re-runs one cell (and so its dependents), e.g. after a cancel. */
  runCell(id: number): void {
    const slot = this.slots.get(id);
    if (!slot) throw new Error(`no cell ${id}`);
    this.held.delete(id);
    this.redefine(slot);
  }

  /** Aborts a running cell; what it was computing is not stored. */
  cancel(id: number): boolean {
    const slot = this.slots.get(id);
    if (!slot?.controller || slot.state.status !== 'running') return false;
    slot.controller.abort(new CancelledError(`cell ${id} was cancelled`));
    return true;
  }

  /** Sets an input's value; re-runs the input's cell and its dependents only if the value changed. */
  setInput(name: string, value: unknown): void {
    const slot = [...this.slots.values()].find((s) => s.state.input?.name === name);
    if (!slot) {
      const known = this.inputs().map((i) => i.name).join(', ') || 'none';
      throw new NotebookError(`no input named "${name}" (inputs: ${known})`);
    }
    const v = coerceInput(name, slot.state.input!.spec, value);
    this.accepted.add(name);
    if (JSON.stringify(slot.state.input!.spec.value) === JSON.stringify(v)) return;
    this.settings.set(name, v);
    this.redefine(slot);
  }

  dispose(): void {
    for (const s of this.slots.values()) s.controller?.abort(new CancelledError('session closed'));
    this.runtime?.dispose();
  }

  private redefine(slot: Slot): void {
    for (const v of slot.variables) v.delete();
    this.slots.delete(slot.state.id);
    this.defineCell(slot.compiled, slot.state);
  }

  private defineCell(compiled: CompiledCell, previous?: CellState): void {
    const { cell } = compiled;
    const state: CellState = previous ?? {
      id: cell.id,
      mode: cell.mode,
      names: compiled.outputs,
      status: 'idle',
      runs: 0,
      hits: 0,
      misses: 0,
      displayed: [],
    };
    state.names = compiled.outputs;
    const slot: Slot = { compiled, state, variables: [], runToken: 0 };
    this.slots.set(cell.id, slot);

    const session = this;
    const body = compiled.fn;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      const held = session.held.get(cell.id);
      if (held !== undefined) throw new CancelledError(held);
      const invalidation = args.pop() as Promise<void>;
      return session.runBody(slot, () => body.apply(this, args), invalidation);
    };
    const observer = {
      pending: () => this.update(slot, { status: slot.state.status === 'running' ? 'running' : 'stale' }),
      fulfilled: (value: unknown) => {
        if (!compiled.outputs.length || compiled.single) {
          if (value !== undefined && !compiled.outputs.length) slot.state.displayed.push(value);
        }
        this.settle(slot, { status: slot.state.misses > 0 || slot.state.hits === 0 ? 'fresh' : 'cached', progress: undefined, error: undefined });
      },
      rejected: (error: unknown) => this.settle(slot, this.describeError(slot, error)),
    };
    const inputs = [...compiled.inputs, 'invalidation'];
    if (compiled.single) {
      slot.variables.push(this.module.variable(observer).define(compiled.outputs[0], inputs, wrapped));
    } else if (compiled.outputs.length) {
      const hidden = `cell ${cell.id}`;
      slot.variables.push(this.module.variable(observer).define(hidden, inputs, wrapped));
      for (const name of compiled.outputs) {
        slot.variables.push(this.module.variable(true).define(name, [hidden], (o) => (o as Record<string, unknown>)[name]));
      }
    } else {
      slot.variables.push(this.module.variable(observer).define(null, inputs, wrapped));
    }
  }

  private async runBody(slot: Slot, run: () => unknown, invalidation: Promise<void>): Promise<unknown> {
    const token = ++slot.runToken;
    const controller = new AbortController();
    slot.controller = controller;
    invalidation.then(() => controller.abort(new CancelledError(`cell ${slot.state.id} is re-running`)));
    slot.startedAt = Date.now();
    let eta = { at: slot.startedAt, from: 0, last: 0 };
    this.update(slot, { status: 'running', runs: slot.state.runs + 1, hits: 0, misses: 0, displayed: [], progress: undefined, error: undefined });
    const ctx: CellContext & { slot: Slot; token: number } = {
      slot,
      token,
      cache: this.options.cache,
      executor: this.options.executor,
      signal: controller.signal,
      progress: ({ fraction, message }) => {
        if (slot.runToken !== token) return;
        const f = Math.max(0, Math.min(1, fraction));
        // A cell may run several stages one after another, each reporting 0 → 1: the ETA is measured from
        // where the current stage started (the fraction went down), not from the start of the cell.
        const now = Date.now();
        if (f < eta.last) eta = { at: now, from: f, last: f };
        eta.last = f;
        const done = f - eta.from;
        const etaSeconds = done > 0.01 ? (((now - eta.at) / 1000) * (1 - f)) / done : undefined;
        this.update(slot, { progress: { fraction: f, message, etaSeconds } });
      },
      log: (message) => this.emit({ type: 'log', cellId: slot.state.id, message }),
      record: (rec) => {
        this.records.push(rec);
        if (slot.runToken === token) this.update(slot, rec.hit ? { hits: slot.state.hits + 1 } : { misses: slot.state.misses + 1 });
      },
    };
    // Race the body against cancellation so a body that ignores its signal still stops holding the cell.
    const aborted = new Promise<never>((_, reject) => {
      if (controller.signal.aborted) reject(controller.signal.reason);
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    // `const x = stageCall()` without await is legal Observable JavaScript (promises resolve implicitly
    // across cells); await such outputs here so the cell shows "running" until its stage is done.
    const settled = async () => {
      const value = await runWithContext(ctx, run);
      if (slot.compiled.outputs.length > 1 || (slot.compiled.outputs.length === 1 && !slot.compiled.single)) {
        const o = value as Record<string, unknown>;
        for (const name of slot.compiled.outputs) if (isThenable(o[name])) o[name] = await runWithContext(ctx, () => o[name]);
      }
      return value;
    };
    try {
      return await Promise.race([settled(), aborted]);
    } catch (err) {
      // Remember where an error was thrown, so dependents that receive it can say which cell failed.
      if (err && typeof err === 'object' && !this.errorOrigin.has(err)) this.errorOrigin.set(err, slot.state.id);
      throw err;
    }
  }

  private view(spec: InputSpec): unknown {
    const ctx = currentContext() as (CellContext & { slot?: Slot }) | undefined;
    const slot = ctx?.slot;
    if (!slot) return spec.value;
    const name = slot.compiled.outputs[0];
    slot.state.input = { name, spec };
    let value = spec.value;
    if (this.settings.has(name)) {
      try {
        value = coerceInput(name, spec, this.settings.get(name));
        this.accepted.add(name);
      } catch (err) {
        // A chart redrawn with other data (another dataset) may no longer hold what was picked in it: a
        // pick that fitted before falls back to the chart's own initial value. A setting that never fitted
        // (a mistyped --set) is an error.
        if (spec.kind !== 'chart' || !this.accepted.has(name)) throw err;
        this.settings.delete(name);
      }
    }
    slot.state.input = { name, spec: { ...spec, value } };
    return value;
  }

  private display(value: unknown): unknown {
    const ctx = currentContext() as (CellContext & { slot?: Slot }) | undefined;
    if (ctx?.slot) {
      ctx.slot.state.displayed.push(value);
      this.emit({ type: 'cell', cell: ctx.slot.state });
    }
    return value;
  }

  private describeError(slot: Slot, error: unknown): Partial<CellState> {
    if (error instanceof CancelledError || (error as Error)?.name === 'AbortError') {
      return { status: 'cancelled', progress: undefined, error: { message: (error as Error).message } };
    }
    const err = error as Error & { input?: unknown };
    // The runtime hands dependents a RuntimeError naming the input that failed; point at the root cause.
    if (err?.name === 'RuntimeError' && typeof err.input === 'string') {
      const upstream = this.definerOf(err.input);
      if (upstream && upstream !== slot) {
        const root = upstream.state.error?.cellId ?? upstream.state.id;
        const status = upstream.state.status === 'cancelled' ? 'cancelled' : 'error';
        const message = upstream.state.error?.message ?? err.message;
        return { status, progress: undefined, error: { message: `upstream cell ${root} failed: ${message}`, cellId: root } };
      }
    }
    const origin = error && typeof error === 'object' ? this.errorOrigin.get(error) : undefined;
    if (origin !== undefined && origin !== slot.state.id) {
      return { status: 'error', progress: undefined, error: { message: `upstream cell ${origin} failed: ${err.message}`, cellId: origin } };
    }
    const m = /promptscope-cell-(\d+)\.js:(\d+)/.exec(err?.stack ?? '');
    let line: number | undefined;
    if (m && Number(m[1]) === slot.state.id) line = slot.compiled.cell.line + Number(m[2]) - 1 - slot.compiled.bodyLineOffset;
    const where = line ? `cell ${slot.state.id}, line ${line}` : `cell ${slot.state.id}`;
    return { status: 'error', progress: undefined, error: { message: `${where}: ${err?.message ?? String(error)}`, line, cellId: slot.state.id } };
  }

  private definerOf(name: string): Slot | undefined {
    const hidden = /^cell (\d+)$/.exec(name);
    if (hidden) return this.slots.get(Number(hidden[1]));
    return [...this.slots.values()].find((s) => s.compiled.outputs.includes(name));
  }

  private update(slot: Slot, patch: Partial<CellState>): void {
    if (this.slots.get(slot.state.id) !== slot) return;
    Object.assign(slot.state, patch);
    this.emit({ type: 'cell', cell: slot.state });
  }

  private settle(slot: Slot, patch: Partial<CellState>): void {
    if (slot.startedAt) patch.elapsedMs = Date.now() - slot.startedAt;
    this.update(slot, patch);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
