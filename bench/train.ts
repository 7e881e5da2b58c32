// bench/train: training-step timings of the compute layer against PyTorch on the same machine.
//   node --import tsx bench/train.ts [--quick] [--backends wasm,webgpu,cpu] [--workers 1,2] [--steps 3] [--no-torch]
// Prints one table: forward, forward+backward, optimizer step and whole step per tower / prompt step,
// backend, formulation (plain autograd / the fast ops on tfjs's kernels / the fast ops on Promptscope's
// native kernels) and worker count; PyTorch's best thread setting
// for the same shapes (bench/reference/train_step.py); the ratios. Then the float32 matmul peak and
// frozen-feature extraction throughput as a fraction of it. Times are the best of `steps` runs: the
// build machine is shared, and the minimum is the least disturbed estimate of each side.
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { cpus, availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendName } from '../cells/model/backend.ts';
import { useNativeKernels, dropNativeKernels } from '../cells/model/native/kernels.ts';
import { createDataParallel, splitBatch, type Batch } from './support/data-parallel/index.ts';
import { VariablesAdam } from './support/adam.ts';
import { towers, initParams, loss, encode, makeBatch, opsByName, type TowerConfig } from './tower.ts';
import { bestOf, type Timing } from './support/timing.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const quick = args.includes('--quick');
const backends = opt('backends', quick ? 'wasm' : 'wasm,webgpu,cpu').split(',') as BackendName[];
const workerCounts = opt('workers', '2').split(',').map(Number);
const steps = Number(opt('steps', quick ? '2' : '3'));
const batchSize = Number(opt('batch', '32'));
const promptTokens = 4;
const sizes = (opt('sizes', quick ? 'mini' : 'mini,fixture')).split(',');

/**
 * plain: every op the obvious autograd way, tfjs's kernels (the first "before"); fast: cells/model/ops on
 * tfjs's kernels (the second); native: the same ops on Promptscope's native kernels (cells/model/native).
 */
type Formulation = 'plain' | 'fast' | 'native';

interface Row {
  step: string; backend: string; formulation: Formulation; workers: number;
  forward?: number; fwdBwd?: number; opt?: number; total: number;
  /** Process CPU time of the whole step (all threads): on a shared machine, the undisturbed cost. */
  cpu: number;
}
const rows: Row[] = [];

async function best(f: () => Promise<void> | void, n: number): Promise<number> {
  return (await bestOf(f, n)).wall;
}

/** Wait for the backend to finish (webgpu is asynchronous): read one value of the last result. */
async function sync(t: tf.Tensor): Promise<void> {
  await t.reshape([-1]).slice(0, 1).data();
}

interface StepSpec { name: string; tower: string; prompt: boolean }
function stepSpecs(): StepSpec[] {
  const s: StepSpec[] = [];
  for (const size of sizes) {
    s.push({ name: `${size}-vision`, tower: `${size}-vision`, prompt: false });
    s.push({ name: `${size}-text`, tower: `${size}-text`, prompt: false });
    s.push({ name: `${size}-coop`, tower: `${size}-text`, prompt: true });
    s.push({ name: `${size}-vpt`, tower: `${size}-vision`, prompt: true });
  }
  return s;
}

/** Native kernels on or off for what follows (in-process, and the workers started afterwards). */
function setNative(on: boolean): void {
  if (on) {
    delete process.env.PROMPTSCOPE_NATIVE;
    if (!useNativeKernels()) throw new Error('bench: the native kernels do not load here (run `npm run build:native`)');
  } else {
    process.env.PROMPTSCOPE_NATIVE = 'off';
    dropNativeKernels();
  }
}

