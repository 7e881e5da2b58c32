// Every message that crosses a process or network boundary in the desktop stack, in one place:
//   UI (browser)  ⇄  server (`promptscope serve`, the desktop app's engine)  ⇄  kernel (runs the cells)
//   Electron main ⇐  engine (its start-up report)
// Types only, with no Node imports: the browser bundle imports this file, and so do the server and the
// kernel, so none of the three imports another's code. The engine types named here (cell modes, input
// specs, statuses) are the notebook runtime's own, imported as types.
import type { InputSpec } from '../cells/engine/inputs.ts';
import type { CellMode, Notebook } from '../cells/engine/notebook.ts';
import type { CellState, CellStatus } from '../cells/engine/session.ts';

export type { CellMode, CellStatus, InputSpec, Notebook };

// ---- what the UI is shown -------------------------------------------------------------------------

export interface ColumnView {
  name: string;
  type: string;
}

/** A cell value rendered for the page: never a live object, always bounded (tables travel by handle). */
export type OutputView =
  | { kind: 'json'; label?: string; value: unknown }
  | { kind: 'markdown'; label?: string; text: string }
  | { kind: 'vega-lite'; label?: string; spec: unknown }
  | { kind: 'table'; label?: string; handle: string; numRows: number; columns: ColumnView[] }
  | { kind: 'metrics'; label?: string; values: Record<string, number | string> }
  | { kind: 'images'; label?: string; items: { src: string; label?: string }[] }
  | {
      kind: 'dataset';
      label?: string;
      name: string;
      images: number;
      classes: number;
      fingerprint?: string;
      samples: { src: string; label?: string }[];
      table: { handle: string; numRows: number; columns: ColumnView[] };
    };

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

/** A cell's state as the kernel reports it (the runtime's own), with outputs rendered for the page. */
export interface CellView extends Omit<CellState, 'displayed'> {
  /** Present once the cell settled; absent on running/stale updates (the UI keeps the last outputs). */
  outputs?: OutputView[];
}

/**
 * The kernel: the process that runs the notebook's cells. `starting` until its library is loaded,
 * `ready` while it runs or waits, `dead` after it exited on its own (crash, out of memory, kill -9),
 * `off` before the notebook is trusted. A `restarting` kernel is one the server is replacing (Restart,
 * or an Interrupt that the running cell did not obey).
 */
export type KernelState = 'off' | 'starting' | 'ready' | 'restarting' | 'dead';

export interface KernelView {
  state: KernelState;
  /** The kernel's process id, while there is one. */
  pid?: number;
  /** What just happened to the kernel, in words for the user (why it died, what an Interrupt did). */
  message?: string;
  /** How many kernels this notebook has started. */
  starts: number;
}

/**
 * Where a notebook's heavy stages (training, feature extraction, `cached` code) run: in the kernel
 * (`local`), or as Slurm jobs against the shared cache, as `promptscope run --executor slurm` does.
 */
export type RunSettings =
  | { executor: 'local' }
  | { executor: 'slurm'; partition?: string; gres?: string; maxJobs?: number };

export interface NotebookView {
  path: string;
  file: string;
  title: string;
  trusted: boolean;
  /** True while edits have not been saved. */
  dirty: boolean;
  /** Why the notebook cannot run (a compile error), when it cannot. */
  problem?: Problem;
  cells: CellSource[];
  states: CellView[];
  kernel: KernelView;
  run: RunSettings;
}

export interface Problem {
  message: string;
  cellId?: number;
  line?: number;
}

/** Events on the UI's event stream (`/api/events`, Server-Sent Events named by `type`). */
export type ServerEvent =
  | { type: 'hello'; notebook: NotebookView }
  | { type: 'cell'; cell: CellView }
  | { type: 'notebook'; notebook: NotebookView }
  | { type: 'kernel'; kernel: KernelView }
  | { type: 'log'; cellId?: number; message: string };

export interface TableRows {
  numRows: number;
  offset: number;
  rows: unknown[][];
}

export interface CacheInfo {
  root: string;
  entries: number;
  bytes: number;
  stages: { stage: string; entries: number; bytes: number }[];
}

