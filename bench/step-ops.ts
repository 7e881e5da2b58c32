// bench/step-ops: the product's own prompt-learner training steps (cells/prompts trainers on the bundled
// mini-CLIP, batch 8: the quickstart's recipe), one step at a time — how many tfjs kernels a step runs,
// how long it takes (wall and process CPU), and a SHA-256 of the prompt after a fixed number of seeded
// SGD steps, so a speed-up can be checked to leave the trained weights bit-identical (issue #22 item 3).
// The variants alternate rep by rep in one process, so both see the same machine load: "before" (every
// cut off), "views" (the engine-overhead cuts of ops/fast.ts `tuning.nativeViews` and native/kernels.ts
// `nativeTuning.saveByReference`: main at 9a5ae29) and "after" (also the step cuts that followed: layout
// kernels as heap copies, `nativeTuning.copyKernels`; a frozen weight's scaling computed once,
// `tuning.frozenCache`; L2 normalisation, cross-entropy and attention's softmax as kernel chains,
// `chainTuning.on`).
//   node --import tsx bench/step-ops.ts [--methods coop,vpt,upt] [--steps 60] [--reps 3] [--batch 8] [--variants views,after] [--native off]
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { load, backboneOf } from '../cells/model/index.ts';
import { getTrainer, resolveConfig } from '../cells/prompts/registry.ts';
import { PromptOptimizer } from '../cells/prompts/optimizer.ts';
import { OPTIM_DEFAULTS, type OptimConfig } from '../cells/prompts/optim.ts';
import { softmaxCrossEntropy } from '../cells/model/ops/index.ts';
import type { Batch, PromptTrainer } from '../cells/prompts/trainer.ts';
import { rng } from '../cells/prompts/random.ts';
import '../cells/prompts/index.ts';
import { tuning } from '../cells/model/ops/fast.ts';
import { chainTuning } from '../cells/model/ops/chains.ts';
import { nativeTuning } from '../cells/model/native/kernels.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const methods = opt('methods', 'coop,vpt,upt').split(',');
const steps = Number(opt('steps', '60'));
const reps = Number(opt('reps', '3'));
const B = Number(opt('batch', '8'));
const variants = opt('variants', 'views,after').split(',');
/** The switches of each variant. */
function setVariant(name: string): void {
  if (!['before', 'views', 'after'].includes(name)) throw new Error(`--variants: before, views or after, not ${name}`);
  tuning.nativeViews = name !== 'before';
  nativeTuning.saveByReference = name !== 'before';
  nativeTuning.copyKernels = name === 'after';
  tuning.frozenCache = name === 'after';
  chainTuning.on = name === 'after';
}
if (opt('native', 'on') === 'off') process.env.PROMPTSCOPE_NATIVE = 'off';

const classNames = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** The quickstart's recipes (notebooks/quickstart.html; bench/learner.html). */
const recipes: Record<string, { config: Record<string, unknown>; lr: number }> = {
  coop: { config: { nCtx: 4, classSpecific: true }, lr: 0.3 },
  vpt: { config: { tokens: 4, depth: 'deep' }, lr: 0.1 },
  upt: { config: {}, lr: 0.002 },
};

const model = await load('mini-clip', { backend: 'wasm' });
const backbone = await backboneOf(model);
const S = model.config.vision.imageSize, P = model.config.projectionDim;

/** Seeded batches (the same in every run): pixels in CLIP's normalised range, unit image features. */
function makeBatch(step: number): Batch {
  const r = rng(1000 + step);
  const labels = Int32Array.from({ length: B }, () => Math.floor(r() * classNames.length));
  const pixels = tf.tensor4d(Float32Array.from({ length: B * 3 * S * S }, () => r() * 4 - 2), [B, 3, S, S]);
  const f = tf.tensor2d(Float32Array.from({ length: B * P }, () => r() * 2 - 1), [B, P]);
  const features = tf.tidy(() => f.div(f.norm('euclidean', -1, true)) as tf.Tensor2D);
  f.dispose();
  return { labels, pixels, features };
}

