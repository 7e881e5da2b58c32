// The notebook page: top bar (run all, interrupt, restart, save, cache, the kernel's state), the trust
// and kernel banners, the cells, and the cache panel. State comes from the engine's event stream; the
// page keeps no state of its own beyond what the user is typing.
import { api, events, type CellView, type KernelView, type NotebookView, type RunSettings } from './api.ts';
import { CellComponent } from './cell.ts';
import { button, el, formatBytes } from './dom.ts';
import { inputWidget, type InputWidget } from './inputs.ts';

const cells = new Map<number, CellComponent>();
let notebook: NotebookView | null = null;

const titleEl = el('h1', { class: 'title' });
const fileEl = el('span', { class: 'file' });
const dirtyEl = el('span', { class: 'dirty', title: 'unsaved changes' }, ['●']);
const summaryEl = el('span', { class: 'summary' });
const connEl = el('span', { class: 'conn', title: 'connection to the engine' });
const lastRunEl = el('div', { class: 'last-run', id: 'last-run', role: 'status' });
const toastEl = el('div', { class: 'toast', role: 'status' });

const runAllButton = button('▶ Run all', () => act(api.runAll()), { class: 'primary', id: 'run-all' });
const interruptButton = button('■ Interrupt', () => act(api.interrupt()), {
  id: 'interrupt',
  title: 'Stop every running cell; one stuck in synchronous code is stopped by restarting the kernel',
});
const restartButton = button('↻ Restart', () => act(api.restart()), { id: 'restart', title: 'Restart the kernel: a new kernel runs the cells; finished stages come back from the cache' });
const kernelEl = el('span', { class: 'kernel', id: 'kernel-state', title: 'the kernel: the process that runs the cells' });
const saveButton = button('Save', () => void save(), { id: 'save', title: 'Save (Ctrl/Cmd-S)' });
const cacheButton = button('Cache', () => void toggleCache(), { id: 'cache-toggle' });
const runButton = button('Run: local', () => toggleRunPanel(), { id: 'run-settings-toggle', title: 'Where heavy stages (training, features) run' });

/** In the desktop app the preload script exposes file dialogs; in a browser there is none. */
interface DesktopBridge {
  openNotebook(): Promise<string | null>;
  newNotebook(name: string): Promise<string | null>;
  revealFile(path: string): Promise<void>;
}
const desktop = (window as unknown as { promptscope?: DesktopBridge }).promptscope;
const desktopButtons = desktop
  ? [
      button('Open…', () => act(desktop.openNotebook()), { title: 'Open another notebook (Ctrl/Cmd-O)' }),
      button('New…', () => act(desktop.newNotebook('untitled.html')), { title: 'Start a new notebook' }),
    ]
  : [];

const trustBanner = el('div', { class: 'banner trust', id: 'trust-banner', hidden: '' }, [
  el('div', {}, [
    el('strong', {}, ['This notebook is not trusted. ']),
    'Its cells are shown but none of its code has run. Read it, and trust it only if you know where it comes from.',
  ]),
  button('Trust and run', () => act(api.trust()), { class: 'primary', id: 'trust' }),
]);
const problemBanner = el('div', { class: 'banner problem', hidden: '' });
const kernelMessage = el('div', { class: 'kernel-message' });
const kernelBanner = el('div', { class: 'banner kernel', id: 'kernel-banner', role: 'status', hidden: '' }, [
  kernelMessage,
  button('↻ Restart', () => act(api.restart()), { class: 'primary', id: 'kernel-restart', title: 'Start a new kernel now' }),
  button('✕', () => (kernelBanner.hidden = true), { class: 'ghost icon', title: 'Dismiss' }),
]);

const cacheSize = el('div', { class: 'cache-size' });
const cacheStages = el('div', { class: 'cache-stages' });
const cachePanel = el('aside', { class: 'cache-panel', id: 'cache-panel', hidden: '' }, [
  el('h2', {}, ['Cache']),
  cacheSize,
  cacheStages,
  button('Clear cache', () => void clearCache(), { class: 'danger', id: 'cache-clear' }),
]);

