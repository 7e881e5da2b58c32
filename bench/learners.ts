// bench/learners: one full few-shot run of each prompt learner, end to end, in Promptscope and in a PyTorch
// script of the same learner (issue #22, part 1). Both sides are timed as whole processes from a cold
// start, as a user waits for them, wall clock and process CPU time (user + system, from /usr/bin/time):
//   Promptscope  `promptscope run bench/learner.html --set method=M` on an empty cache: start-up, the
//                bundled dataset, the K-shot split, frozen features, training (with its per-epoch
//                checkpoints and progress), evaluation, writing the outputs;
//   PyTorch      bench/reference/<script>.py: torch's import, the same safetensors, the same split and
//                pixels (exported here beforehand, untimed: the reference is spared the data loading and
//                preprocessing), frozen features where the method uses them, training, evaluation.
// The reference trains the recipe the Promptscope run reports it trained (its `recipe` output), so the
// two cannot drift apart. Accuracy must agree within noise: different shuffles and initial draws, so a
// few points on a 500-image test subset; the table prints both, and the trainable parameter counts.
//
//   node --import tsx bench/learners.ts [--methods coop,vpt,linear-probe | all] [--dataset cifar10] [--shots 16]
//        [--epochs 30] [--test-per-class 50] [--reps 1] [--threads 1] [--python /usr/bin/python3]
//        [--bundle auto|off|require]   (PROMPTSCOPE_BUNDLE for the runs: `require` times the prebuilt CLI,
//                                       rebuilt from the current sources before each run, untimed; `off` the tsx path)
//        [--keep-tasks DIR]   (keep the exported tasks there, to rerun a reference by hand: python3 bench/reference/X.py --task DIR/M)
//        [--taidpt-epochs 20] [--blas-threads N]   (PROMPTSCOPE_BLAS_THREADS for the Promptscope runs; default:
//                                       unset, OpenBLAS on every core for large products, as a user runs it)
// Methods (bench/learner.html's `runs`): coop, vpt, upt, linear-probe, label-mapping-ilm, label-mapping-semantic,
// protuning-vit, protuning-resnet, finetune-vit, finetune-resnet; `all` is every one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWithContext } from '../cells/exec/context.ts';
import { Cache } from '../cells/exec/cache.ts';
import { defaultTokenizer, load } from '../cells/model/index.ts';
import { bundledSource, fewShotTask, type PromptTask } from '../cells/prompts/task.ts';
import { sourceLabelNames, sourceTemplates, type SourceLabelSpec, type SourceTemplateSpec } from '../cells/prompts/source-labels.ts';
import { textTrainingSet } from '../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../cells/prompts/tai-synonyms.ts';
import { loadCorpus } from '../cells/data/corpus.ts';
import { loadDataset } from '../cells/data/cached.ts';
import { mosaicSet } from '../cells/data/mosaic.ts';
import { preprocessInto } from '../cells/data/preprocess.ts';
import type { BundledName } from '../cells/data/bundled.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
/** Each bench method's PyTorch script (bench/reference/); the Promptscope side is bench/learner.html's `runs`. */
const REFERENCE: Record<string, string> = {
  'coop': 'learner.py', 'vpt': 'learner.py', 'upt': 'learner.py', 'linear-probe': 'learner.py',
  'label-mapping-ilm': 'reprogramming.py', 'label-mapping-semantic': 'reprogramming.py',
  'protuning-vit': 'protuning.py', 'protuning-resnet': 'protuning.py', 'finetune-vit': 'protuning.py', 'finetune-resnet': 'protuning.py',
  'taidpt': 'taidpt.py',
};
const methodsArg = opt('methods', 'coop,vpt,linear-probe');
const methods = methodsArg === 'all' ? Object.keys(REFERENCE) : methodsArg.split(',');
for (const m of methods) if (!REFERENCE[m]) throw new Error(`bench/learners: unknown method "${m}"; known: ${Object.keys(REFERENCE).join(', ')}, or all`);
const dataset = opt('dataset', 'cifar10') as BundledName;
const shots = Number(opt('shots', '16'));
const epochs = Number(opt('epochs', '30'));
// TaI-DPT trains on texts with its own recipe (batch 512 captions): the paper's 20 epochs unless told.
const taidptEpochs = Number(opt('taidpt-epochs', '20'));
const testPerClass = Number(opt('test-per-class', '50'));
const reps = Number(opt('reps', '1'));
// PyTorch's thread counts to try; the best is reported. On this 2-core machine 1 thread won every time
// (2 threads spin-wait on a busy core: 3-16x slower under load), so 1 is the default.
const threadCounts = opt('threads', '1').split(',').map(Number);
const python = opt('python', '/usr/bin/python3');
const bundle = opt('bundle', 'auto');
const blasThreads = opt('blas-threads', '');
const keepTasks = opt('keep-tasks', '');
const SEED = 1;
const TIME = '/usr/bin/time';