async function timeInProcess(spec: StepSpec, backend: string, formulation: Formulation): Promise<Row> {
  const c = towers[spec.tower];
  const ops = opsByName[formulation === 'plain' ? 'plain' : 'fast'];
  const p = initParams(c, 7, !spec.prompt);
  const prompts = spec.prompt ? tf.variable(tf.randomNormal([promptTokens, c.width], 0, 0.02, 'float32', 5), true) : undefined;
  const vars = prompts ? [prompts] : Object.values(p);
  const { input, labels } = makeBatch(c, batchSize);
  // The fast formulation includes the fused JavaScript Adam where gradients live in CPU memory.
  const fused = formulation !== 'plain' && backend !== 'webgpu';
  const tfAdam = tf.train.adam(1e-4);
  const flatAdam = fused ? new VariablesAdam(vars, { learningRate: 1e-4 }) : undefined;
  const apply = (grads: tf.NamedTensorMap) => {
    if (flatAdam) flatAdam.applyGradients(vars.map((v) => grads[v.name]));
    else tfAdam.applyGradients(grads as unknown as Record<string, tf.Variable>);
  };
  const f = () => loss(ops, c, p, input, labels, prompts as tf.Tensor2D | undefined);
  // The slow rows (plain autograd, pure-JS cpu, webgpu on Mesa) are orders of magnitude apart: one run each.
  const n = formulation === 'plain' || backend !== 'wasm' ? 1 : steps;
  const forward = await best(async () => { const l = tf.tidy(f); await sync(l); l.dispose(); }, n);
  const fwdBwd = await best(async () => {
    const { value, grads } = tf.variableGrads(f, vars);
    await sync(grads[vars[0].name]);
    tf.dispose([value, ...Object.values(grads)]);
  }, n);
  const { value, grads } = tf.variableGrads(f, vars);
  const optMs = await best(async () => { apply(grads); await sync(vars[0]); }, n);
  tf.dispose([value, ...Object.values(grads)]);
  const { wall: total, cpu } = await bestOf(async () => {
    const { value: l, grads: g } = tf.variableGrads(f, vars);
    apply(g);
    await sync(l);
    tf.dispose([l, ...Object.values(g)]);
  }, n);
  tf.dispose([input, labels, ...vars, ...Object.values(p)]);
  tfAdam.dispose();
  return { step: spec.name, backend, formulation, workers: 0, forward, fwdBwd, opt: optMs, total, cpu };
}

function batchArrays(c: TowerConfig): Batch {
  const { input, labels } = makeBatch(c, batchSize);
  const b: Batch = {
    input: { data: input.dataSync() as Float32Array | Int32Array, shape: input.shape },
    labels: { data: labels.dataSync() as Int32Array, shape: labels.shape },
  };
  tf.dispose([input, labels]);
  return b;
}

async function timeWorkers(spec: StepSpec, workers: number, formulation: Formulation): Promise<Row> {
  const c = towers[spec.tower];
  const dp = await createDataParallel({
    workerModule: new URL('./train-worker.ts', import.meta.url), workers, backend: 'wasm',
    init: { tower: spec.tower, formulation: 'fast', promptTokens: spec.prompt ? promptTokens : undefined },
  });
  try {
    const batch = batchArrays(c);
    const { wall: total, cpu } = await bestOf(async () => { await dp.step(batch); }, steps);
    return { step: spec.name, backend: 'wasm', formulation, workers, total, cpu };
  } finally {
    await dp.close();
  }
}

/** Forward FLOPs of a tower on one batch (matmuls only: projections, MLP, attention, patch/head). */
function forwardFlops(c: TowerConfig, b: number): number {
  const t = c.kind === 'vision' ? (c.image! / c.patch!) ** 2 + 1 : c.seq!;
  const d = c.width;
  const perLayer = 2 * b * t * d * d * 4 + 2 * b * t * d * 4 * d * 2 + 2 * b * t * t * d * 2;
  const embed = c.kind === 'vision' ? 2 * b * (t - 1) * 3 * c.patch! ** 2 * d : 0;
  return c.depth * perLayer + embed;
}

/** Frozen-feature extraction rate in GFLOP/s: by wall clock, and per core by process CPU time. */
async function extraction(tower: string, workers: number, formulation: Formulation): Promise<{ wall: number; perCoreCpu: number }> {
  const c = towers[tower];
  const big = 128;
  const flops = forwardFlops(c, big) / 1e9;
  const rate = (t: Timing) => ({ wall: flops / (t.wall / 1000), perCoreCpu: flops / (t.cpu / 1000) });
  if (workers === 0) {
    await initBackend('wasm');
    setNative(formulation === 'native'); // after initBackend, which installs the native kernels
    const p = initParams(c, 7, false);
    const { input } = makeBatch(c, big);
    const t = await bestOf(async () => { const h = tf.tidy(() => encode(opsByName.fast, c, p, input)); await sync(h); h.dispose(); }, steps);
    tf.dispose([input, ...Object.values(p)]);
    return rate(t);
  }
  const dp = await createDataParallel({ workerModule: new URL('./train-worker.ts', import.meta.url), workers, backend: 'wasm', init: { tower, formulation: 'fast' } });
  try {
    const { input } = makeBatch(c, big);
    const b: Batch = { input: { data: input.dataSync() as Float32Array, shape: input.shape } };
    input.dispose();
    const shards = splitBatch(b, workers);
    return rate(await bestOf(async () => { await dp.map('extract', shards.map((s) => [s])); }, steps));
  } finally {
    await dp.close();
  }
}

