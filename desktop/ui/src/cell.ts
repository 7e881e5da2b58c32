// One notebook cell on screen: header (id, names, status badge, run counters, actions), progress bar
// while running, the editor, and the outputs. It shows what the engine reports and sends edits/actions;
// it computes nothing.
import type { CellSource, CellView } from '../../protocol.ts';
import { api } from './api.ts';
import { button, el, formatSeconds } from './dom.ts';
import { createEditor, type CellEditor } from './editor.ts';
import { inputWidget, type InputWidget } from './inputs.ts';
import { markdownBlock, renderOutput } from './render-outputs.ts';

const STATUS_TEXT: Record<CellView['status'], string> = {
  idle: 'idle',
  stale: 'stale',
  running: 'running',
  fresh: 'fresh',
  cached: 'cached',
  error: 'error',
  cancelled: 'cancelled',
};

export interface CellContext {
  readOnly: () => boolean;
  report: (message: string) => void;
}

export class CellComponent {
  readonly root: HTMLElement;
  private source: CellSource;
  private state: CellView;
  private readonly editor: CellEditor;
  private readonly editorBox: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly counters: HTMLElement;
  private readonly namesEl: HTMLElement;
  private readonly progress: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly progressText: HTMLElement;
  private readonly errorBox: HTMLElement;
  private readonly outputsBox: HTMLElement;
  private readonly logBox: HTMLDetailsElement;
  private readonly logSummary: HTMLElement;
  private readonly logLines: HTMLElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly runButton: HTMLButtonElement;
  private widget: InputWidget | null = null;
  private widgetKey = '';
  private localError = '';
  private editing: boolean;
  private signature = '';
  private ranTimer = 0;
  private errorLine: number | null = null;
  private problem = '';

  constructor(source: CellSource, state: CellView, private readonly ctx: CellContext) {
    this.source = source;
    this.state = state;
    // Markdown shows as prose and hidden cells (Observable's `hidden`) as output only, until opened with ✎.
    this.editing = source.mode === 'md' ? !source.value.trim() : !source.hidden;
    this.badge = el('span', { class: 'badge' });
    this.counters = el('span', { class: 'counters' });
    this.namesEl = el('span', { class: 'cell-names' });
    this.runButton = button('▶ Run', () => void this.run(), { class: 'ghost run', title: 'Run this cell (Shift-Enter)' });
    this.cancelButton = button('■ Cancel', () => void api.cancel(this.source.id).catch((e: Error) => this.ctx.report(e.message)), { class: 'ghost danger cancel', title: 'Cancel the running computation' });
    const toggle = button('✎', () => this.setEditing(!this.editing), { class: 'ghost icon', title: 'Show or hide the source' });
    const remove = button('✕', () => void this.remove(), { class: 'ghost icon delete', title: 'Delete this cell' });
    const head = el('header', { class: 'cell-head' }, [
      el('span', { class: 'cell-id' }, [`#${source.id}`]),
      el('span', { class: `mode mode-${source.mode}` }, [source.mode === 'js' ? 'JS' : source.mode === 'md' ? 'MD' : 'SQL']),
      this.namesEl,
      this.badge,
      this.counters,
      el('span', { class: 'spacer' }),
      this.cancelButton,
      this.runButton,
      toggle,
      remove,
    ]);
    this.bar = el('div', { class: 'bar' });
    this.progressText = el('span', { class: 'progress-text' });
    this.progress = el('div', { class: 'progress' }, [el('div', { class: 'track' }, [this.bar]), this.progressText]);
    this.errorBox = el('div', { class: 'cell-error', role: 'alert' });
    this.editorBox = el('div', { class: 'editor' });
    this.outputsBox = el('div', { class: 'outputs' });
    this.outputsBox.addEventListener('dblclick', () => {
      if (this.source.mode === 'md') this.setEditing(true);
    });
    this.logSummary = el('summary');
    this.logLines = el('pre', { class: 'log-lines' });
    this.logBox = el('details', { class: 'cell-log', hidden: '' }, [this.logSummary, this.logLines]);
    this.root = el('section', { class: `cell cell-${source.mode}`, 'data-id': String(source.id) }, [head, this.progress, this.errorBox, this.editorBox, this.outputsBox, this.logBox]);
    this.editor = createEditor(this.editorBox, source.value, source.mode, {
      readOnly: ctx.readOnly(),
      onRun: () => void this.run(),
      onChange: () => this.root.classList.toggle('edited', this.editor.getValue() !== this.source.value),
    });
    this.setEditing(this.editing);
    this.render();
  }

  get id(): number {
    return this.source.id;
  }

  setSource(source: CellSource): void {
    const edited = this.editor.getValue() !== this.source.value;
    this.source = source;
    // The user's unsaved typing wins over a server echo; their next Run sends it.
    if (!edited) this.editor.setValue(source.value);
    this.root.classList.toggle('edited', this.editor.getValue() !== source.value);
    this.render(source.mode === 'md');
  }

  setState(state: CellView): void {
    // Notebook snapshots repeat states the cell already shows; re-rendering would redraw charts and reset tables.
    const signature = JSON.stringify([state.status, state.runs, state.hits, state.misses, state.elapsedMs, state.progress, state.error, state.input, !!state.outputs]);
    if (signature === this.signature) return;
    this.signature = signature;
    // Briefly mark a cell that just (re-)ran, so after an input change the user sees what recomputed.
    if (state.runs > this.state.runs) {
      this.logLines.replaceChildren();
      this.logBox.hidden = true;
      this.root.classList.add('ran');
      clearTimeout(this.ranTimer);
      this.ranTimer = window.setTimeout(() => this.root.classList.remove('ran'), 2500);
    }
    // Running/stale updates come without outputs: keep showing the last ones (dimmed).
    this.state = state.outputs ? state : { ...state, outputs: this.state.outputs };
    this.render(!!state.outputs);
  }

