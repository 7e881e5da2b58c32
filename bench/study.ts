// bench/study: wall time of the transferability study per matrix cell and in total, cold cache vs warm.
//   node --import tsx bench/study.ts [--model mini-clip|DIR] [--tasks "CIFAR-10,MNIST,..."] [--method coop]
//        [--shots 2] [--seeds 1] [--epochs 10] [--test-per-class 20] [--cache DIR]
//   node --import tsx bench/study.ts --notebook [--out DIR] [--cache DIR] [--set name=value ...]
// The first form runs the matrix twice on one cache: cold (a fresh cache directory unless --cache names
// one) and warm (everything cached), and prints one row per unit (the references, then source → target
// cells, per seed) with both times, then the totals. The second form runs notebooks/transferability.html
// headless with the studies builtins and writes its outputs (what `promptscope run` does once
// cells/library.ts lists them), timing the cold run and the warm re-run.
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache } from '../cells/exec/cache.ts';
import { runWithContext } from '../cells/exec/context.ts';
import { type StageRecord } from '../cells/exec/types.ts';
import { currentBackend } from '../cells/model/backend.ts';
import { defaultTaskSuite, DEFAULT_TASK_NAMES, selectTasks, studiesLibrary, transferMatrix, loadStudyModel } from '../cells/studies/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const cacheDir = opt('cache', '') || mkdtempSync(join(tmpdir(), 'promptscope-bench-study-'));

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(cells[0]), `|${w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : `${'-'.repeat(x + 1)}:`)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

async function benchMatrix(): Promise<void> {
  const tasksArg = opt('tasks', DEFAULT_TASK_NAMES.join(','));
  const method = opt('method', 'coop');
  const configs: Record<string, Record<string, unknown>> = { coop: { nCtx: 4 }, vpt: { tokens: 4, depth: 'shallow' }, upt: { n: 2 }, 'upt-mvlpt': { n: 2 } };
  const study = {
    method: { method, config: configs[method] ?? {}, epochs: Number(opt('epochs', '10')), optim: { lr: 0.01, batchSize: 16 } },
    shots: Number(opt('shots', '2')),
    seeds: opt('seeds', '1').split(',').map(Number),
    testPerClass: Number(opt('test-per-class', '20')),
  };
  const cache = new Cache(cacheDir);
  const clip = await loadStudyModel(opt('model', 'mini-clip'));
  process.stderr.write(`${clip.note}\nbackend ${currentBackend()}, cache ${cacheDir}\n`);
  const run = async (label: string) => {
    const records: StageRecord[] = [];
    const t0 = Date.now();
    const c0 = process.cpuUsage();
    const matrix = await runWithContext({
      cache, signal: new AbortController().signal, log: () => undefined, record: (r) => records.push(r),
      progress: (p) => process.stderr.write(`\r${label}: ${(p.message ?? '').slice(0, 110).padEnd(110)}`),
    }, async () => {
      const tasks = selectTasks(await defaultTaskSuite(), tasksArg.split(','));
      return transferMatrix(clip.model, tasks, study);
    });
    process.stderr.write('\n');
    const perUnit = new Map(matrix.units.map((u) => [u.label, u.ms]));
    const cpu = process.cpuUsage(c0);
    return { matrix, perUnit, total: Date.now() - t0, cpu: (cpu.user + cpu.system) / 1000, misses: records.filter((r) => !r.hit).length };
  };
  const cold = await run('cold');
  const warm = await run('warm');
  const rows = [...cold.perUnit.keys()].map((u) => [u, (cold.perUnit.get(u)! / 1000).toFixed(2), ((warm.perUnit.get(u) ?? NaN) / 1000).toFixed(3)]);
  const cellTimes = [...cold.perUnit.entries()].filter(([u]) => u.includes('→')).map(([, ms]) => ms);
  const refTimes = [...cold.perUnit.entries()].filter(([u]) => !u.includes('→')).map(([, ms]) => ms);
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
  console.log(`\nTransfer study: ${cold.matrix.tasks.length} tasks, ${study.method.method} ${JSON.stringify(study.method.config)}, K=${study.shots}, seeds ${study.seeds.join(',')}, ` +
    `${study.method.epochs} epochs, ${study.testPerClass} eval images/class; model ${clip.model.name}; backend ${currentBackend()}\n`);
  console.log(table(['unit', 'cold s', 'warm s'], rows));
  console.log('');
  console.log(table(['', 'cold', 'warm'], [
    ['matrix cells (source → target × seeds)', cellTimes.length, warm.perUnit.size - refTimes.length],
    ['mean s per matrix cell', (mean(cellTimes) / 1000).toFixed(2), (mean([...warm.perUnit.entries()].filter(([u]) => u.includes('→')).map(([, ms]) => ms)) / 1000).toFixed(3)],
    ['mean s per reference (default init)', (mean(refTimes) / 1000).toFixed(2), (mean([...warm.perUnit.entries()].filter(([u]) => !u.includes('→')).map(([, ms]) => ms)) / 1000).toFixed(3)],
    ['total wall s (incl. datasets, features)', (cold.total / 1000).toFixed(1), (warm.total / 1000).toFixed(2)],
    ['total CPU s (this process)', (cold.cpu / 1000).toFixed(1), (warm.cpu / 1000).toFixed(2)],
    ['stages computed', cold.misses, warm.misses],
  ]));
}

async function benchNotebook(): Promise<void> {
  const { parseNotebook } = await import('../cells/engine/notebook.ts');
  const { NotebookSession } = await import('../cells/engine/session.ts');
  const { buildLibrary } = await import('../cells/library.ts');
  const { writeOutputs } = await import('../cli/write-outputs.ts');
  const path = fileURLToPath(new URL('../notebooks/transferability.html', import.meta.url));
  const text = await readFile(path, 'utf8');
  const settings: Record<string, unknown> = {};
  args.forEach((a, i) => {
    if (a === '--set') {
      const [k, ...v] = args[i + 1].split('=');
      const raw = v.join('=');
      try {
        settings[k] = JSON.parse(raw);
      } catch {
        settings[k] = raw;
      }
    }
  });
  const out = opt('out', '');
  const times: (string | number)[][] = [];
  for (const pass of ['cold', 'warm']) {
    const session = new NotebookSession(parseNotebook(text, path), { cache: new Cache(cacheDir), builtins: { ...(await buildLibrary()), ...studiesLibrary() }, settings });
    const t0 = Date.now();
    const c0 = process.cpuUsage();
    session.start();
    await session.idle();
    const ms = Date.now() - t0;
    const cpu = process.cpuUsage(c0);
    const failed = session.states().filter((c) => c.status === 'error');
    for (const c of failed) process.stderr.write(`cell ${c.id}: ${c.error?.message}\n`);
    const misses = session.stageRecords().filter((r) => !r.hit).length;
    times.push([pass, (ms / 1000).toFixed(1), ((cpu.user + cpu.system) / 1e6).toFixed(1), misses, failed.length]);
    if (out && pass === 'warm') {
      await writeOutputs(session, out, {
        notebook: path, notebookSha256: '', settings, backend: currentBackend(), startedAt: new Date(t0).toISOString(), elapsedMs: ms,
        cells: session.states().map((c) => ({ id: c.id, names: c.names, status: c.status, runs: c.runs, hits: c.hits, misses: c.misses, elapsedMs: c.elapsedMs, error: c.error?.message })),
        pins: [], stages: session.stageRecords().map((r) => ({ stage: r.stage, key: r.key, hit: r.hit, ms: r.ms })),
      });
    }
    if (pass === 'cold') {
      const note = await session.value('modelNote').catch(() => '');
      process.stderr.write(`${note}\n`);
    }
    session.dispose();
  }
  // CPU seconds (this process, all threads) next to wall time: on a shared machine the wall time mostly
  // measures the neighbours.
  console.log(table(['notebooks/transferability.html', 'wall s', 'CPU s', 'stages computed', 'failed cells'], times));
  if (out) console.log(`outputs written to ${out}`);
}

if (args.includes('--notebook')) await benchNotebook();
else await benchMatrix();