/** tfjs's own best 2-D float32 matmul rate on this backend (1024² plain product). */
async function tfjsMatmulPeak(): Promise<number> {
  const a = tf.randomNormal([1024, 1024]), b = tf.randomNormal([1024, 1024]);
  const ms = await best(async () => { const c = tf.matMul(a, b); await sync(c); c.dispose(); }, steps);
  tf.dispose([a, b]);
  return 2 * 1024 ** 3 / (ms / 1000) / 1e9;
}

interface TorchRes { torch: string; threads: number; blas: string; matmul_gflops: number; matmul_gflops_per_core_cpu: number; towers: Record<string, { forward: number; fwd_bwd: number; opt: number; step: number; step_cpu: number; infer: number }> }

function runTorch(): { best: TorchRes; all: TorchRes[] } | undefined {
  if (args.includes('--no-torch')) return undefined;
  const script = fileURLToPath(new URL('./reference/train_step.py', import.meta.url));
  const all: TorchRes[] = [];
  for (const threads of [1, 2]) {
    try {
      const out = execFileSync('/usr/bin/python3', [script, '--threads', String(threads), '--steps', String(steps), '--batch', String(batchSize),
        '--towers', sizes.flatMap((s) => [`${s}-vision`, `${s}-text`]).join(','), '--sizes', sizes.join(',')],
      // OPENBLAS_NUM_THREADS too: torch.set_num_threads does not reach OpenBLAS's own thread pool.
      { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: '4', OPENBLAS_NUM_THREADS: String(threads) }, maxBuffer: 1 << 24 });
      all.push(JSON.parse(out) as TorchRes);
    } catch (e) {
      console.error(`PyTorch reference failed (${(e as Error).message.split('\n')[0]}); install with apt-get install -y python3-torch libopenblas0-pthread`);
      return undefined;
    }
  }
  // Best thread setting per step.
  const best: TorchRes = { ...all[0], towers: {} };
  best.matmul_gflops = Math.max(...all.map((r) => r.matmul_gflops));
  best.matmul_gflops_per_core_cpu = all.find((r) => r.threads === 1)?.matmul_gflops_per_core_cpu ?? NaN;
  for (const name of Object.keys(all[0].towers)) {
    const pick = all.reduce((a, r) => (r.towers[name].step < a.towers[name].step ? r : a));
    best.towers[name] = { ...pick.towers[name] };
    (best.towers[name] as Record<string, number>).threads = pick.threads;
  }
  return { best, all };
}

const fmt = (v?: number) => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

