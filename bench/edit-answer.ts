// bench/edit-answer: how long the user waits for a notebook (issue #22, part 2), median of N.
//   node --import tsx bench/edit-answer.ts [--reps 5] [--cache DIR] [--notebooks hello,quickstart,transferability]
//        [--no-run] [--no-probe] [--no-kernel] [--bundle auto|off|require] [--edits promptLength,shots]
//        [--answer-timeout SECONDS] [--baseline CHECKOUT] [--no-engine]
// --bundle sets PROMPTSCOPE_BUNDLE for the `promptscope run` processes: `off` times the sources through tsx,
// `require` the prebuilt CLI (bin/build.mjs, rebuilt from the current sources before each timed run, untimed).
// 1. `promptscope run NOTEBOOK --out DIR` on a warm cache (one untimed run first fills it; that one is cold
//    when DIR is empty, and can take minutes): the whole process's wall time, split by the run's own
//    manifest (startedAt, elapsedMs, its mtime) into start-up (Node, imports, parse, compile, library),
//    cells, writing the outputs, and exit.
// 2. What start-up is made of, in fresh processes: Node itself, the imports `promptscope run` makes before
//    any cell runs, each heavy library a cell may load later (0 where start-up already loaded it),
//    compiling each notebook, opening DuckDB, loading mini-CLIP (backend start + weights).
// 3. A warm `promptscope serve` session without a browser: the kernel process the server forks
//    (desktop/server/kernel.ts) driven through desktop/protocol.ts as the server drives it. Timed: kernel
//    start to every cell settled with its outputs; then an input edit to the updated table and chart (the
//    `cell` views with outputs that the UI renders): the first time a value is seen (it trains), then
//    back and forth between two cached values. The kernel is the one `promptscope serve` forks for the same
//    --bundle (bin/bundle.mjs chooseBundle): the prebuilt kernel when the bundle is used, else its TypeScript.
// 4. The desktop app's engine (bin/engine.mjs, as Electron forks it): fork to its server's URL, through tsx
//    and from the bundle, alternated.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelEvent } from '../desktop/protocol.ts';
import type { KernelProcess } from '../desktop/server/kernel.ts';
// Project modules are imported where they are used: the start-up probe (a fresh process running this
// file) must load nothing before its first timestamp.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name: string) => args.includes(`--${name}`);
const reps = Number(opt('reps', '5'));
const cacheDir = opt('cache', join(homedir(), '.cache', 'promptscope-bench-edit-answer'));
const notebooks = opt('notebooks', 'hello,quickstart,transferability').split(',');
const bundle = opt('bundle', 'auto');
// Another checkout (e.g. a clone at an earlier commit, its node_modules linked) whose warm runs alternate with
// this one's in part 1, with their outputs compared.
const baseline = args.includes('--baseline') ? opt('baseline', '') : undefined;
// Which inputs the warm-session part edits (default: all of EDITS), and how long one answer may take before
// the bench stops and says which cells never answered and in what state they were.
const onlyEdits = args.includes('--edits') ? opt('edits', '').split(',') : undefined;
const answerTimeoutS = Number(opt('answer-timeout', '1800'));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
// A value as the table names it: an array of names by its length (the task set: "8 tasks").
const describe = (v: unknown) => (Array.isArray(v) ? `${v.length} tasks` : JSON.stringify(v));
const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(cells[0]), `|${w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : `${'-'.repeat(x + 1)}:`)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

// CPU seconds of this process's reaped children (user + system, /proc/self/stat's cutime and cstime, in
// clock ticks of 10 ms): read before and after a child, the difference is that child's CPU time. NaN where
// there is no /proc.
function childrenCpuMs(): number {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return NaN;
  }
}

function child(argv: string[], cwd = ROOT): Promise<{ code: number | null; ms: number; cpu: number; stderr: string; exitAt: number }> {
  const t0 = Date.now();
  const cpu0 = childrenCpuMs();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PROMPTSCOPE_BUNDLE: bundle } });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, ms: Date.now() - t0, cpu: childrenCpuMs() - cpu0, stderr, exitAt: Date.now() }));
  });
}

// ---- 1. promptscope run on a warm cache ----------------------------------------------------------------

interface RunSample { wall: number; cpu: number; startup: number; cells: number; outputs: number; exit: number }

// The checkout may change under a long bench: build its bundle from the sources as they are now (untimed).
const build = (checkout: string) => {
  if (bundle === 'require') spawnSync(process.execPath, [join(checkout, 'bin/build.mjs'), '--quiet'], { cwd: checkout, stdio: 'inherit' });
};

async function runOnce(checkout: string, nb: string, out: string): Promise<RunSample> {
  rmSync(out, { recursive: true, force: true });
  build(checkout);
  const t0 = Date.now();
  const r = await child([join(checkout, 'bin/promptscope.js'), 'run', `notebooks/${nb}.html`, '--cache', cacheDir, '--out', out], checkout);
  if (r.code !== 0) throw new Error(`promptscope run ${nb} (${checkout}) exited ${r.code}:\n${r.stderr.slice(-2000)}`);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { startedAt: string; elapsedMs: number; stages: { hit: boolean }[] };
  if (m.stages.some((s) => !s.hit)) throw new Error(`${nb}: a stage missed the cache in a warm run`);
  const started = Date.parse(m.startedAt);
  const written = statSync(join(out, 'manifest.json')).mtimeMs;
  return { wall: r.ms, cpu: r.cpu, startup: started - t0, cells: m.elapsedMs, outputs: written - started - m.elapsedMs, exit: r.exitAt - written };
}

/**
 * Two runs' outputs are the same results: every file but manifest.json byte for byte (a text may name its
 * own checkout, e.g. the model's path: `aRoot` in a's files stands for `bRoot`), and the manifest's stage
 * keys and pins (the fingerprints). Returns what differs.
 */
function sameOutputs(a: string, b: string, aRoot: string, bRoot: string): string[] {
  const files = (d: string) => readdirSync(d).sort();
  const diffs: string[] = [];
  if (files(a).join() !== files(b).join()) diffs.push(`files: ${files(a).join(' ')} vs ${files(b).join(' ')}`);
  for (const f of files(a).filter((f) => f !== 'manifest.json' && files(b).includes(f))) {
    const [x, y] = [readFileSync(join(a, f)), readFileSync(join(b, f))];
    if (!x.equals(y) && x.toString('utf8').replaceAll(aRoot, bRoot) !== y.toString('utf8')) diffs.push(f);
  }
  const keys = (d: string) => {
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as { stages: { key: string }[]; pins: unknown[] };
    // Sorted: cells that run concurrently record their stages in the order they happen to finish.
    return JSON.stringify([m.stages.map((s) => s.key).sort(), m.pins.map((p) => JSON.stringify(p)).sort()]);
  };
  if (keys(a) !== keys(b)) diffs.push('manifest.json: stage keys or pins');
  return diffs;
}

async function benchRuns(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'promptscope-bench-e2a-'));
  const rows: (string | number)[][] = [];
  // --baseline: that checkout's runs alternate with this one's, so both see the same load.
  const checkouts = baseline ? [baseline, ROOT] : [ROOT];
  const label = (c: string) => (baseline ? (c === ROOT ? ' (this checkout)' : ' (baseline)') : '');
  for (const nb of notebooks) {
    process.stderr.write(`run ${nb}: filling the cache (untimed)…\n`);
    build(ROOT);
    const fill = await child([join(ROOT, 'bin/promptscope.js'), 'run', `notebooks/${nb}.html`, '--cache', cacheDir, '--out', join(out, 'fill')]);
    if (fill.code !== 0) throw new Error(`promptscope run ${nb} exited ${fill.code}:\n${fill.stderr.slice(-2000)}`);
    const samples = new Map<string, RunSample[]>(checkouts.map((c) => [c, []]));
    for (let i = 0; i < reps; i++) {
      for (const c of checkouts) {
        const sample = await runOnce(c, nb, join(out, `${nb}-${checkouts.indexOf(c)}`));
        samples.get(c)!.push(sample);
        process.stderr.write(`run ${nb}${label(c)} ${i + 1}/${reps}: ${sec(sample.wall)} s (CPU ${sec(sample.cpu)} s)\n`);
      }
    }
    if (baseline) {
      const diffs = sameOutputs(join(out, `${nb}-0`), join(out, `${nb}-1`), join(baseline, '/'), ROOT);
      process.stderr.write(`run ${nb}: outputs ${diffs.length ? `DIFFER from the baseline's: ${diffs.join(', ')}` : 'identical to the baseline\'s'}\n`);
    }
    for (const c of checkouts) {
      const ss = samples.get(c)!;
      const m = (k: keyof RunSample) => sec(median(ss.map((s) => s[k])));
      const range = (k: keyof RunSample) => `${sec(Math.min(...ss.map((s) => s[k])))}–${sec(Math.max(...ss.map((s) => s[k])))}`;
      rows.push([`${nb}${label(c)}`, m('wall'), range('wall'), m('cpu'), range('cpu'), m('startup'), m('cells'), m('outputs'), m('exit')]);
    }
  }
  rmSync(out, { recursive: true, force: true });
  return table(['notebook (warm cache)', 'wall s', 'range', 'CPU s', 'range', 'start-up', 'cells', 'outputs', 'exit'], rows);
}

// ---- 2. what start-up is made of -------------------------------------------------------------------------

// Runs in a fresh process (`--probe`): each step's milliseconds on one JSON line.
async function probe(): Promise<void> {
  const ms: Record<string, number> = {};
  const time = async (name: string, f: () => Promise<unknown>) => {
    const t = performance.now();
    await f();
    ms[name] = performance.now() - t;
  };
  ms['node + tsx loader (process start to first line)'] = performance.now();
  await time('imports of `promptscope run`', async () => {
    await import('../cli/promptscope.ts');
    await import('../cli/run.ts');
  });
  await time('  notebook-kit transpiler (TypeScript)', () => import('@observablehq/notebook-kit'));
  await time('  vega + vega-lite (charts to SVG)', () => Promise.all([import('vega'), import('vega-lite')]));
  await time('  DuckDB module', () => import('@duckdb/node-api'));
  await time('  tfjs + backends', () => Promise.all([import('@tensorflow/tfjs'), import('@tensorflow/tfjs-backend-wasm')]));
  const { compileNotebook } = await import('../cells/engine/compile.ts');
  const { buildLibrary } = await import('../cells/library.ts');
  const library = await buildLibrary();
  const builtins = new Set([...Object.keys(library), 'Inputs', 'view', 'display', 'md']);
  const { parseNotebook } = await import('../cells/engine/notebook.ts');
  for (const nb of notebooks) {
    const parsed = parseNotebook(readFileSync(join(ROOT, 'notebooks', `${nb}.html`), 'utf8'), nb);
    await time(`compile ${nb} (${parsed.cells.length} cells)`, async () => compileNotebook(parsed, builtins));
  }
  await time('open DuckDB + first query', async () => {
    const { openNodeDatabase } = await import('../cells/data/db.ts');
    const db = await openNodeDatabase(':memory:');
    await db.query('SELECT 1');
    await db.close();
  });
  await time('load mini-CLIP (backend start + weights)', async () => (library.loadModel as (n: string) => Promise<unknown>)('mini-clip'));
  process.stdout.write(JSON.stringify(ms) + '\n');
  process.exit(0);
}

function benchProbe(): string {
  const samples: Record<string, number>[] = [];
  for (let i = 0; i < reps; i++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--probe', '--notebooks', notebooks.join(',')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
    samples.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
    process.stderr.write(`probe ${i + 1}/${reps}\n`);
  }
  const bare: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = Date.now();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(Date.now() - t);
  }
  const rows: (string | number)[][] = [['`node -e 0` (whole process)', sec(median(bare))]];
  for (const k of Object.keys(samples[0])) rows.push([k, sec(median(samples.map((s) => s[k])))]);
  return table(['start-up step (fresh process)', 's'], rows);
}

// ---- 3. a warm serve session ------------------------------------------------------------------------------

interface Edit { notebook: string; input: string; values: () => Promise<[unknown, unknown]>; answer: Record<string, number> }
const pair = (a: unknown, b: unknown) => async (): Promise<[unknown, unknown]> => [a, b];
// The answer to an edit is the table and the chart it changes: their cells' ids in the shipped notebooks.
// The notebook's own value comes first (the session starts there).
const EDITS: Edit[] = [
  { notebook: 'quickstart', input: 'promptLength', values: pair(4, 8), answer: { results: 16, comparison: 17 } },
  { notebook: 'quickstart', input: 'shots', values: pair(4, 5), answer: { results: 16, comparison: 17 } },
  // Unticking a task: the transfer matrix's cells are cached one by one, so its table and heat map come
  // from the cache; the leave-one-out multitask prompts (cell 25) are new for the smaller set and train,
  // which the "all settled" column shows.
  {
    notebook: 'transferability', input: 'chosen',
    values: async () => {
      const { DEFAULT_TASK_NAMES } = await import('../cells/studies/tasks.ts');
      return [[...DEFAULT_TASK_NAMES], DEFAULT_TASK_NAMES.slice(0, -1)];
    },
    answer: { transfer: 15, heatmap: 17 },
  },
  // A new K re-trains every matrix cell, multitask prompt and joint prompt (features are reused).
  { notebook: 'transferability', input: 'shots', values: pair(2, 3), answer: { transfer: 15, heatmap: 17 } },
];

async function benchKernel(): Promise<string> {
  const { parseNotebook } = await import('../cells/engine/notebook.ts');
  const { KernelProcess } = await import('../desktop/server/kernel.ts');
  const { chooseBundle } = await import('../bin/bundle.mjs');
  if (bundle === 'require') spawnSync(process.execPath, [join(ROOT, 'bin/build.mjs'), '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  const chosen = chooseBundle(bundle);
  if (chosen.error) throw new Error(chosen.error);
  process.stderr.write(`kernel entry: ${chosen.kernel ?? 'desktop/kernel/kernel-process.ts through tsx'}\n`);
  const rows: (string | number)[][] = [];
  for (const nb of [...new Set(EDITS.map((e) => e.notebook))].filter((n) => notebooks.includes(n))) {
    const notebook = parseNotebook(readFileSync(join(ROOT, 'notebooks', `${nb}.html`), 'utf8'), nb);
    // A settled cell's outputs come in a second `cell` message; a waiter resolves once every cell it waits
    // for has sent one from a run newer than the one it had when the waiter was made.
    const runs = new Map<number, number>();
    let computed = false;
    let waiters: { after: Map<number, number>; done: () => void }[] = [];
    const statuses = new Map<number, string>();
    const onEvent = (e: KernelEvent) => {
      if (e.type !== 'cell') return;
      statuses.set(e.cell.id, `${e.cell.status}${e.cell.error ? `: ${String(e.cell.error).slice(0, 200)}` : ''}`);
      if (e.cell.misses > 0) computed = true;
      if (!e.cell.outputs) return;
      runs.set(e.cell.id, e.cell.runs);
      waiters = waiters.filter((w) => {
        if ([...w.after].some(([id, r]) => (runs.get(id) ?? 0) <= r)) return true;
        w.done();
        return false;
      });
    };
    const outputsOf = (ids: number[]) => new Promise<void>((done) => waiters.push({ after: new Map(ids.map((id) => [id, runs.get(id) ?? 0])), done }));
    const startKernel = async () => {
      runs.clear();
      const k = new KernelProcess({ onEvent, onExit: () => undefined, entry: chosen.kernel });
      const all = outputsOf(notebook.cells.map((c) => c.id));
      const t = Date.now();
      await k.call('init', { notebook, settings: {}, cacheDir, held: [] });
      await all;
      return { k, ms: Date.now() - t };
    };
    const starts: number[] = [];
    let kernel: KernelProcess | null = null;
    for (let i = 0; i < reps; i++) {
      const s = await startKernel();
      starts.push(s.ms);
      await s.k.call('idle', {});
      process.stderr.write(`kernel ${nb} start ${i + 1}/${reps}: ${sec(s.ms)} s\n`);
      if (i < reps - 1) await s.k.kill();
      else kernel = s.k;
    }
    rows.push([`${nb}: kernel start → every cell shown`, sec(median(starts)), '', '']);
    for (const edit of EDITS.filter((e) => e.notebook === nb && (!onlyEdits || onlyEdits.includes(e.input)))) {
      const ids = Object.values(edit.answer);
      const values = await edit.values();
      const set = async (value: unknown) => {
        const shown = outputsOf(ids);
        computed = false;
        const t = Date.now();
        await kernel!.call('input', { name: edit.input, value });
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${nb}: ${edit.input}=${JSON.stringify(value)}: no answer within ${answerTimeoutS} s; cells ${ids.map((id) => `${id} (${statuses.get(id) ?? 'no event'})`).join(', ')}`)), answerTimeoutS * 1000);
        });
        try {
          await Promise.race([shown, late]);
        } finally {
          clearTimeout(timer);
        }
        const answer = Date.now() - t;
        await kernel!.call('idle', {});
        return { answer, idle: Date.now() - t, computed };
      };
      const first = await set(values[1]);
      process.stderr.write(`kernel ${nb} ${edit.input}=${describe(values[1])} first: ${sec(first.answer)} s\n`);
      const hits: { answer: number; idle: number; computed: boolean }[] = [];
      for (let i = 0; i < reps; i++) {
        hits.push(await set(values[i % 2 === 0 ? 0 : 1]));
        process.stderr.write(`kernel ${nb} ${edit.input} again ${i + 1}/${reps}: ${sec(hits[i].answer)} s\n`);
      }
      // Back to the notebook's value for the next edit; setting an input to the value it has runs nothing
      // and would wait for an answer that never comes (an odd --reps ends there already).
      if (reps % 2 === 0) await set(values[0]);
      const what = `${nb}: ${edit.input} ${values.map(describe).join('↔')} → ${Object.keys(edit.answer).join(' + ')}`;
      rows.push([`${what}, first time`, sec(first.answer), sec(first.idle), first.computed ? 'computed' : 'from cache']);
      rows.push([`${what}, again`, sec(median(hits.map((h) => h.answer))), sec(median(hits.map((h) => h.idle))), hits.some((h) => h.computed) ? 'computed' : 'from cache']);
    }
    await kernel?.kill();
  }
  return table(['warm serve session (kernel protocol)', 'answer s', 'all settled s', 'stages'], rows);
}

