// bench/resnet: the CIFAR ResNet (the CNN backbone of Pro-tuning) against the same model in PyTorch on this
// CPU, in one run: the frozen forward pass, one Pro-tuning step and one full fine-tuning step, each as the
// product runs it (cells/prompts' ProTuningTrainer / FineTuneTrainer on cnnBackbone, the shared loop's
// cross-entropy and momentum SGD), on the shipped checkpoint; PyTorch (bench/reference/resnet_step.py) reads
// the same config.json + model.safetensors.
//   node --import tsx bench/resnet.ts [--steps 5] [--batch 64] [--model data/models/resnet-cifar10] [--threads 1,2] [--no-torch]
// Thread counts are pinned on both sides and every setting runs in its own process: tfjs-wasm runs its
// kernels on the main thread, with OpenBLAS (the native kernels' matrix products) on
// PROMPTSCOPE_BLAS_THREADS = 1 or 2; PyTorch with torch.set_num_threads and OPENBLAS_NUM_THREADS the same
// (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4, as bench/train.ts). Times are the best of `steps`
// after a warm-up (the build machine is shared; the minimum is the least disturbed estimate), with the
// process CPU time of that run beside them.
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, currentBackend } from '../cells/model/backend.ts';
import { useNativeKernels, dropNativeKernels } from '../cells/model/native/kernels.ts';
import { nativeConvKernel } from '../cells/model/native/conv-kernels.ts';
import { nativeAddon } from '../cells/model/native/index.ts';
import { blockPlan, type ResNetConfig } from '../cells/model/resnet/index.ts';
import { load } from '../cells/model/load.ts';
import { cnnBackbone } from '../cells/model/backbone.ts';
import { softmaxCrossEntropy } from '../cells/model/ops/index.ts';
import { ProTuningTrainer, PROTUNING_DEFAULTS } from '../cells/prompts/protuning.ts';
import { bottleneckWidth, depthwise3x3 } from '../cells/prompts/prompt-block.ts';
import { FineTuneTrainer, FINETUNE_DEFAULTS } from '../cells/prompts/finetune.ts';
import { PromptOptimizer } from '../cells/prompts/optimizer.ts';
import { OPTIM_DEFAULTS } from '../cells/prompts/optim.ts';
import type { PromptTrainer } from '../cells/prompts/trainer.ts';
import { bestOf, type Timing } from './support/timing.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const steps = Number(opt('steps', '5'));
const batch = Number(opt('batch', '64'));
const modelDir = resolve(opt('model', fileURLToPath(new URL('../data/models/resnet-cifar10', import.meta.url))));
const threadCounts = opt('threads', '1,2').split(',').map(Number);
const CLASSES = 10;

type Kind = 'forward' | 'protuning' | 'finetune';
const KINDS: Kind[] = ['forward', 'protuning', 'finetune'];
/**
 * tfjs: tfjs-wasm's own kernels + the JS fallbacks for the gradients it lacks; native: as the product runs
 * (cells/model/native: conv.c / conv-direct.c convolutions and gradients, OpenBLAS products);
 * xnnpack-forward: a what-if, the same with the forward convolutions (Conv2D, FusedConv2D) put back on
 * tfjs-wasm's XNNPACK kernels, as the product ran them before conv-direct.c (registered here only).
 */
type Kernels = 'tfjs' | 'native' | 'xnnpack-forward';
interface ChildResult {
  threads: number; backend: string; rows: Array<{ kind: Kind; kernels: Kernels; runs: number } & Timing>; params: Record<string, number>;
  convs: ConvTiming[];
  /** The prompt blocks' 3×3 depthwise convolutions, forward + both gradients: as nine slices (prompt-block.ts before) and as one kernel (prompt-block.ts now). */
  depthwise: Array<{ conv: Conv; nineSlices: Timing; oneKernel: Timing }>;
  /** Kernel time of one native step by kernel name (tf.profile), largest first. */
  profile: Record<string, Array<{ kernel: string; ms: number; calls: number }>>;
}

/** One convolution of the network, as the PyTorch side takes it too. */
interface Conv { name: string; batch: number; size: number; cin: number; cout: number; k: number; stride: number; groups: number }
interface ConvTiming { conv: Conv; xnnpack: Timing; native: Timing; dx: Timing; dw: Timing }