interface Recipe {
  method: string; model: string; epochs: number; seed: number; steps: number; trainableParameters?: number;
  config: Record<string, unknown>; optim: Record<string, unknown>;
}
interface Timed { wall: number; cpu: number }

/** Runs a command as a child process: wall seconds, and its CPU seconds (user + system) from /usr/bin/time. */
function timed(cmd: string, argv: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv }): Timed & { status: number | null; stdout: string; stderr: string } {
  const cpuFile = join(tmpdir(), `bench-learners-cpu-${process.pid}`);
  const useTime = existsSync(TIME);
  const t0 = performance.now();
  const r = useTime
    ? spawnSync(TIME, ['-f', '%U %S', '-o', cpuFile, cmd, ...argv], { encoding: 'utf8', maxBuffer: 1 << 26, ...o })
    : spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26, ...o });
  const wall = (performance.now() - t0) / 1000;
  let cpu = NaN;
  if (useTime && existsSync(cpuFile)) {
    const [u, sys] = readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    cpu = u + sys;
    rmSync(cpuFile, { force: true });
  }
  return { wall, cpu, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `promptscope run` on a fresh cache: wall and CPU seconds, top-1 (mAP for TaI-DPT), and the recipe it trained. */
function runPromptscope(method: string): Timed & { top1: number; recipe: Recipe; where: string } {
  const work = mkdtempSync(join(tmpdir(), 'bench-learners-'));
  try {
    // The checkout may change under a long bench: build the bundle from the sources as they are now (untimed).
    if (bundle === 'require') spawnSync(process.execPath, [join(ROOT, 'bin/build.mjs'), '--quiet'], { cwd: ROOT, stdio: 'inherit' });
    const [notebook, sets] = method === 'taidpt'
      ? ['bench/learner-taidpt.html', [`epochs=${taidptEpochs}`]]
      : ['bench/learner.html', [`method=${method}`, `dataset=${dataset}`, `shots=${shots}`, `epochs=${epochs}`, `testPerClass=${testPerClass}`]];
    const r = timed(process.execPath, [join(ROOT, 'bin/promptscope.js'), 'run', join(ROOT, notebook), '--trust',
      '--cache', join(work, 'cache'), '--out', join(work, 'out'), ...sets.flatMap((x) => ['--set', x])],
    { cwd: ROOT, env: { ...process.env, PROMPTSCOPE_BUNDLE: bundle, ...(blasThreads ? { PROMPTSCOPE_BLAS_THREADS: blasThreads } : {}) } });
    if (r.status !== 0) throw new Error(`promptscope run (${method}) exited ${r.status}:\n${(r.stderr || r.stdout).slice(-3000)}`);
    const metrics = JSON.parse(readFileSync(join(work, 'out/metrics.json'), 'utf8')) as { top1?: number; mAP?: number };
    const recipe = JSON.parse(readFileSync(join(work, 'out/recipe.json'), 'utf8')) as Recipe;
    // Where the time went, from the run's own manifest: before the first cell (start-up), and per stage.
    const manifest = JSON.parse(readFileSync(join(work, 'out/manifest.json'), 'utf8')) as { elapsedMs: number; stages: { stage: string; ms: number; hit: boolean }[] };
    const stages = manifest.stages.filter((st) => !st.hit).map((st) => `${st.stage} ${(st.ms / 1000).toFixed(1)}`).join(', ');
    const where = `outside the cells ${(r.wall - manifest.elapsedMs / 1000).toFixed(1)} s + cells ${(manifest.elapsedMs / 1000).toFixed(1)} s (stages, nested: ${stages})`;
    console.error(`  ${method}: wall ${r.wall.toFixed(1)} s, CPU ${r.cpu.toFixed(1)} s = ${where}`);
    return { wall: r.wall, cpu: r.cpu, top1: (metrics.top1 ?? metrics.mAP)!, recipe, where };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Token ids [rows, L] cropped after the longest text's EOT (as cells/prompts/text-prompt.ts does), and the EOT positions. */
function tokenRows(texts: string[]): { ids: Int32Array; rows: number; length: number; eot: number[] } {
  const L = 77;
  const b = defaultTokenizer().tokenize(texts, { contextLength: L });
  const length = Math.max(...b.eotIndex) + 1;
  const ids = new Int32Array(texts.length * length);
  for (let i = 0; i < texts.length; i++) ids.set(b.ids.subarray(i * L, i * L + length), i * length);
  return { ids, rows: texts.length, length, eot: Array.from(b.eotIndex) };
}

const models = new Map<string, Promise<PromptTask>>();

/**
 * Writes, for the reference, the task exactly as Promptscope split it (pixels, labels), the recipe the run
 * reported, and the token ids of the texts the method encodes (prompts, templates, source label names).
 */
async function exportTask(dir: string, cacheDir: string, recipe: Recipe): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (recipe.method === 'taidpt') return exportTextTask(dir, cacheDir, recipe);
  const modelDir = join(ROOT, 'data/models', recipe.model);
  if (!models.has(recipe.model)) {
    const cache = new Cache(cacheDir);
    cache.onWarning = () => undefined;
    const ctx = { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: () => undefined };
    models.set(recipe.model, runWithContext(ctx, async () => fewShotTask(await load(modelDir, { type: 'any', backend: 'auto' }), await bundledSource(dataset), { shots, seed: SEED, testPerClass })));
  }
  const task = await models.get(recipe.model)!;
  const counts: Record<string, number> = {};
  for (const name of ['train', 'val', 'test'] as const) {
    const split = task[name];
    counts[name] = split.count;
    writeFileSync(join(dir, `${name}.pixels.f32`), split.pixels(Array.from({ length: split.count }, (_, i) => i)));
    writeFileSync(join(dir, `${name}.labels.i32`), split.labels);
  }
  const names = task.classNames.map((c) => c.replace(/_/g, ' '));
  const texts: Record<string, Record<string, unknown>> = {};
  const put = (name: string, list: string[], extra: Record<string, unknown> = {}) => {
    const t = tokenRows(list);
    writeFileSync(join(dir, `${name}.ids.i32`), t.ids);
    texts[name] = { rows: t.rows, length: t.length, eot: t.eot, ...extra };
  };
  const c = recipe.config;
  // CoOp's and UPT's prompt layout, "X … X {class}." (cells/prompts/text-prompt.ts frozenPromptParts).
  const nCtx = Number(c.nCtx ?? c.n ?? 0);
  if (nCtx) put('context', names.map((n) => `${Array(nCtx).fill('X').join(' ')} ${n}.`));
  if (recipe.method === 'vpt') put('template', names.map((n) => String(c.template).replace('{}', n)));
  if (recipe.method === 'upt') {
    // The words UPT's text context is scaled to (upt.ts wordScale): token ids only, no SOT/EOT.
    const w = defaultTokenizer().encode('a photo of a');
    writeFileSync(join(dir, 'words.ids.i32'), Int32Array.from(w));
    texts.words = { rows: 1, length: w.length, eot: [w.length - 1] };
  }
  if (recipe.method === 'visual-reprogramming') {
    // The source labels' prompts and, for the semantic mapping, the downstream names': templates one after another.
    const templates = sourceTemplates(c.sourceTemplates as SourceTemplateSpec);
    const fill = (list: string[]) => templates.flatMap((tpl) => list.map((n) => tpl.replace('{}', n.replace(/_/g, ' '))));
    put('source', fill(sourceLabelNames(c.sourceLabels as SourceLabelSpec)), { templates: templates.length });
    put('classes', fill(names), { templates: templates.length });
  }
  writeFileSync(join(dir, 'task.json'), JSON.stringify({
    modelDir, imageSize: task.imageSize, classes: task.classNames.length, seed: SEED, epochs: recipe.epochs, ...counts, texts, recipe,
  }));
}

/**
 * TaI-DPT's inputs for the reference, as bench/learner-taidpt.html builds them: the training texts tokenised
 * at the run's maxTokens with their derived labels, the class prompts' ids, and the CIFAR-10 mosaics
 * preprocessed to the model's input with their label sets.
 */
async function exportTextTask(dir: string, cacheDir: string, recipe: Recipe): Promise<void> {
  const cache = new Cache(cacheDir);
  cache.onWarning = () => undefined;
  const ctx = { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: () => undefined };
  const modelDir = join(ROOT, 'data/models', recipe.model);
  const { set, mosaics, S } = await runWithContext(ctx, async () => {
    const model = await load(modelDir, { backend: 'auto' });
    const set = textTrainingSet((await loadCorpus('wordnet-cifar10')).map((t) => t.text), CIFAR10_SYNONYMS);
    const mosaics = mosaicSet(await loadDataset({ kind: 'bundled', name: 'cifar10', split: 'test' }), { seed: 0 });
    return { set, mosaics, S: model.config.vision.imageSize };
  });
  const T = Number(recipe.config.maxTokens), nCtx = Number(recipe.config.nCtx);
  const b = defaultTokenizer().tokenize(set.texts, { contextLength: T });
  writeFileSync(join(dir, 'captions.ids.i32'), b.ids);
  writeFileSync(join(dir, 'captions.labels.u8'), set.labels);
  const ctxIds = tokenRows(set.classNames.map((n) => `${Array(nCtx).fill('X').join(' ')} ${n.replace(/_/g, ' ')}.`));
  writeFileSync(join(dir, 'context.ids.i32'), ctxIds.ids);
  const px = new Float32Array(mosaics.count * 3 * S * S);
  for (let i = 0; i < mosaics.count; i++) preprocessInto(mosaics.image(i), S, px, i * 3 * S * S);
  writeFileSync(join(dir, 'mosaics.pixels.f32'), px);
  writeFileSync(join(dir, 'mosaics.labels.u8'), mosaics.labels);
  writeFileSync(join(dir, 'task.json'), JSON.stringify({
    modelDir, imageSize: S, classes: set.classNames.length, seed: SEED, epochs: recipe.epochs, recipe, mosaics: mosaics.count,
    texts: {
      captions: { rows: b.n, length: T, eot: Array.from(b.eotIndex) },
      context: { rows: ctxIds.rows, length: ctxIds.length, eot: ctxIds.eot },
    },
  }));
}

function runReference(taskDir: string, method: string, threads: number): Timed & { top1: number; threads: number; phases: Record<string, number>; trainable?: number } {
  // PYTHONDONTWRITEBYTECODE: the references import common.py; no __pycache__ left in the checkout.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), PYTHONDONTWRITEBYTECODE: '1' };
  const script = join(ROOT, 'bench/reference', REFERENCE[method]);
  const trainer = method.replace(/-(vit|resnet)$/, '').replace(/^label-mapping-.*/, 'visual-reprogramming');
  const r = timed(python, [script, '--task', taskDir, '--method', trainer, '--threads', String(threads)], { env });
  if (r.status !== 0) throw new Error(`reference (${method}) exited ${r.status}:\n${r.stderr.slice(-3000)}\nNeeds Debian's python3-torch (apt-get install python3-torch).`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { top1: number; phases: Record<string, number>; trainable?: number };
  return { wall: r.wall, cpu: r.cpu, top1: out.top1, threads, phases: out.phases, trainable: out.trainable };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const load3 = () => loadavg().map((l) => l.toFixed(1)).join(' / ');

console.log(`# learners end to end: ${dataset}, K=${shots}, ${epochs} epochs, ${testPerClass} test images/class, ${reps} rep(s); ${new Date().toISOString()}`);
console.log(`# machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, load average ${load3()} at the start; PROMPTSCOPE_BUNDLE=${bundle}${blasThreads ? `, PROMPTSCOPE_BLAS_THREADS=${blasThreads}` : ''}`);
const rows: string[] = [];
const t0 = performance.now();
// Interleaved: each Promptscope run is followed at once by the reference runs it is compared with, so both
// sides of a ratio see about the same machine load (the build machine is shared; a few minutes apart the
// load average moved from 9 to 14, which skewed the first tables).
const taskRoot = keepTasks || mkdtempSync(join(tmpdir(), 'bench-learners-task-'));
mkdirSync(taskRoot, { recursive: true });
try {
  // One method failing (a learner changed under the bench, a missing reference) costs its row, not the table.
  for (const m of methods) try {
    const mine: ReturnType<typeof runPromptscope>[] = [];
    const byThreads: ReturnType<typeof runReference>[][] = threadCounts.map(() => []);
    const taskDir = join(taskRoot, m);
    for (let i = 0; i < reps; i++) {
      const r = runPromptscope(m);
      mine.push(r);
      // Untimed: the split exactly as Promptscope made it, and this method's recipe, for the reference.
      if (i === 0) await exportTask(taskDir, join(taskRoot, 'cache'), r.recipe);
      threadCounts.forEach((t, k) => byThreads[k].push(runReference(taskDir, m, t)));
    }
    const { recipe, top1 } = mine[mine.length - 1];
    console.error(`promptscope ${m}: ${mine.map((r) => `${r.wall.toFixed(1)} s (CPU ${r.cpu.toFixed(1)})`).join(', ')}, top-1 ${(top1 * 100).toFixed(1)}%`);
    // Per thread count the median of the reps; the best thread count is the reference.
    const refs = byThreads.reduce((best, rs) => (median(rs.map((r) => r.wall)) < median(best.map((r) => r.wall)) ? rs : best));
    for (const rs of byThreads) console.error(`pytorch ${m}, ${rs[0].threads} thread(s): ${rs.map((r) => `${r.wall.toFixed(1)} s (CPU ${r.cpu.toFixed(1)})`).join(', ')}, phases ${JSON.stringify(rs[0].phases)}`);
    const wall = median(mine.map((r) => r.wall)), cpu = median(mine.map((r) => r.cpu));
    const refWall = median(refs.map((r) => r.wall)), refCpu = median(refs.map((r) => r.cpu));
    const last = refs[refs.length - 1];
    const params = recipe.trainableParameters === last.trainable || last.trainable === undefined ? `${recipe.trainableParameters ?? '?'}` : `${recipe.trainableParameters} / ${last.trainable}`;
    rows.push(`| ${m === 'taidpt' ? 'taidpt (mAP %)' : m} | ${recipe.model} | ${params} | ${recipe.steps} | ${wall.toFixed(1)} / ${cpu.toFixed(1)} | ${refWall.toFixed(1)} / ${refCpu.toFixed(1)} (${refs[0].threads}) | **${(wall / refWall).toFixed(2)}×** | ${(cpu / refCpu).toFixed(2)}× | ${(top1 * 100).toFixed(1)} | ${(last.top1 * 100).toFixed(1)} |`);
  } catch (e) {
    console.error(`${m} failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
    rows.push(`| ${m} | failed: ${String((e as Error).message ?? e).split('\n')[0].replace(/\|/g, '/')} | | | | | | | | |`);
  }
} finally {
  if (!keepTasks) rmSync(taskRoot, { recursive: true, force: true });
}
console.log(`# load average ${load3()} at the end; ${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
console.log('\n| learner | model | trainable (Promptscope / PyTorch if they differ) | SGD steps | Promptscope wall / CPU s | PyTorch wall / CPU s (threads) | ratio, wall | ratio, CPU | top-1 % Promptscope | top-1 % PyTorch |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