// ---- 4. the desktop app's engine ---------------------------------------------------------------------------

// Electron's utilityProcess.fork played by Node's fork (Electron's binary is not needed): fork of
// bin/engine.mjs → its server listening (the `ready` message), through tsx (PROMPTSCOPE_BUNDLE=off) and from
// the bundle (require), alternated. On a notebook that does not exist yet (a kernel starts with it, beside).
async function benchEngine(): Promise<string> {
  const { fork } = await import('node:child_process');
  const { startEngine } = await import('../desktop/electron/server-process.ts');
  build(ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'promptscope-bench-engine-'));
  const rows: (string | number)[][] = [];
  const samples: Record<string, number[]> = { off: [], require: [] };
  for (let i = 0; i < reps; i++) {
    for (const mode of ['off', 'require']) {
      let child: ReturnType<typeof fork> | undefined;
      const t = Date.now();
      const engine = await startEngine((modulePath, argv, o) => (child = fork(modulePath, argv, {
        cwd: o.cwd, execArgv: o.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        env: { ...process.env, PROMPTSCOPE_BUNDLE: mode, PROMPTSCOPE_TRUST_STORE: join(dir, 'trusted.json') },
      })), { root: ROOT, notebookPath: join(dir, `new-${i}-${mode}.html`), cacheDir, timeoutMs: 300_000 });
      samples[mode].push(Date.now() - t);
      process.stderr.write(`engine ${mode} ${i + 1}/${reps}: ${sec(Date.now() - t)} s\n`);
      const exited = new Promise((r) => child!.once('exit', r));
      engine.stop();
      await exited;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  for (const mode of ['off', 'require']) {
    const xs = samples[mode];
    rows.push([`desktop engine, ${mode === 'off' ? 'sources through tsx' : 'bundle'}: fork → ready`, sec(median(xs)), `${sec(Math.min(...xs))}–${sec(Math.max(...xs))}`]);
  }
  return table(['desktop engine (bin/engine.mjs)', 's', 'range'], rows);
}

if (flag('probe')) {
  await probe();
} else {
  const head = `${new Date().toISOString()}: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; medians of ${reps}; cache ${cacheDir}; PROMPTSCOPE_BUNDLE=${bundle}`;
  // Each part's table is printed as soon as it is done, so a later part that fails does not lose it.
  process.stdout.write(head + '\n\n');
  if (!flag('no-run')) process.stdout.write((await benchRuns()) + '\n\n');
  if (!flag('no-probe')) process.stdout.write(benchProbe() + '\n\n');
  if (!flag('no-kernel')) process.stdout.write((await benchKernel()) + '\n\n');
  if (!flag('no-engine')) process.stdout.write((await benchEngine()) + '\n');
  process.stdout.write(`\nload average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${new Date().toISOString()})\n`);
}