// Run settings: where heavy stages run, as `promptscope run --executor` says on the command line. On
// Slurm each heavy stage that misses the cache is a job; its progress shows in the cell as "[job N on NODE]".
const runExecutor = el('select', { id: 'run-executor' }, [el('option', { value: 'local' }, ['here (local)']), el('option', { value: 'slurm' }, ['Slurm cluster'])]);
const runPartition = el('input', { id: 'run-partition', placeholder: 'default partition', size: '14' });
const runGres = el('input', { id: 'run-gres', placeholder: 'e.g. gpu:1', size: '14' });
const runMaxJobs = el('input', { id: 'run-max-jobs', type: 'number', min: '1', max: '10000', placeholder: '4', size: '6' });
// One field per line (a div each): the panel shares the cache panel's look and needs no styles of its own.
const field = (label: string, input: HTMLElement) => el('div', { class: 'cache-stage' }, [el('label', {}, [label]), input]);
const slurmFields = el('div', { class: 'run-slurm' }, [
  field('Partition', runPartition),
  field('GPUs (gres)', runGres),
  field('Jobs at once', runMaxJobs),
  el('p', {}, ['The cache directory must be on a filesystem every node sees.']),
]);
const runPanel = el('aside', { class: 'cache-panel', id: 'run-panel', hidden: '' }, [
  el('h2', {}, ['Run heavy stages']),
  field('On', runExecutor),
  slurmFields,
  button('Apply', () => void applyRunSettings(), { class: 'primary', id: 'run-apply', title: 'Running cells stop and re-run on the new executor; finished stages come from the cache' }),
]);
runExecutor.addEventListener('change', () => (slurmFields.hidden = runExecutor.value !== 'slurm'));

function runLabel(run: RunSettings): string {
  if (run.executor === 'local') return 'Run: local';
  return `Run: Slurm${run.partition ? ` ${run.partition}` : ''}${run.gres ? ` · ${run.gres}` : ''}${run.maxJobs ? ` · ≤${run.maxJobs} jobs` : ''}`;
}

/** Shows the settings in force (from the engine), unless the user is editing them in the open panel. */
function showRunSettings(run: RunSettings): void {
  runButton.textContent = runLabel(run);
  if (!runPanel.hidden) return;
  runExecutor.value = run.executor;
  runPartition.value = run.executor === 'slurm' ? run.partition ?? '' : '';
  runGres.value = run.executor === 'slurm' ? run.gres ?? '' : '';
  runMaxJobs.value = run.executor === 'slurm' && run.maxJobs ? String(run.maxJobs) : '';
  slurmFields.hidden = run.executor !== 'slurm';
}

function toggleRunPanel(): void {
  if (runPanel.hidden && notebook) showRunSettings(notebook.run);
  runPanel.hidden = !runPanel.hidden;
  if (!runPanel.hidden) cachePanel.hidden = true;
}

async function applyRunSettings(): Promise<void> {
  const run: RunSettings = runExecutor.value === 'slurm'
    ? { executor: 'slurm', partition: runPartition.value.trim() || undefined, gres: runGres.value.trim() || undefined, maxJobs: runMaxJobs.value ? Number(runMaxJobs.value) : undefined }
    : { executor: 'local' };
  try {
    const r = await api.runSettings(run);
    runPanel.hidden = true;
    showRunSettings(r.run);
    report(r.run.executor === 'slurm' ? 'Heavy stages now run as Slurm jobs' : 'Heavy stages now run here', 'info');
  } catch (e) {
    report((e as Error).message);
  }
}

const cellsEl = el('main', { class: 'cells', id: 'cells' });
const addBar = el('div', { class: 'add-bar' }, [
  button('+ JavaScript', () => act(api.add('js', '', lastCellId())), { class: 'ghost', id: 'add-js' }),
  button('+ Markdown', () => act(api.add('md', '', lastCellId())), { class: 'ghost' }),
  button('+ SQL', () => act(api.add('sql', '', lastCellId())), { class: 'ghost' }),
]);

// Every input of the notebook, gathered under the top bar: the knobs stay in reach while reading results.
const inputsBar = el('div', { class: 'inputs-bar', id: 'inputs-bar', hidden: '' });
const barWidgets = new Map<string, { widget: InputWidget; key: string }>();

function syncInputs(): void {
  const inputs = (notebook?.states ?? []).filter((s) => s.input).map((s) => s.input!);
  const keep = new Set(inputs.map((i) => i.name));
  for (const [name, w] of barWidgets) {
    if (!keep.has(name)) {
      w.widget.root.remove();
      barWidgets.delete(name);
    }
  }
  inputs.forEach(({ name, spec }, i) => {
    const key = JSON.stringify({ ...spec, value: undefined });
    let entry = barWidgets.get(name);
    if (!entry || entry.key !== key) {
      entry?.widget.root.remove();
      entry = { key, widget: inputWidget(name, spec, (value) => act(api.setInput(name, value)), 'bar') };
      barWidgets.set(name, entry);
    } else entry.widget.update(spec);
    if (inputsBar.children[i] !== entry.widget.root) inputsBar.insertBefore(entry.widget.root, inputsBar.children[i] ?? null);
  });
  inputsBar.hidden = inputs.length === 0 || !notebook?.trusted;
}

