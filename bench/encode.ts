// bench/encode: CLIP encoder throughput (items/s) per backend, at the tiny fixture config and at the
// ViT-B/16 config (random weights), printed as a table.
//   node --import tsx bench/encode.ts [--backends wasm,cpu,webgpu] [--configs fixture,vit-b-16] [--seconds 5] [--batch 16] [--all]
//   node --import tsx bench/encode.ts --leaks 1000 [--backends wasm]   (tf.memory() over N inference batches + N CoOp/VPT steps)
//   node --import tsx bench/encode.ts --extract 2048 [--workers 1,2]     (extractFeatures images/s, fixture config, per worker count)
// Text is timed twice: prompts of realistic length ("a photo of a <class>.", cut at the batch's last end
// token, the default path) and padded to the full 77-token context (what an implementation without the
// cut pays). Each figure is items / (median wall time of one batch) after one warm-up batch; the build
// machine is shared, so the median is the honest central estimate.
// The pure-JS cpu backend needs tens of seconds per ViT-B/16 image; it is skipped there unless --all.
import * as tf from '@tensorflow/tfjs';
import {
  initBackend, load, backboneOf, randomCLIPWeights, parseCLIPConfig, VIT_B_16, defaultTokenizer, type CLIPModel, type CLIPConfig,
} from '../cells/model/index.ts';
import { frozenPromptParts, assemblePrompts } from '../cells/prompts/text-prompt.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const backends = opt('backends', 'wasm,cpu').split(',');
const configNames = opt('configs', 'fixture,vit-b-16').split(',');
const seconds = Number(opt('seconds', '5'));
const batchArg = opt('batch', '');
const all = args.includes('--all');
const leakRuns = Number(opt('leaks', '0'));
const extractImages = Number(opt('extract', '0'));
const workerCounts = opt('workers', '1,2').split(',').map(Number);

const FIXTURE: CLIPConfig = parseCLIPConfig({
  model_type: 'clip', projection_dim: 24,
  text_config: { hidden_size: 32, intermediate_size: 128, num_attention_heads: 4, num_hidden_layers: 2 },
  vision_config: { hidden_size: 48, intermediate_size: 192, num_attention_heads: 4, num_hidden_layers: 2, image_size: 32, patch_size: 8 },
}, 'fixture-tiny');
const CONFIGS: Record<string, { config: CLIPConfig; batch: number }> = {
  fixture: { config: FIXTURE, batch: 64 },
  'vit-b-16': { config: VIT_B_16, batch: 8 },
};
const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

interface Row { backend: string; config: string; encoder: string; batch: number; tokens: number | string; itemsPerSec: number; msPerBatch: number }
const rows: Row[] = [];

/** Median ms of one call of `f` (after a warm-up), running for about `seconds` (at least 3 calls). */
async function median(f: () => Promise<void>): Promise<number> {
  await f();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < seconds * 1000 && times.length < 200)) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

async function benchModel(backend: string, name: string, model: CLIPModel, batch: number): Promise<void> {
  const v = model.config.vision;
  const px = tf.randomNormal([batch, v.numChannels, v.imageSize, v.imageSize], 0, 1, 'float32', 1) as tf.Tensor4D;
  const img = await median(async () => {
    const e = model.encodeImage(px);
    await e.data();
    e.dispose();
  });
  rows.push({ backend, config: name, encoder: 'image', batch, tokens: (v.imageSize / v.patchSize) ** 2 + 1, itemsPerSec: (batch * 1000) / img, msPerBatch: img });
  px.dispose();

  const tok = defaultTokenizer();
  const texts = Array.from({ length: batch }, (_, i) => `a photo of a ${CLASSES[i % CLASSES.length]}.`);
  const ids = tok.tokenize(texts);
  const cut = Math.max(...ids.eotIndex) + 1;
  for (const [label, full] of [['text (cut at EOT)', false], ['text (full 77)', true]] as const) {
    const ms = await median(async () => {
      const out = model.textForward(ids, { fullLength: full });
      await out.embeds.data();
      tf.dispose([out.pooled, out.embeds]);
    });
    rows.push({ backend, config: name, encoder: label, batch, tokens: full ? 77 : cut, itemsPerSec: (batch * 1000) / ms, msPerBatch: ms });
  }
}

