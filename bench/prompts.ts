// Step time of every prompt learner under the shared training loop (forward + backward + SGD/momentum),
// per backend, printed as a table. Synthetic batches of the right shapes: CoOp and the linear probe read
// cached features, VPT/UPT run the image tower on pixel_values.
//
//   node --import tsx bench/prompts.ts [--backends cpu,wasm] [--configs fixture,vit-b-16] [--methods coop,vpt,upt,upt-mvlpt]
//                                      [--steps 8] [--batch 32] [--classes 10]
//   node --import tsx bench/prompts.ts --quickstart [--model DIR]   # the quickstart flow, cold then after an nCtx edit
//
// ViT-B/16 uses random weights with the real shapes (only step times are measured); on a CPU its image
// tower is minutes per VPT/UPT step, so those rows are skipped there unless asked for with --force.
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendName } from '../cells/model/backend.ts';
import { load, backboneOf, randomCLIPWeights, VIT_B_16, type PromptBackbone } from '../cells/model/index.ts';
import { makeTrainer, trainLoop, type TrainData } from '../cells/prompts/train.ts';
import { resolveConfig } from '../cells/prompts/registry.ts';
import { OPTIM_DEFAULTS } from '../cells/prompts/optim.ts';
import { normalArray, rng } from '../cells/prompts/random.ts';
import '../cells/prompts/methods.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const backends = arg('backends', 'cpu,wasm').split(',') as BackendName[];
const configs = arg('configs', 'fixture').split(',');
const methods = arg('methods', 'coop,vpt,upt,upt-mvlpt').split(',');
const steps = Number(arg('steps', '8'));
const batch = Number(arg('batch', '32'));
const nClasses = Number(arg('classes', '10'));
const force = process.argv.includes('--force');
const FIXTURE = fileURLToPath(new URL('../../shared/clip/fixture-tiny/', import.meta.url));

async function model(config: string): Promise<PromptBackbone> {
  if (config === 'fixture') return backboneOf(await load(FIXTURE, { id: 'fixture-tiny' }));
  if (config === 'vit-b-16') return backboneOf(await load({ config: VIT_B_16, weights: randomCLIPWeights(VIT_B_16, 0) }, { id: 'vit-b-16-random' }));
  throw new Error(`bench/prompts: unknown config "${config}" (fixture | vit-b-16)`);
}

function syntheticData(m: PromptBackbone, input: 'features' | 'pixels', count: number): TrainData {
  const rand = rng(1);
  const labels = Int32Array.from({ length: count }, (_, i) => i % nClasses);
  const P = m.config.projectionDim, S = m.config.vision.imageSize;
  const feats = normalArray(count * P, 1, rand);
  const px = input === 'pixels' ? normalArray(batch * 3 * S * S, 1, rand) : new Float32Array(0);
  return {
    count, labels,
    batch(rows) {
      const l = Int32Array.from(rows, (r) => labels[r]);
      if (input === 'features') {
        const f = new Float32Array(rows.length * P);
        rows.forEach((r, i) => f.set(feats.subarray(r * P, (r + 1) * P), i * P));
        return { batch: { labels: l, features: tf.tidy(() => { const t = tf.tensor2d(f, [rows.length, P]); return t.div(t.norm('euclidean', -1, true)) as tf.Tensor2D; }) } };
      }
      return { batch: { labels: l, pixels: tf.tensor4d(px.subarray(0, rows.length * 3 * S * S), [rows.length, 3, S, S]) } };
    },
  };
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  coop: {}, vpt: {}, upt: {}, 'upt-mvlpt': {}, 'linear-probe': {},
};

interface Row { backend: string; config: string; method: string; batch: number; classes: number; msPerStep: number; note: string }
if (process.argv.includes('--quickstart')) {
  await quickstart();
  process.exit(0);
}