/** Every distinct convolution of the ResNet (stem, blocks, shortcuts), with how often the network runs it. */
function networkConvs(c: ResNetConfig): Array<Conv & { count: number }> {
  const out = new Map<string, Conv & { count: number }>();
  const add = (name: string, size: number, cin: number, cout: number, k: number, stride: number) => {
    const key = [size, cin, cout, k, stride].join();
    const hit = out.get(key);
    if (hit) hit.count++;
    else out.set(key, { name, batch, size, cin, cout, k, stride, groups: 1, count: 1 });
  };
  let size = c.image_size;
  add('stem', size, c.num_channels, c.embedding_size, 3, 1);
  for (const b of blockPlan(c).flat()) {
    add(`${b.prefix}.conv1`, size, b.inChannels, b.outChannels, 3, b.stride);
    if (b.projection) add(`${b.prefix}.shortcut`, size, b.inChannels, b.outChannels, 1, b.stride);
    size = Math.ceil(size / b.stride);
    add(`${b.prefix}.conv2`, size, b.outChannels, b.outChannels, 3, 1);
  }
  return [...out.values()];
}

/** The model's padding: (k − 1)/2 on every side (PyTorch's), none for 1×1. */
const padOf = (k: number): 'valid' | [[number, number], [number, number], [number, number], [number, number]] =>
  k === 1 ? 'valid' : [[0, 0], [(k - 1) / 2, (k - 1) / 2], [(k - 1) / 2, (k - 1) / 2], [0, 0]];

function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** tfjs-wasm's own forward convolution kernels (XNNPACK), saved before the native ones replace them. */
const xnnpack = {} as Record<'Conv2D' | 'FusedConv2D', tf.KernelConfig>;

/** One dense convolution alone: tfjs-wasm's forward (XNNPACK), conv.c's forward, input and filter gradients (direct kernels where they apply). */
async function timeConv(c: Conv, n: number): Promise<ConvTiming> {
  const x = randomTensor([c.batch, c.size, c.size, c.cin], 1) as tf.Tensor4D;
  const w = randomTensor([c.k, c.k, c.cin, c.cout], 2) as tf.Tensor4D;
  const pad = padOf(c.k);
  const y = tf.conv2d(x, w, c.stride, pad);
  const dy = randomTensor(y.shape, 3);
  const attrs = { strides: c.stride, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
  const native = nativeConvKernel(nativeAddon()!, 'Conv2D');
  const backend = tf.backend();
  const run = (f: () => tf.TensorInfo) => async () => { const o = f(); backend.disposeData(o.dataId); };
  const out: ConvTiming = {
    conv: c,
    xnnpack: await bestOf(run(() => xnnpack.Conv2D.kernelFunc({ inputs: { x, filter: w }, backend, attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo), n),
    native: await bestOf(run(() => native({ inputs: { x, filter: w }, backend, attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo), n),
    dx: await bestOf(run(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor), n),
    dw: await bestOf(run(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape } as unknown as tf.NamedAttrMap) as tf.Tensor), n),
  };
  tf.dispose([x, w, y, dy]);
  return out;
}

/**
 * The block's depthwise convolution as prompt-block.ts wrote it before it became one tf.depthwiseConv2d:
 * nine shifted slices scaled per channel (only ops with gradient kernels on every backend). Kept here as the
 * "before" of the comparison.
 */
function nineSliceDepthwise(h: tf.Tensor4D, kernel: tf.Tensor2D): tf.Tensor4D {
  const [B, H, W, m] = h.shape;
  const padded = tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  let out: tf.Tensor4D | undefined;
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) {
      const tap = kernel.slice([dy * 3 + dx, 0], [1, m]).reshape([m]);
      const term = padded.slice([0, dy, dx, 0], [B, H, W, m]).mul(tap) as tf.Tensor4D;
      out = out ? (out.add(term) as tf.Tensor4D) : term;
    }
  }
  return out!;
}

/** The 3×3 depthwise convolution of one prompt block, forward + gradients of input and taps. */
async function timeDepthwise(c: Conv, n: number): Promise<{ conv: Conv; nineSlices: Timing; oneKernel: Timing }> {
  const x = randomTensor([c.batch, c.size, c.size, c.cin], 4) as tf.Tensor4D;
  const taps = randomTensor([9, c.cin], 5) as tf.Tensor2D;
  const both = (f: (x: tf.Tensor4D, t: tf.Tensor2D) => tf.Tensor) => async () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor2D).sum())([x, taps]);
    await g[1].data();
    tf.dispose(g);
  };
  const out = {
    conv: c,
    nineSlices: await bestOf(both((a, t) => nineSliceDepthwise(a, t)), n),
    oneKernel: await bestOf(both((a, t) => depthwise3x3(a, t)), n),
  };
  tf.dispose([x, taps]);
  return out;
}

