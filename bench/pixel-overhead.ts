// bench/pixel-overhead: the pieces of a pixel-trained learner's run outside its SGD steps (issue #22 item 1),
// each timed alone in one process on the bench's task (bundled CIFAR-10, K = 16, 50 test images per class),
// wall and process CPU seconds:
//   - the imageFeatures stage a pixel-trained run no longer runs (fresh cache; mini-CLIP and the ResNet);
//   - label mapping's source text: 1,000 ImageNet names × CLIP's 7 templates through mini-CLIP's text tower
//     (the trainer's init), and the same names encoded in length buckets — less padding, but is it
//     bit-identical? (SHA-256 of both; and why not: the rows of one product, computed with fewer rows);
//   - ILM's source predictions before each epoch (160 training images) and the evaluation's forward pass
//     (500 test images), and preprocessing the test images.
//   node --import tsx bench/pixel-overhead.ts [--reps 3] [--buckets 8]
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache } from '../cells/exec/cache.ts';
import { runWithContext } from '../cells/exec/context.ts';
import { backboneOf, defaultTokenizer, load, type PromptBackbone } from '../cells/model/index.ts';
import { bundledSource, fewShotTask } from '../cells/prompts/task.ts';
import { makeTrainer, taskData } from '../cells/prompts/train.ts';
import { resolveConfig } from '../cells/prompts/registry.ts';
import { classTextFeatures } from '../cells/prompts/text-prompt.ts';
import { sourceLabelNames, sourceTemplates } from '../cells/prompts/source-labels.ts';
import type { VisualReprogrammingTrainer } from '../cells/prompts/visual-reprogramming.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
const reps = Number(opt('reps', '3'));
const buckets = Number(opt('buckets', '8'));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
async function timed(what: string, f: () => unknown): Promise<void> {
  const w = performance.now(), c = cpu();
  await f();
  console.log(`${what}: ${((performance.now() - w) / 1000).toFixed(2)} s wall, ${(cpu() - c).toFixed(2)} CPU s`);
}
const sha = (d: Float32Array) => createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex').slice(0, 16);

function freshCell<T>(fn: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'pixel-overhead-'));
  const cache = new Cache(dir);
  cache.onWarning = () => undefined;
  const ctx = { cache, signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: () => undefined };
  return runWithContext(ctx, fn).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const taskOf = async (model: PromptBackbone) => fewShotTask(model, await bundledSource('cifar10'), { shots: 16, seed: 1, testPerClass: 50 });

/** The source text as the trainer computes it, but with names grouped by token length (longest template), `n` groups. */
function bucketedText(model: PromptBackbone, names: string[], templates: string[], n: number): Float32Array {
  const tok = defaultTokenizer();
  const length = (name: string) => Math.max(...templates.map((t) => tok.tokenize([t.replace('{}', name.replace(/_/g, ' '))], { contextLength: 77 }).eotIndex[0]));
  const lens = names.map(length);
  const order = names.map((_, i) => i).sort((a, b) => lens[a] - lens[b] || a - b);
  const P = model.config.projectionDim, size = Math.ceil(names.length / n);
  const out = new Float32Array(names.length * P);
  for (let s = 0; s < order.length; s += size) {
    const rows = order.slice(s, s + size);
    const t = classTextFeatures(model, rows.map((i) => names[i]), templates);
    const d = t.dataSync() as Float32Array;
    t.dispose();
    rows.forEach((i, k) => out.set(d.subarray(k * P, (k + 1) * P), i * P));
  }
  return out;
}

console.log(`# pixel-trained learners outside the SGD steps; ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
const clip = await backboneOf(await load(join(ROOT, 'data/models/mini-clip'), { type: 'any', backend: 'auto' }));
const resnet = await backboneOf(await load(join(ROOT, 'data/models/resnet-cifar10'), { type: 'any', backend: 'auto' }));
for (let rep = 0; rep < reps; rep++) {
  for (const [name, model] of [['mini-clip', clip], ['resnet-cifar10', resnet]] as const) {
    await freshCell(async () => {
      const task = await taskOf(model);
      await timed(`imageFeatures (not run any more by a pixel-trained learner), ${name}, ${task.train.count + task.val.count} + ${task.test.count} images of a 740-image pool`, () => task.loadFeatures());
    });
  }
}
const names = sourceLabelNames('imagenet1k'), templates = sourceTemplates('clip7');
for (let rep = 0; rep < reps; rep++) {
  let full: Float32Array = new Float32Array(0), split: Float32Array = new Float32Array(0);
  await timed('source text, 1,000 names × 7 templates, as trained', () => {
    const t = classTextFeatures(clip, names, templates);
    full = t.dataSync() as Float32Array;
    t.dispose();
  });
  await timed(`source text in ${buckets} length buckets`, () => (split = bucketedText(clip, names, templates, buckets)));
  console.log(`  SHA-256 as trained ${sha(full)}, bucketed ${sha(split)}: ${sha(full) === sha(split) ? 'bit-identical' : 'differs'}`);
}
{
  // A product's first rows, computed alone and within a larger product: equal only if a row's result does not
  // depend on the product's row count (the text tower's products are [texts × tokens, width] × [width, …]).
  let seed = 1;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  const M = 20000, K = 128, N = 128;
  const a = Float32Array.from({ length: M * K }, rand), w = tf.tensor2d(Float32Array.from({ length: K * N }, rand), [K, N]);
  const all = tf.tidy(() => tf.matMul(tf.tensor2d(a, [M, K]), w).dataSync());
  for (const m of [100, 1000]) {
    const part = tf.tidy(() => tf.matMul(tf.tensor2d(a.subarray(0, m * K), [m, K]), w).dataSync());
    let differ = 0;
    for (let i = 0; i < m * N; i++) if (part[i] !== all[i]) differ++;
    console.log(`  [${m} × ${K}] × [${K} × ${N}] against the first ${m} rows of [${M} × ${K}] × [${K} × ${N}]: ${differ} of ${m * N} values differ`);
  }
  w.dispose();
}
await freshCell(async () => {
  const task = await taskOf(clip);
  const config = resolveConfig('visual-reprogramming', { design: 'padding', mapping: 'iterative' });
  // The source text is memoised per model: computed above, so this is the rest of the init.
  const trainer = makeTrainer(clip, task, 'visual-reprogramming', config, 1) as VisualReprogrammingTrainer;
  try {
    const signal = new AbortController().signal;
    const train = taskData(task, 'pixels'), test = taskData(task, 'pixels', 'test');
    for (let e = 0; e < reps + 1; e++) await timed(`ILM source predictions, ${train.count} training images (one epoch's; ${e ? '' : 'first, '}30 in a run)`, () => trainer.sourcePredictions(train, signal));
    await timed(`preprocessing ${test.count} test images`, () => {
      for (let s = 0; s < test.count; s += 64) test.batch(Array.from({ length: Math.min(64, test.count - s) }, (_, i) => s + i)).batch.pixels!.dispose();
    });
    for (let r = 0; r < reps; r++) await timed(`source logits on ${test.count} test images (the evaluation's forward pass)`, () => trainer.sourcePredictions(test, signal));
  } finally {
    trainer.dispose();
  }
});
console.log(`# load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end`);
