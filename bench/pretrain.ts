// bench/pretrain: mini-CLIP pretraining throughput (images/s) of the real training step
// (cells/model/pretrain: batch assembly, captions, tokenizer, forward + backward, AdamW) beside the same
// step in PyTorch (bench/reference/pretrain_step.py).
//   node --import tsx bench/pretrain.ts [--steps 3] [--batch 128] [--patch 8] [--no-torch]
// Times are the best of `steps` (after one warm-up): on the shared build machine the minimum is the least
// disturbed estimate. Process CPU time per step is printed too: it does not depend on other jobs.
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend, currentBackend } from '../cells/model/backend.ts';
import { createTrainer, DEFAULT_TRAIN } from '../cells/model/pretrain/train.ts';
import { loadLexicon } from '../cells/model/pretrain/lexicon.ts';
import type { ImageSet } from '../cells/model/pretrain/data.ts';
import { mulberry32 } from '../cells/model/pretrain/rng.ts';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : d; };
const steps = Number(opt('steps', '3'));
const batch = Number(opt('batch', '128'));
const patch = Number(opt('patch', '8'));

function randomSet(n: number): ImageSet {
  const r = mulberry32(1);
  const px = new Uint8Array(n * 3072);
  for (let i = 0; i < px.length; i++) px[i] = Math.floor(r() * 256);
  return { pixels: px, labels: Int32Array.from({ length: n }, (_, i) => i % 20), domain: Uint8Array.from({ length: n }, (_, i) => (i % 20 < 10 ? 0 : 1)), count: n };
}

const backend = await initBackend('wasm');
const o = { ...DEFAULT_TRAIN, batchSize: batch, shape: { ...DEFAULT_TRAIN.shape, patchSize: patch } };
const tr = createTrainer(o, loadLexicon(), randomSet(2000));
tr.step();
let wall = Infinity, cpu = Infinity;
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  tr.step();
  const c = process.cpuUsage(c0);
  wall = Math.min(wall, performance.now() - t0);
  cpu = Math.min(cpu, (c.user + c.system) / 1000);
}
tr.dispose();

// With the native kernels, OpenBLAS uses every core of the main thread (cells/model/native/index.ts).
const rows: { impl: string; threads: string; wall: number; cpu: number }[] = [
  { impl: `tfjs-${currentBackend()} (this project)`, threads: currentBackend() === 'wasm+blas' ? `1 + BLAS ${process.env.PROMPTSCOPE_BLAS_THREADS ?? availableParallelism()}` : '1', wall, cpu },
];
if (!args.includes('--no-torch')) {
  const script = fileURLToPath(new URL('./reference/pretrain_step.py', import.meta.url));
  try {
    // One process per thread count: OpenBLAS's pool size is fixed at load (OPENBLAS_NUM_THREADS), and
    // torch.set_num_threads does not reach it.
    for (const threads of [1, 2]) {
      const out = execFileSync('/usr/bin/python3', [script, '--batch', String(batch), '--patch', String(patch), '--steps', String(steps), '--text-len', '32', '--threads', String(threads)], {
        encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_THREAD_TIMEOUT: '4', OPENBLAS_NUM_THREADS: String(threads) },
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { torch: string; ms: Record<string, { wall: number; cpu: number }> };
      for (const [th, m] of Object.entries(r.ms)) rows.push({ impl: `PyTorch ${r.torch}`, threads: th, wall: m.wall, cpu: m.cpu });
    }
  } catch (e) {
    console.error(`PyTorch reference skipped: ${(e as Error).message.split('\n')[0]} (apt-get install python3-torch libopenblas0-pthread)`);
  }
}
console.log(`mini-CLIP pretraining step: batch ${batch}, ViT w${o.shape.visionWidth} d${o.shape.visionLayers} patch ${patch}, text w${o.shape.textWidth} d${o.shape.textLayers} (≤ 32 tokens); ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`);
console.log('| implementation | threads | step ms (wall, best) | images/s | CPU ms/step | images per CPU-s |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.impl} | ${r.threads} | ${r.wall.toFixed(0)} | ${(1000 * batch / r.wall).toFixed(1)} | ${r.cpu.toFixed(0)} | ${(1000 * batch / r.cpu).toFixed(1)} |`);
}