async function main(): Promise<void> {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`# bench/train — ${new Date().toISOString()} — ${model}, ${availableParallelism()} cores, Node ${process.versions.node}, batch ${batchSize}, best of ${steps}`);
  const specs = stepSpecs();
  let tfjsPeak = 0, nativePeak = 0;
  for (const backend of backends) {
    try {
      await initBackend(backend);
    } catch (e) {
      console.log(`(skipping ${backend}: ${(e as Error).message})`);
      continue;
    }
    if (backend === 'wasm') {
      setNative(false);
      tfjsPeak = await tfjsMatmulPeak();
      setNative(true);
      nativePeak = await tfjsMatmulPeak();
    }
    for (const spec of specs) {
      // The pure-JS cpu backend (~20 s per mini step) and webgpu on Mesa's CPU driver (~20 s): fixture
      // size only. They are correctness paths here, not speed paths.
      if (backend !== 'wasm' && !spec.name.startsWith('fixture')) continue;
      for (const formulation of ['plain', 'fast', 'native'] as const) {
        if (formulation === 'plain' && (backend !== 'wasm' || spec.prompt)) continue;
        if (formulation === 'native' && backend !== 'wasm') continue;
        if (backend === 'wasm') setNative(formulation === 'native');
        const r = await timeInProcess(spec, backend, formulation);
        rows.push(r);
        console.error(`  ${r.step} ${backend} ${formulation}: ${fmt(r.total)} ms`);
      }
    }
  }
  for (const w of workerCounts) {
    for (const formulation of ['fast', 'native'] as const) {
      setNative(formulation === 'native');
      for (const spec of specs) {
        const r = await timeWorkers(spec, w, formulation);
        rows.push(r);
        console.error(`  ${r.step} wasm ${formulation} ×${w} workers: ${fmt(r.total)} ms`);
      }
    }
  }
  const torch = runTorch();
  const ref = (name: string) => torch?.best.towers[name];
  // UPT = a CoOp and a VPT prompt step together (both towers frozen, both prompts trained).
  const upt = (size: string, pick: (name: string) => Row | undefined) => {
    const a = pick(`${size}-coop`), b = pick(`${size}-vpt`);
    return a && b ? a.total + b.total : undefined;
  };
  const t1 = (name: string) => torch?.all.find((r) => r.threads === 1)?.towers[name];
  console.log('\n| step | backend | ops | workers | forward ms | fwd+bwd ms | optimizer ms | step ms | step CPU ms | PyTorch step ms (threads) | ratio (wall) | PyTorch 1-thread CPU ms | ratio (CPU) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const t = ref(r.step), c1 = t1(r.step);
    console.log(`| ${r.step} | ${r.backend} | ${r.formulation} | ${r.workers || 'in-process'} | ${fmt(r.forward)} | ${fmt(r.fwdBwd)} | ${fmt(r.opt)} | ${fmt(r.total)} | ${fmt(r.cpu)} | ${t ? `${fmt(t.step)} (${(t as unknown as { threads: number }).threads})` : '–'} | ${t ? (r.total / t.step).toFixed(2) + '×' : '–'} | ${c1 ? fmt(c1.step_cpu) : '–'} | ${c1 ? (r.cpu / c1.step_cpu).toFixed(2) + '×' : '–'} |`);
  }
  for (const size of sizes) {
    for (const [w, formulation] of [0, ...workerCounts].flatMap((n) => (['fast', 'native'] as const).map((f) => [n, f] as const))) {
      const pick = (n: string) => rows.find((r) => r.step === n && r.workers === w && r.backend === 'wasm' && r.formulation === formulation);
      const mine = upt(size, pick);
      const mineCpu = pick(`${size}-coop`) && pick(`${size}-vpt`) ? pick(`${size}-coop`)!.cpu + pick(`${size}-vpt`)!.cpu : undefined;
      const theirs = ref(`${size}-coop`) && ref(`${size}-vpt`) ? ref(`${size}-coop`)!.step + ref(`${size}-vpt`)!.step : undefined;
      const theirsCpu = t1(`${size}-coop`) && t1(`${size}-vpt`) ? t1(`${size}-coop`)!.step_cpu + t1(`${size}-vpt`)!.step_cpu : undefined;
      console.log(`| ${size}-upt (coop+vpt) | wasm | ${formulation} | ${w || 'in-process'} | – | – | – | ${fmt(mine)} | ${fmt(mineCpu)} | ${fmt(theirs)} | ${mine && theirs ? (mine / theirs).toFixed(2) + '×' : '–'} | ${fmt(theirsCpu)} | ${mineCpu && theirsCpu ? (mineCpu / theirsCpu).toFixed(2) + '×' : '–'} |`);
    }
  }
  if (torch) {
    console.log(`\nPyTorch ${torch.best.torch}, BLAS ${torch.best.blas}; per-thread-count step ms: ` +
      torch.all.map((r) => `${r.threads} thr: ` + Object.entries(r.towers).map(([k, v]) => `${k} ${fmt(v.step)}`).join(', ')).join(' | '));
  }
  const peak = torch?.best.matmul_gflops;
  const corePeak = torch?.best.matmul_gflops_per_core_cpu;
  console.log(`\nfloat32 matmul peak (PyTorch/OpenBLAS 2048²): ${peak ? fmt(peak) + ' GFLOP/s wall-clock, best thread count' : 'n/a (no PyTorch)'}` +
    `${corePeak ? `; ${fmt(corePeak)} GFLOP/s per core by CPU time (1 thread)` : ''}; tfjs wasm 1024² 2-D matmul: ${fmt(tfjsPeak)} GFLOP/s wall (one thread), with the native kernels ${fmt(nativePeak)} (BLAS threads: all cores)`);
  await initBackend('wasm');
  for (const size of sizes) {
    const tower = `${size}-vision`;
    for (const [w, formulation] of [0, ...workerCounts].flatMap((n) => (['fast', 'native'] as const).map((f) => [n, f] as const))) {
      setNative(formulation === 'native');
      const gf = await extraction(tower, w, formulation);
      console.log(`feature extraction ${tower} (batch 128, wasm ${formulation === 'native' ? '+ native kernels' : 'kernels'}, ${w ? `${w} workers` : 'in-process'}): ${fmt(gf.wall)} GFLOP/s wall` +
        `${peak ? ` = ${(100 * gf.wall / peak).toFixed(0)}% of the wall-clock peak` : ''}; ${fmt(gf.perCoreCpu)} GFLOP/s per busy core` +
        `${corePeak ? ` = ${(100 * gf.perCoreCpu / corePeak).toFixed(0)}% of the per-core peak` : ''}`);
    }
  }
}

await main();