/** The "no leaks across a 1,000-batch run": tensor count and bytes before/after N batches of each workload. */
async function leakCheck(backend: string, n: number): Promise<void> {
  const cfg = CONFIGS.fixture.config;
  const model = await load({ config: cfg, weights: randomCLIPWeights(cfg, 0) }, { id: 'fixture' });
  const px = tf.randomNormal([16, 3, 32, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
  const ids = defaultTokenizer().tokenize(Array.from({ length: 16 }, (_, i) => `a photo of a ${CLASSES[i % 10]}.`));
  const parts = frozenPromptParts(await backboneOf(model), CLASSES, 4);
  const ctx = tf.variable(tf.randomNormal([4, 32], 0, 0.02), true, 'leak-ctx');
  const vp = tf.variable(tf.randomNormal([2, 48], 0, 0.02), true, 'leak-vpt');
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32'), 10);
  const sgd = tf.train.sgd(0.01);
  const workloads: Record<string, () => Promise<void>> = {
    'inference (image + text)': async () => {
      const a = model.encodeImage(px);
      const b = model.encodeText(ids);
      await a.data();
      await b.data();
      tf.dispose([a, b]);
    },
    'CoOp + VPT training step': async () => {
      const cost = sgd.minimize(() => tf.tidy(() => {
        const t = model.textForward({ embeds: assemblePrompts(parts, ctx, 'end'), eotIndex: parts.eot }).embeds;
        const i = model.encodeImage(px, { prompts: { shallow: vp } });
        return tf.losses.softmaxCrossEntropy(labels, model.logitsPerImage(i, t)) as tf.Scalar;
      }), true, [ctx, vp]);
      await cost!.data();
      cost!.dispose();
    },
  };
  for (const [name, f] of Object.entries(workloads)) {
    for (let i = 0; i < 3; i++) await f();
    const before = tf.memory();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    const after = tf.memory();
    console.log(`| ${backend} | ${name} | ${n} | ${before.numTensors} → ${after.numTensors} | ${before.numBytes} → ${after.numBytes} | ${((performance.now() - t0) / 1000).toFixed(1)} s |`);
  }
  tf.dispose([px, ctx, vp, labels]);
  parts.dispose();
  model.dispose();
}

/** extractFeatures throughput (preprocessing included) over synthetic 32×32 images, per worker count. */
async function extractBench(n: number): Promise<void> {
  const { extractFeatures } = await import('../cells/model/features.ts');
  const { runWithContext } = await import('../cells/exec/context.ts');
  const { Cache } = await import('../cells/exec/cache.ts');
  const { buildRows } = await import('../cells/data/assemble.ts');
  const { DenseImageStore } = await import('../cells/data/dataset.ts');
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  await initBackend('wasm');
  const cfg = CONFIGS.fixture.config;
  const model = await load({ config: cfg, weights: randomCLIPWeights(cfg, 0) }, { id: 'fixture' });
  const pixels = new Uint8Array(n * 32 * 32 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const dataset = {
    name: 'synthetic', classNames: CLASSES, fingerprint: 'bench'.padEnd(64, '0'), multiLabel: false, skipped: [],
    origin: { kind: 'dir' as const, root: '/nonexistent' },
    images: new DenseImageStore({ width: 32, height: 32, channels: 3, pixels }),
    rows: buildRows({
      id: ids, label: Int32Array.from(ids, (i) => i % 10), className: Array.from(ids, (i) => CLASSES[i % 10]), split: Array.from(ids, () => 'test'),
      source: Array.from(ids, String), offset: new Float64Array(n), byteLength: new Int32Array(n), width: new Int32Array(n).fill(32), height: new Int32Array(n).fill(32),
    }),
  };
  console.log('| workers | images | images/s | s |');
  console.log('|---|---|---|---|');
  for (const workers of workerCounts) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-extract-'));
    const ctx = { cache: new Cache(dir), signal: new AbortController().signal, progress: () => undefined, log: () => undefined, record: () => undefined };
    const t0 = performance.now();
    await runWithContext(ctx, () => extractFeatures(model, dataset, { batchSize: 128, workers }));
    const s = (performance.now() - t0) / 1000;
    console.log(`| ${workers} | ${n} | ${(n / s).toFixed(0)} | ${s.toFixed(1)} |`);
    await rm(dir, { recursive: true, force: true });
  }
  model.dispose();
}

if (extractImages > 0) {
  await extractBench(extractImages);
  process.exit(0);
}

if (leakRuns > 0) {
  console.log('| backend | workload | batches | tensors | bytes | time |');
  console.log('|---|---|---|---|---|---|');
  for (const b of backends) await leakCheck(await initBackend(b as 'wasm' | 'cpu' | 'webgpu'), leakRuns);
  process.exit(0);
}

for (const backend of backends) {
  let got: string;
  try {
    got = await initBackend(backend as 'wasm' | 'cpu' | 'webgpu');
  } catch (e) {
    console.error(`backend ${backend}: ${(e as Error).message}; skipped`);
    continue;
  }
  for (const name of configNames) {
    const spec = CONFIGS[name];
    if (!spec) throw new Error(`unknown config ${name}; use ${Object.keys(CONFIGS).join(', ')}`);
    if (got === 'cpu' && name !== 'fixture' && !all) {
      console.error(`cpu × ${name}: skipped (pure-JS kernels, tens of seconds per image; pass --all to run it)`);
      continue;
    }
    const model = await load({ config: spec.config, weights: randomCLIPWeights(spec.config, 0) }, { id: name });
    await benchModel(got, name, model, batchArg ? Number(batchArg) : spec.batch);
    model.dispose();
    console.error(`done: ${got} × ${name}`);
  }
}

const header = ['backend', 'config', 'encoder', 'batch', 'tokens', 'items/s', 'ms/batch'];
const table = rows.map((r) => [r.backend, r.config, r.encoder, String(r.batch), String(r.tokens), r.itemsPerSec.toFixed(r.itemsPerSec < 10 ? 2 : 0), r.msPerBatch.toFixed(1)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of table) console.log(line(r));