function lossOf(trainer: PromptTrainer, batch: Batch, seed: number): tf.Scalar {
  const logits = trainer.logits(batch, true, seed);
  return softmaxCrossEntropy(logits, tf.tensor1d(batch.labels, 'int32')) as tf.Scalar;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const batches = Array.from({ length: steps }, (_, i) => makeBatch(i));
console.log(`load average at the start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; backend ${tf.getBackend()}, native ${process.env.PROMPTSCOPE_NATIVE ?? 'on'}`);
for (const method of methods) {
  const recipe = recipes[method];
  const optim: OptimConfig = { ...OPTIM_DEFAULTS, batchSize: B, warmupEpochs: 0, lr: recipe.lr };
  const times = new Map<string, Array<{ wall: number; cpu: number }>>(variants.map((v) => [v, []]));
  const kernels = new Map<string, { count: number; kinds: string }>();
  const hashes = new Map<string, string>();
  for (let rep = 0; rep < reps; rep++) {
    for (const variant of rep % 2 ? [...variants].reverse() : variants) {
      setVariant(variant);
      const trainer = getTrainer(method).create() as PromptTrainer;
      trainer.init(backbone, { name: 'cifar10', classNames }, resolveConfig(method, recipe.config), 1);
      const vars = trainer.variables();
      const sgd = new PromptOptimizer(vars, optim);
      if (!kernels.has(variant)) {
        // Kernels of one step (forward and backward), counted by tfjs's profiler after one step's warm-up
        // (first-call caches, such as a frozen weight's scaling, are filled once per model, not per step).
        tf.dispose(tf.tidy(() => lossOf(trainer, batches[0], 0)));
        const prof = await tf.profile(() => {
          const { value, grads } = tf.variableGrads(() => lossOf(trainer, batches[0], 0), vars);
          tf.dispose([value, ...Object.values(grads)]);
        });
        const byName = new Map<string, number>();
        for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + 1);
        kernels.set(variant, { count: prof.kernels.length, kinds: [...byName].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ') });
      }
      const w0 = performance.now(), c0 = cpuMs();
      for (let s = 0; s < steps; s++) {
        const { value, grads } = tf.variableGrads(() => lossOf(trainer, batches[s], s), vars);
        await value.data();
        value.dispose();
        sgd.step(grads, optim, optim.lr);
        tf.dispose(grads);
      }
      times.get(variant)!.push({ wall: performance.now() - w0, cpu: cpuMs() - c0 });
      const h = createHash('sha256');
      const state = trainer.save();
      for (const k of Object.keys(state).sort()) h.update(k).update(new Uint8Array(state[k].data.buffer, state[k].data.byteOffset, state[k].data.byteLength));
      const digest = h.digest('hex').slice(0, 16);
      const seen = hashes.get(variant);
      if (seen && digest !== seen) throw new Error(`${method}: ${variant}, rep ${rep} trained different weights (${digest} vs ${seen})`);
      hashes.set(variant, digest);
      trainer.dispose();
    }
  }
  const per = (x: number) => (x / steps).toFixed(2);
  for (const variant of variants) {
    const ts = times.get(variant)!;
    const best = (k: 'wall' | 'cpu') => Math.min(...ts.map((t) => t[k]));
    const k = kernels.get(variant)!;
    console.log(`${method} ${variant}: ${k.count} kernels/step; ms/step wall ${ts.map((t) => per(t.wall)).join(' ')} (best ${per(best('wall'))}), ` +
      `CPU ${ts.map((t) => per(t.cpu)).join(' ')} (best ${per(best('cpu'))})`);
    console.log(`  ${k.kinds}`);
  }
  const distinct = new Set(hashes.values());
  console.log(`${method}: weights after ${steps} steps, sha256 ${[...hashes].map(([v, h]) => `${v} ${h}`).join(', ')}: ` +
    (distinct.size === 1 ? 'byte-identical across variants' : 'DIFFERENT across variants'));
}
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