/** Kernel milliseconds of one call of `f` by kernel name (tf.profile), largest first. */
async function profileOf(f: () => Promise<void>): Promise<Array<{ kernel: string; ms: number; calls: number }>> {
  const by = new Map<string, { ms: number; calls: number }>();
  const info = await tf.profile(async () => { await f(); });
  for (const k of info.kernels) {
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number((k as unknown as { kernelTimeMs: number }).kernelTimeMs) || 0;
    e.calls++;
    by.set(k.name, e);
  }
  return [...by].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => b.ms - a.ms);
}


/** Deterministic CLIP-normalised pixels [B, 3, S, S] (what the loop's batches carry) and labels. */
function makeBatch(size: number): { pixels: tf.Tensor4D; labels: Int32Array } {
  const n = batch * 3 * size * size;
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; data[i] = (s / 2 ** 32) * 4 - 2; }
  return { pixels: tf.tensor4d(data, [batch, 3, size, size]), labels: Int32Array.from({ length: batch }, (_, i) => (i * 7) % CLASSES) };
}

/** The training loop's step (cells/prompts/train.ts trainLoop), without its bookkeeping. */
function stepOf(trainer: PromptTrainer, pixels: tf.Tensor4D, labels: Int32Array): { run: () => Promise<void>; dispose: () => void; params: number } {
  const vars = trainer.variables();
  const sgd = new PromptOptimizer(vars, OPTIM_DEFAULTS);
  return {
    params: vars.reduce((a, v) => a + v.size, 0),
    run: async () => {
      const y = tf.tensor1d(labels, 'int32');
      const { value, grads } = tf.variableGrads(() => softmaxCrossEntropy(trainer.logits({ labels, pixels }, true, 0), y), vars);
      await value.data();
      sgd.step(grads, OPTIM_DEFAULTS, OPTIM_DEFAULTS.lr);
      tf.dispose([value, y, ...Object.values(grads)]);
      await vars[0].data(); // the update has happened
    },
    dispose: () => { sgd.dispose(); trainer.dispose(); },
  };
}

async function child(): Promise<void> {
  await initBackend('wasm');
  const resnet = await load(modelDir, { type: 'resnet' });
  const backbone = cnnBackbone(resnet);
  const { pixels, labels } = makeBatch(resnet.config.image_size);
  const task = { name: 'bench', classNames: Array.from({ length: CLASSES }, (_, i) => `c${i}`) };
  const out: ChildResult = { threads: Number(process.env.PROMPTSCOPE_BLAS_THREADS), backend: '', rows: [], params: {}, convs: [], depthwise: [], profile: {} };
  for (const kernels of ['tfjs', 'native', 'xnnpack-forward'] as const) {
    if (kernels === 'tfjs') {
      dropNativeKernels();
      for (const name of ['Conv2D', 'FusedConv2D'] as const) xnnpack[name] = tf.getKernel(name, 'wasm')!;
    } else if (!useNativeKernels()) throw new Error('bench/resnet: the native kernels do not load here (run `npm run build:native`)');
    if (kernels === 'xnnpack-forward') {
      for (const name of ['Conv2D', 'FusedConv2D'] as const) {
        tf.unregisterKernel(name, 'wasm');
        tf.registerKernel(xnnpack[name]);
      }
    }
    if (kernels === 'native') out.backend = currentBackend();
    // Without the native kernels the filter gradients run in plain JS (seconds per step): one run each.
    const n = kernels === 'tfjs' ? 1 : steps;
    const forward = async () => { const p = tf.tidy(() => backbone.encodeImage(pixels)); await p.data(); p.dispose(); };
    out.rows.push({ kind: 'forward', kernels, runs: n, ...(await bestOf(forward, n)) });
    if (kernels === 'native') out.profile.forward = await profileOf(forward);
    for (const kind of ['protuning', 'finetune'] as const) {
      const trainer: PromptTrainer = kind === 'protuning' ? new ProTuningTrainer() : new FineTuneTrainer();
      (trainer as PromptTrainer<unknown>).init(backbone, task, kind === 'protuning' ? PROTUNING_DEFAULTS : FINETUNE_DEFAULTS, 0);
      const st = stepOf(trainer, pixels, labels);
      out.params[kind] = st.params;
      out.rows.push({ kind, kernels, runs: n, ...(await bestOf(st.run, n)) });
      if (kernels === 'native') out.profile[kind] = await profileOf(st.run);
      st.dispose();
    }
    if (kernels !== 'native') continue;
    // Where the time goes (with the product's kernels): each convolution alone, and the prompt blocks'
    // depthwise convolutions.
    for (const c of networkConvs(resnet.config)) out.convs.push(await timeConv(c, steps));
    for (const site of backbone.stages) {
      const m = bottleneckWidth({ channels: site.channels, ratio: PROTUNING_DEFAULTS.ratio });
      const conv: Conv = { name: `block${site.layer}.depthwise`, batch, size: site.height, cin: m, cout: m, k: 3, stride: 1, groups: m };
      out.depthwise.push(await timeDepthwise(conv, steps));
    }
  }
  console.log(JSON.stringify(out));
}