/** Replies of the POST actions the UI sends (`/api/...`); errors are `{ error }` with a 4xx/5xx status. */
export interface ActionReplies {
  '/api/cell/edit': { ok: true };
  '/api/cell/add': { ok: true; id: number };
  '/api/cell/remove': { ok: true };
  '/api/cell/run': { ok: true };
  /** `restarted`: the cell did not stop in time, so its kernel was replaced. */
  '/api/cell/cancel': { ok: true; cancelled: boolean; restarted: boolean };
  '/api/run-all': { ok: true };
  '/api/interrupt': { ok: true; cancelled: number[]; restarted: boolean };
  '/api/restart': { ok: true };
  '/api/input': { ok: true };
  '/api/save': { ok: true; path: string; bytes: number };
  '/api/trust': { ok: true };
  '/api/cache/clear': { ok: true; cache: CacheInfo };
  /** The new settings apply at once: running cells stop (their Slurm jobs are scancelled) and re-run. */
  '/api/run-settings': { ok: true; run: RunSettings };
}

// ---- server ⇄ kernel (Node IPC, structured clone) -------------------------------------------------

/** A cell that must not run when a new kernel starts: it was running when the last one was stopped. */
export interface HeldCell {
  id: number;
  /** Why, shown as the cell's error until it is run again. */
  message: string;
}

export interface KernelInit {
  notebook: Notebook;
  /** Input values by name, carried over from the previous kernel. */
  settings: Record<string, unknown>;
  cacheDir: string;
  held: HeldCell[];
  /** Where heavy stages run (default: local). */
  run?: RunSettings;
  /** The notebook's file name, for Slurm job names and messages. */
  name?: string;
}

/** The notebook as the kernel holds it after a call: edits are validated (compiled) there. */
export interface KernelSnapshot {
  notebook: Notebook;
  problem?: Problem;
}

/** Each call the server makes: its arguments and what the kernel answers. */
export interface KernelCalls {
  init: { args: KernelInit; result: KernelSnapshot };
  edit: { args: { id: number; value: string }; result: KernelSnapshot };
  add: { args: { mode: CellMode; value: string; after?: number; output?: string }; result: KernelSnapshot & { id: number } };
  remove: { args: { id: number }; result: KernelSnapshot };
  run: { args: { id: number }; result: null };
  runAll: { args: Record<string, never>; result: null };
  cancel: { args: { id: number }; result: { cancelled: boolean } };
  /** Cancels every running cell. */
  interrupt: { args: Record<string, never>; result: { cancelled: number[] } };
  input: { args: { name: string; value: unknown }; result: null };
  /** Switches where heavy stages run: the session restarts on the new executor (finished stages are cached). */
  runSettings: { args: RunSettings; result: null };
  rows: { args: { handle: string; offset: number; limit: number }; result: TableRows };
  /** Answers once no cell is waiting or running. */
  idle: { args: Record<string, never>; result: null };
  /** A named value as bounded JSON (tests, debugging). */
  value: { args: { name: string }; result: unknown };
  /** Answers at once when the kernel's event loop is free: how the server tells busy from stuck. */
  ping: { args: Record<string, never>; result: null };
}

export type KernelCall = keyof KernelCalls;

export type KernelRequest = { [K in KernelCall]: { type: 'request'; seq: number; call: K; args: KernelCalls[K]['args'] } }[KernelCall];

export type KernelReply =
  | { type: 'reply'; seq: number; ok: true; result: unknown }
  /** `status` is the HTTP status the server answers with (400 for a bad edit, 404 for a missing table…). */
  | { type: 'reply'; seq: number; ok: false; error: string; status: number };

/** What the kernel reports unasked. */
export type KernelEvent =
  | { type: 'cell'; cell: CellView }
  /**
   * A cell settled: sent at once, ahead of the `cell` view whose outputs take a moment to render, so
   * the server always knows which cells are still running (the ones to hold when it stops the kernel).
   */
  | { type: 'settled'; id: number; status: CellStatus }
  | { type: 'log'; cellId?: number; message: string }
  | { type: 'notebook'; snapshot: KernelSnapshot };

export type FromKernel = KernelReply | KernelEvent;

// ---- engine → Electron main -------------------------------------------------------------------------

/** What the desktop app's engine process (bin/engine.mjs running desktop/server/entry.ts) reports to Electron's main process. */
export type EngineMessage = { type: 'ready'; url: string } | { type: 'error'; message: string };