document.body.append(
  el('header', { class: 'topbar' }, [
    el('div', { class: 'brand' }, [el('span', { class: 'logo' }, ['◆']), 'Promptscope']),
    el('div', { class: 'doc' }, [titleEl, el('div', { class: 'doc-meta' }, [fileEl, dirtyEl]), lastRunEl]),
    el('div', { class: 'actions' }, [summaryEl, ...desktopButtons, runAllButton, interruptButton, restartButton, saveButton, runButton, cacheButton, kernelEl, connEl]),
    inputsBar,
  ]),
  el('div', { class: 'page' }, [trustBanner, kernelBanner, problemBanner, cellsEl, addBar]),
  cachePanel,
  runPanel,
  toastEl,
);

if (desktop) {
  fileEl.classList.add('link');
  fileEl.title = 'Show in folder';
  fileEl.addEventListener('click', () => notebook && act(desktop.revealFile(notebook.path)));
}

function lastCellId(): number | undefined {
  return notebook?.cells.at(-1)?.id;
}

const readOnly = () => !notebook?.trusted;

function report(message: string, kind: 'error' | 'info' = 'error'): void {
  toastEl.textContent = message;
  toastEl.className = `toast show ${kind}`;
  clearTimeout((report as { timer?: number }).timer);
  (report as { timer?: number }).timer = window.setTimeout(() => (toastEl.className = 'toast'), kind === 'error' ? 7000 : 2500);
}

function act(p: Promise<unknown>): void {
  p.catch((e: Error) => report(e.message));
}

async function save(force = false): Promise<void> {
  try {
    const r = await api.save(force);
    report(`Saved ${r.path}`, 'info');
  } catch (e) {
    const err = e as Error & { status?: number };
    if (err.status === 409 && /changed on disk/.test(err.message) && confirm(`${err.message}\n\nOverwrite the file on disk?`)) return save(true);
    report(err.message);
  }
}

async function refreshCache(): Promise<void> {
  const info = await api.cache();
  cacheSize.replaceChildren(el('span', { class: 'big' }, [formatBytes(info.bytes)]), ` in ${info.entries} entr${info.entries === 1 ? 'y' : 'ies'}`, el('div', { class: 'path' }, [info.root]));
  cacheStages.replaceChildren(...info.stages.map((s) => el('div', { class: 'cache-stage' }, [el('span', {}, [s.stage]), el('span', {}, [`${s.entries} · ${formatBytes(s.bytes)}`])])));
}

async function toggleCache(): Promise<void> {
  cachePanel.hidden = !cachePanel.hidden;
  if (!cachePanel.hidden) runPanel.hidden = true;
  if (!cachePanel.hidden) await refreshCache().catch((e: Error) => report(e.message));
}

async function clearCache(): Promise<void> {
  if (!confirm('Delete every cached dataset, feature and training result? They will be recomputed when needed.')) return;
  await api.clearCache().then(() => refreshCache(), (e: Error) => report(e.message));
}

function applyNotebook(nb: NotebookView): void {
  const trustChanged = notebook?.trusted !== nb.trusted;
  notebook = nb;
  document.title = `${nb.title || nb.file} — Promptscope`;
  titleEl.textContent = nb.title || nb.file;
  fileEl.textContent = nb.path;
  dirtyEl.hidden = !nb.dirty;
  trustBanner.hidden = nb.trusted;
  document.body.classList.toggle('untrusted', !nb.trusted);
  problemBanner.hidden = !nb.problem;
  problemBanner.textContent = nb.problem ? `This notebook cannot run: ${nb.problem.message}` : '';
  for (const b of [runAllButton, restartButton, saveButton, runButton]) b.disabled = !nb.trusted;
  applyKernel(nb.kernel);
  showRunSettings(nb.run);
  addBar.hidden = !nb.trusted;

  const keep = new Set(nb.cells.map((c) => c.id));
  for (const [id, c] of cells) {
    if (!keep.has(id)) {
      c.destroy();
      cells.delete(id);
    }
  }
  const states = new Map(nb.states.map((s) => [s.id, s]));
  let previous: Element | null = null;
  for (const source of nb.cells) {
    let c = cells.get(source.id);
    if (!c) {
      c = new CellComponent(source, states.get(source.id)!, { readOnly, report });
      cells.set(source.id, c);
    } else {
      c.setSource(source);
      if (trustChanged) c.setReadOnly(!nb.trusted);
      const s = states.get(source.id);
      if (s) c.setState(s);
    }
    c.setProblem(nb.problem?.cellId === source.id ? nb.problem.message : null);
    // Keep DOM order equal to notebook order with the fewest moves.
    const expected: Element | null = previous ? previous.nextElementSibling : cellsEl.firstElementChild;
    if (expected !== c.root) cellsEl.insertBefore(c.root, expected);
    previous = c.root;
  }
  summarise();
  syncInputs();
}