interface TorchResult {
  torch: string; threads: number; blas: string; ms: Record<Kind, Timing>; params: Record<string, number>;
  convs?: Array<{ forward: Timing; dx: Timing; dw: Timing }>;
}

const torchEnv = (threads: number) => ({ ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: '4', OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) });

async function main(): Promise<void> {
  const load = loadavg()[0];
  console.log(`# bench/resnet — ${new Date().toISOString()} — ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load average ${load.toFixed(1)} at start, Node ${process.versions.node}, batch ${batch}, best of ${steps}, model ${modelDir}`);
  const self = fileURLToPath(import.meta.url);
  const mine: ChildResult[] = [];
  const theirs: TorchResult[] = [];
  for (const threads of threadCounts) {
    const r = execFileSync(process.execPath, ['--import', 'tsx', self, ...args, '--child'], {
      encoding: 'utf8', env: { ...process.env, PROMPTSCOPE_BLAS_THREADS: String(threads) }, maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    mine.push(JSON.parse(r.trim().split('\n').pop()!) as ChildResult);
    if (!args.includes('--no-torch')) {
      const script = fileURLToPath(new URL('./reference/resnet_step.py', import.meta.url));
      const convs = JSON.stringify([...mine.at(-1)!.convs.map((c) => c.conv), ...mine.at(-1)!.depthwise.map((d) => d.conv)]);
      const t = execFileSync('/usr/bin/python3', [script, '--model', modelDir, '--threads', String(threads), '--steps', String(steps), '--batch', String(batch), '--classes', String(CLASSES), '--convs', convs],
        { encoding: 'utf8', env: torchEnv(threads), maxBuffer: 1 << 24 });
      theirs.push(JSON.parse(t.trim().split('\n').pop()!) as TorchResult);
    }
  }
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  console.log(`\ntfjs backend ${mine[0]?.backend}; trainable parameters: Pro-tuning ${mine[0]?.params.protuning}, fine-tuning ${mine[0]?.params.finetune}` +
    (theirs[0] ? `; PyTorch ${theirs[0].torch} (BLAS ${theirs[0].blas}): Pro-tuning ${theirs[0].params.protuning}, fine-tuning ${theirs[0].params.finetune}` : ''));
  console.log('\n| step | threads | tfjs kernels ms (runs) | native kernels ms | native CPU ms | PyTorch ms | PyTorch CPU ms | ratio native ÷ PyTorch (wall) | ratio (CPU) | what-if XNNPACK forward: ms, CPU ms (CPU ratio) |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const kind of KINDS) {
    mine.forEach((m, i) => {
      const row = (k: Kernels) => m.rows.find((r) => r.kind === kind && r.kernels === k)!;
      const js = row('tfjs'), nat = row('native'), alt = row('xnnpack-forward');
      const t = theirs[i]?.ms[kind];
      console.log(`| ${kind} | ${m.threads} | ${fmt(js.wall)} (${js.runs}) | ${fmt(nat.wall)} | ${fmt(nat.cpu)} | ${t ? fmt(t.wall) : '–'} | ${t ? fmt(t.cpu) : '–'} | ${t ? (nat.wall / t.wall).toFixed(2) + '×' : '–'} | ${t ? (nat.cpu / t.cpu).toFixed(2) + '×' : '–'} | ${fmt(alt.wall)}, ${fmt(alt.cpu)}${t ? ` (${(alt.cpu / t.cpu).toFixed(2)}×)` : ''} |`);
    });
    // Best setting on each side (what a user gets from either on this machine).
    const bestMine = Math.min(...mine.map((m) => m.rows.find((r) => r.kind === kind && r.kernels === 'native')!.wall));
    if (theirs.length) {
      const bestTheirs = Math.min(...theirs.map((t) => t.ms[kind].wall));
      const bestAlt = Math.min(...mine.map((m) => m.rows.find((r) => r.kind === kind && r.kernels === 'xnnpack-forward')!.wall));
      const cpuOf = (k: Kernels) => Math.min(...mine.map((m) => m.rows.find((r) => r.kind === kind && r.kernels === k)!.cpu));
      const bestTheirsCpu = Math.min(...theirs.map((t) => t.ms[kind].cpu));
      console.log(`| ${kind} | best of each | – | ${fmt(bestMine)} | ${fmt(cpuOf('native'))} | ${fmt(bestTheirs)} | ${fmt(bestTheirsCpu)} | **${(bestMine / bestTheirs).toFixed(2)}×** | **${(cpuOf('native') / bestTheirsCpu).toFixed(2)}×** | ${fmt(bestAlt)}, ${fmt(cpuOf('xnnpack-forward'))} (${(cpuOf('xnnpack-forward') / bestTheirsCpu).toFixed(2)}×) |`);
    }
  }
  // Where the time goes, per thread setting: kernel time of one native step by kernel (top 8).
  for (const m of mine) {
    for (const [kind, rows] of Object.entries(m.profile)) {
      const total = rows.reduce((a, r) => a + r.ms, 0);
      console.log(`\nkernel time, ${kind}, ${m.threads} BLAS thread(s), native: ${fmt(total)} ms in ${rows.reduce((a, r) => a + r.calls, 0)} kernel calls — ` +
        rows.slice(0, 8).map((r) => `${r.kernel} ${(100 * r.ms / total).toFixed(0)}% (${r.calls})`).join(', '));
    }
  }
  // Each convolution alone, CPU ms (best of steps): the kernels against PyTorch's (oneDNN / its own).
  mine.forEach((m, i) => {
    const t = theirs[i]?.convs;
    console.log(`\nconvolutions alone, batch ${batch}, ${m.threads} thread(s), CPU ms (wall in brackets): tfjs XNNPACK fwd | conv.c fwd | conv.c dx | conv.c dw (conv.c: the direct AVX2 kernels where they apply) || PyTorch fwd | dx | dw`);
    console.log('| conv | in | ×/step | XNNPACK fwd | conv.c fwd | conv.c dx | conv.c dw | PyTorch fwd | PyTorch dx | PyTorch dw |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const cell = (x?: Timing) => (x ? `${fmt(x.cpu)} (${fmt(x.wall)})` : '–');
    const sums = { mine: 0, theirs: 0 };
    m.convs.forEach((c, j) => {
      const r = t?.[j];
      const k = (c.conv as Conv & { count?: number }).count ?? 1;
      sums.mine += k * (Math.min(c.xnnpack.cpu, c.native.cpu) + c.dx.cpu + c.dw.cpu);
      if (r) sums.theirs += k * (r.forward.cpu + r.dx.cpu + r.dw.cpu);
      console.log(`| ${c.conv.name} ${c.conv.k}×${c.conv.k}/${c.conv.stride} | ${c.conv.size}²×${c.conv.cin}→${c.conv.cout} | ${k} | ${cell(c.xnnpack)} | ${cell(c.native)} | ${cell(c.dx)} | ${cell(c.dw)} | ${cell(r?.forward)} | ${cell(r?.dx)} | ${cell(r?.dw)} |`);
    });
    console.log(`sum over a fine-tuning step's convolutions (best forward + dx + dw, CPU): tfjs ${fmt(sums.mine)} ms, PyTorch ${t ? fmt(sums.theirs) : '–'} ms`);
    m.depthwise.forEach((d, j) => {
      const r = t?.[m.convs.length + j];
      const tr = r ? r.forward.cpu + r.dx.cpu + r.dw.cpu : undefined;
      console.log(`prompt ${d.conv.name} (${d.conv.size}²×${d.conv.cin}), forward + both gradients, CPU ms: nine slices (before) ${fmt(d.nineSlices.cpu)}, one depthwiseConv2d (prompt-block.ts) ${fmt(d.oneKernel.cpu)}, PyTorch grouped conv ${tr === undefined ? '–' : fmt(tr)}`);
    });
  });
  console.log(`\nload average at the end ${loadavg()[0].toFixed(1)}`);
}

if (args.includes('--child')) await child();
else await main();