const rows: Row[] = [];
const classNames = Array.from({ length: nClasses }, (_, i) => `class ${i}`);
for (const backend of backends) {
  await initBackend(backend);
  for (const config of configs) {
    const m = await model(config);
    for (const method of methods) {
      if (config === 'vit-b-16' && backend !== 'webgpu' && method !== 'coop' && !force) {
        rows.push({ backend, config, method, batch, classes: nClasses, msPerStep: NaN, note: 'skipped on CPU (image tower; --force)' });
        continue;
      }
      const trainer = makeTrainer(m, { name: 'bench', classNames }, method, resolveConfig(method, CONFIGS[method] ?? {}), 1);
      const data = syntheticData(m, trainer.input, batch * (steps + 2));
      const signal = new AbortController().signal;
      // Four warm-up steps (kernel compilation, first allocations), then the timed epoch.
      await trainLoop(trainer, { ...data, count: batch * 4 }, { epochs: 1, optim: { ...OPTIM_DEFAULTS, batchSize: batch }, seed: 1, signal, progress: () => undefined, label: 'warm-up' });
      const r = await trainLoop(trainer, data, { epochs: 1, optim: { ...OPTIM_DEFAULTS, batchSize: batch }, seed: 2, signal, progress: () => undefined, label: 'bench' });
      trainer.dispose();
      rows.push({ backend, config, method, batch, classes: nClasses, msPerStep: r.msPerStep, note: `${r.steps} steps` });
      process.stderr.write(`${backend} ${config} ${method}: ${r.msPerStep.toFixed(1)} ms/step\n`);
    }
    m.dispose();
  }
}

const header = ['backend', 'model', 'method', 'batch', 'classes', 'ms/step', 'steps/s', 'note'];
const lines = rows.map((r) => [r.backend, r.config, r.method, String(r.batch), String(r.classes),
  Number.isFinite(r.msPerStep) ? r.msPerStep.toFixed(1) : '–', Number.isFinite(r.msPerStep) ? (1000 / r.msPerStep).toFixed(1) : '–', r.note]);
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const l of lines) console.log(`| ${l.join(' | ')} |`);

/**
 * The quickstart's default flow on the bundled sets (4 datasets × K ∈ {1,2,4} × 1 seed × 4 methods + zero-shot
 * + variance), timed cold in a fresh cache, then again after editing CoOp's context length.
 */
async function quickstart(): Promise<void> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Cache } = await import('../cells/exec/cache.ts');
  const { runWithContext } = await import('../cells/exec/context.ts');
  const p = await import('../cells/prompts/index.ts');
  await initBackend('wasm');
  const dir = arg('model', FIXTURE);
  const m = await backboneOf(await load(dir));
  const records: { stage: string; hit: boolean; ms: number }[] = [];
  const ctx = { cache: new Cache(mkdtempSync(join(tmpdir(), 'ps-quickstart-'))), signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: (r: { stage: string; hit: boolean; ms: number }) => records.push(r) };
  const sources = await Promise.all((['cifar10', 'fashion-mnist', 'mnist', 'gtsrb'] as const).map((n) => p.bundledSource(n)));
  const run = async (nCtx: number) => {
    records.length = 0;
    const t0 = Date.now();
    await runWithContext(ctx, async () => {
      const methods = [
        { method: 'coop', config: { nCtx }, epochs: 10, optim: { lr: 0.01, batchSize: 16 } },
        { method: 'vpt', config: { tokens: 4, depth: 'shallow' }, epochs: 10, optim: { lr: 0.01, batchSize: 16 } },
        { method: 'upt', config: { n: 2 }, epochs: 10, optim: { lr: 0.01, batchSize: 16 } },
        { method: 'linear-probe' },
      ];
      const result = await p.fewShotProtocol(m, sources, { methods, shots: [1, 2, 4], seeds: [1], poolPerClass: 8, testPerClass: 10 });
      for (const s of sources) await p.varianceStats(m, await p.fewShotTask(m, s, { shots: 1, seed: 1, poolPerClass: 8, testPerClass: 10 }));
      p.comparisonChart(result);
      console.log(result.summary.toArray().map((r) => r.toJSON()).map((r) => `${r.dataset} ${r.method} K=${r.shots} ${(Number(r.mean) * 100).toFixed(1)}%`).join('\n'));
    });
    const byStage = new Map<string, { hit: number; miss: number; ms: number }>();
    for (const r of records) {
      const e = byStage.get(r.stage) ?? { hit: 0, miss: 0, ms: 0 };
      if (r.hit) e.hit++; else e.miss++;
      e.ms += r.ms;
      byStage.set(r.stage, e);
    }
    console.log(`\n| stage | computed | cache hits | ms |\n|---|---|---|---|`);
    for (const [k, e] of byStage) console.log(`| ${k} | ${e.miss} | ${e.hit} | ${e.ms} |`);
    console.log(`total ${(Date.now() - t0) / 1000}s (nCtx ${nCtx})\n`);
  };
  await run(4);
  await run(8);
}