/** Cells that started a run since the notebook was last idle: reported together once all settle. */
const wave = new Set<number>();

function applyCell(view: CellView): void {
  const c = cells.get(view.id);
  if (!c) return;
  c.setState(view);
  const i = notebook?.states.findIndex((s) => s.id === view.id) ?? -1;
  if (notebook && i >= 0) {
    if (view.runs > notebook.states[i].runs) wave.add(view.id);
    notebook.states[i] = view;
  }
  summarise();
  if (view.input) syncInputs();
  reportWave();
}

let waveTimer = 0;
/**
 * "Ran 5 cells: #2 steps, #5 curve, … · 1 from the cache": what an input change or edit recomputed,
 * reported once the notebook has been idle for a moment (a wave's updates arrive over several events).
 */
function reportWave(): void {
  clearTimeout(waveTimer);
  const states = notebook?.states ?? [];
  if (!wave.size || states.some((s) => s.status === 'running' || s.status === 'stale')) return;
  waveTimer = window.setTimeout(finishWave, 250);
}

function finishWave(): void {
  const states = notebook?.states ?? [];
  if (states.some((s) => s.status === 'running' || s.status === 'stale')) return;
  const ran = states.filter((s) => wave.has(s.id));
  wave.clear();
  if (!ran.length) return;
  const names = ran.map((s) => `#${s.id}${s.names.length ? ` ${s.names.join(', ')}` : ''}`);
  const cached = ran.filter((s) => s.status === 'cached').length;
  const failed = ran.filter((s) => s.status === 'error' || s.status === 'cancelled').length;
  const tail = [cached ? `${cached} from the cache` : '', failed ? `${failed} failed or cancelled` : ''].filter(Boolean).join(' · ');
  lastRunEl.textContent = `Ran ${ran.length} cell${ran.length === 1 ? '' : 's'}: ${names.join(', ')}${tail ? ` · ${tail}` : ''}`;
  lastRunEl.title = lastRunEl.textContent;
}

const KERNEL_TEXT: Record<KernelView['state'], string> = {
  off: 'no kernel',
  starting: 'kernel starting…',
  ready: 'kernel ready',
  restarting: 'kernel restarting…',
  dead: 'kernel died',
};

/** The kernel's state in the top bar, and what just happened to it (a death, an interrupt) in a banner. */
function applyKernel(k: KernelView): void {
  kernelEl.textContent = KERNEL_TEXT[k.state];
  kernelEl.dataset.state = k.state;
  kernelEl.title = `${k.pid ? `kernel process ${k.pid}; ` : ''}${k.starts} started in this session`;
  const shown = kernelBanner.dataset.message;
  kernelBanner.dataset.state = k.state;
  if (!k.message) kernelBanner.hidden = true;
  else if (k.message !== shown || k.state === 'dead') kernelBanner.hidden = false;
  kernelBanner.dataset.message = k.message ?? '';
  kernelMessage.textContent = k.message ?? '';
  kernelBanner.classList.toggle('dead', k.state === 'dead');
}

function summarise(): void {
  interruptButton.disabled = !notebook?.trusted || !(notebook?.states ?? []).some((s) => s.status === 'running');
  const counts = new Map<string, number>();
  for (const s of notebook?.states ?? []) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  const order = ['running', 'stale', 'error', 'cancelled', 'fresh', 'cached'];
  summaryEl.replaceChildren(...order.filter((k) => counts.get(k)).map((k) => el('span', { class: `pill status-${k}` }, [`${counts.get(k)} ${k}`])));
}

events(
  (e) => {
    if (e.type === 'hello' || e.type === 'notebook') applyNotebook(e.notebook);
    else if (e.type === 'cell') applyCell(e.cell);
    else if (e.type === 'kernel') {
      if (notebook) notebook.kernel = e.kernel;
      applyKernel(e.kernel);
    }
    else if (e.type === 'log' && e.cellId !== undefined) cells.get(e.cellId)?.addLog(e.message);
  },
  (connected) => {
    connEl.className = `conn ${connected ? 'on' : 'off'}`;
    connEl.title = connected ? 'connected to the engine' : 'disconnected from the engine; reconnecting…';
  },
);

document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 's') {
    e.preventDefault();
    if (notebook?.trusted) void save();
  }
});