  /** A message the cell's stages logged (warnings, fallbacks); the last 200 are kept, newest last. */
  addLog(message: string): void {
    this.logLines.append(`${message}\n`);
    while (this.logLines.childNodes.length > 200) this.logLines.firstChild!.remove();
    const n = this.logLines.childNodes.length;
    this.logSummary.textContent = `log · ${n} line${n === 1 ? '' : 's'} · ${message.length > 90 ? `${message.slice(0, 90)}…` : message}`;
    this.logBox.hidden = false;
  }

  /** A compile problem of the whole notebook that this cell causes (shown until an edit fixes it). */
  setProblem(message: string | null): void {
    if ((message ?? '') === this.problem) return;
    this.problem = message ?? '';
    this.render(false);
  }

  setReadOnly(readOnly: boolean): void {
    this.editor.setReadOnly(readOnly);
    this.render(false);
  }

  destroy(): void {
    this.editor.destroy();
    this.root.remove();
  }

  private setEditing(on: boolean): void {
    this.editing = on;
    this.root.classList.toggle('editing', on);
    this.editorBox.hidden = !on;
    if (on && this.source.mode === 'md' && !this.ctx.readOnly()) this.editor.focus();
  }

  async run(): Promise<void> {
    if (this.ctx.readOnly()) return this.ctx.report('This notebook is not trusted yet: click Trust to run it.');
    const value = this.editor.getValue();
    try {
      this.localError = '';
      if (value !== this.source.value) await api.edit(this.source.id, value);
      else await api.run(this.source.id);
      if (this.source.mode === 'md') this.setEditing(false);
    } catch (err) {
      this.localError = (err as Error).message;
    }
    this.render(false);
  }

  private async remove(): Promise<void> {
    if (this.ctx.readOnly()) return;
    if (this.editor.getValue().trim() && !confirm(`Delete cell #${this.source.id}?`)) return;
    await api.remove(this.source.id).catch((e: Error) => this.ctx.report(e.message));
  }

  private render(outputsChanged = true): void {
    const s = this.state;
    const readOnly = this.ctx.readOnly();
    this.root.dataset.status = s.status;
    this.root.dataset.runs = String(s.runs);
    this.root.classList.toggle('readonly', readOnly);
    this.badge.className = `badge status-${s.status}`;
    this.badge.textContent = STATUS_TEXT[s.status];
    this.badge.title = s.status === 'cached' ? 'every stage came from the cache' : s.status === 'fresh' ? 'computed in this session' : '';
    this.namesEl.textContent = s.names.join(', ');
    const parts: string[] = [];
    if (s.runs) parts.push(`ran ${s.runs}×`);
    if (s.hits || s.misses) parts.push(`${s.hits} cached · ${s.misses} computed`);
    if (s.elapsedMs !== undefined && s.status !== 'running') parts.push(formatSeconds(s.elapsedMs / 1000));
    this.counters.textContent = parts.join(' · ');
    this.runButton.disabled = readOnly;
    this.cancelButton.hidden = s.status !== 'running';

    const running = s.status === 'running';
    this.progress.hidden = !running;
    if (running) {
      const f = s.progress?.fraction;
      this.progress.classList.toggle('indeterminate', f === undefined);
      this.bar.style.width = `${Math.round((f ?? 0) * 100)}%`;
      const eta = s.progress?.etaSeconds !== undefined ? ` · ${formatSeconds(s.progress.etaSeconds)} left` : '';
      this.progressText.textContent = `${s.progress?.message ?? 'running'}${f !== undefined ? ` · ${Math.round(f * 100)}%` : ''}${eta}`;
    }
    const message = this.localError || this.problem || (s.error && (s.status === 'error' || s.status === 'cancelled') ? s.error.message + (s.error.line ? ` (line ${s.error.line})` : '') : '');
    // Error lines are notebook-file lines; the editor counts from the cell's first line.
    const errorLine = s.status === 'error' && s.error?.line !== undefined && (s.error.cellId ?? s.id) === s.id ? s.error.line - this.source.line + 1 : null;
    if (errorLine !== this.errorLine) this.editor.setErrorLine((this.errorLine = errorLine));
    this.errorBox.hidden = !message;
    this.errorBox.textContent = message;
    this.errorBox.classList.toggle('soft', !this.localError && !this.problem && s.status === 'cancelled');
    this.root.classList.toggle('dim', running || s.status === 'stale');

    if (s.input) {
      const key = JSON.stringify({ ...s.input.spec, value: undefined, name: s.input.name });
      if (!this.widget || key !== this.widgetKey) {
        this.widgetKey = key;
        this.widget = inputWidget(s.input.name, s.input.spec, (value) => void api.setInput(s.input!.name, value).catch((e: Error) => this.ctx.report(e.message)));
        this.outputsBox.replaceChildren(this.widget.root);
      } else this.widget.update(s.input.spec);
      return;
    }
    if (!outputsChanged) return;
    this.widget = null;
    const outputs = s.outputs ?? [];
    if (!outputs.length && this.source.mode === 'md') {
      // Not run (untrusted or not yet computed): render the source itself.
      this.outputsBox.replaceChildren(markdownBlock(this.source.value));
      return;
    }
    this.outputsBox.replaceChildren(...outputs.map(renderOutput));
  }
}
