// UPT's prompt scale (issue #20, cells/prompts/README.md "UPT's scale"), on the shipped mini-CLIP: the unified
// prompt starts at the unit scale of the LayerNorm'd layer it feeds, the text context leaves at the scale of
// real word embeddings, and the released code's scale stays one setting away. Before the fix the context left
// the layer at √D per token (11.3 on mini-CLIP, ~40× a word embedding) and the prompt started at std 0.02;
// four SGD steps at the quickstart's lr 0.1 then made all context tokens one vector (cosine 1.000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, load, backboneOf } from '../../cells/model/index.ts';
import { UPTTrainer, UPT_DEFAULTS, type UPTConfig } from '../../cells/prompts/upt.ts';
import { wordEmbeddings } from '../../cells/prompts/text-prompt.ts';
import { softmaxCrossEntropy } from '../../cells/model/ops/index.ts';

await initBackend('wasm');
const model = await backboneOf(await load(fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url))));
const task = { name: 'cifar10-names', classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer'] };
const D = model.config.text.hiddenSize;
const rms = (t: tf.Tensor): number => tf.tidy(() => Math.sqrt(t.square().mean().dataSync()[0]));
const wordRms = rms(wordEmbeddings(model, 'a photo of a'));

function upt(config: Partial<UPTConfig>, seed = 1): UPTTrainer {
  const tr = new UPTTrainer();
  tr.init(model, task, { ...UPT_DEFAULTS, ...config }, seed);
  return tr;
}
const unified = (tr: UPTTrainer): tf.Tensor => tr.variables()[0];

/** Mean pairwise cosine between the n text context tokens. */
function contextCosine(tr: UPTTrainer): number {
  return tf.tidy(() => {
    const c = tr.prompts(false).ctx;
    const u = c.div(c.norm('euclidean', -1, true));
    const m = u.matMul(u.transpose()).dataSync();
    const n = c.shape[0];
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += m[i * n + j];
    return s / (n * (n - 1));
  });
}

test('default UPT: unit-scale unified prompt, text context at word-embedding scale', () => {
  const tr = upt({});
  const u = rms(unified(tr));
  assert.ok(Math.abs(u - 1) < 0.05, `unified prompt RMS ${u.toFixed(3)}, expected ≈ 1`);
  const ctx = rms(tr.prompts(false).ctx);
  // mini-CLIP's word embeddings: RMS ≈ 0.024 per dimension (per-token L2 0.25–0.30, measured).
  assert.ok(wordRms > 0.01 && wordRms < 0.05, `word RMS ${wordRms}`);
  assert.ok(Math.abs(ctx / wordRms - 1) < 0.01, `context RMS ${ctx.toFixed(4)} vs word embeddings ${wordRms.toFixed(4)}`);
  tr.dispose();
});

test("released scale (initStd 0.02, matchTextScale false) is the released code's: context at √D per token", () => {
  const tr = upt({ initStd: 0.02, matchTextScale: false, releasedQuirk: true });
  assert.ok(Math.abs(rms(unified(tr)) - 0.02) < 0.002);
  const norms = tf.tidy(() => Array.from(tr.prompts(false).ctx.norm('euclidean', -1).dataSync()));
  for (const n of norms) assert.ok(Math.abs(n - Math.sqrt(D)) < 0.01, `context token L2 ${n} vs √D = ${Math.sqrt(D)}`);
  tr.dispose();
});

// The collapse mechanism, without images: a loss on the text side alone (the class text features against a
// fixed random image batch) at lr 0.1 with momentum 0.9, as the quickstart trains. Measured: released scale →
// context cosine 1.000 after 4 steps (the shared attention biases, whose gradients the 0.02-std input
// amplifies ~50× through the LayerNorm, swamp every token); default → below 0.2.
test('SGD at lr 0.1 keeps the text context tokens distinct with the default scale and collapses them with the released one', (t) => {
  const results: Record<string, number> = {};
  for (const [label, config] of [['default', {}], ['released', { initStd: 0.02, matchTextScale: false }]] as const) {
    const tr = upt(config, 2);
    const vars = tr.variables();
    const mom: tf.Tensor[] = vars.map((v) => tf.zerosLike(v) as tf.Tensor);
    const images = tf.randomNormal([16, model.config.projectionDim], 0, 1, 'float32', 7) as tf.Tensor2D;
    const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % task.classNames.length), 'int32');
    for (let step = 0; step < 4; step++) {
      const { grads } = tf.variableGrads(() => tf.tidy(() => {
        const text = tr.textFeatures();
        const ti = text.div(text.norm('euclidean', -1, true));
        const ii = images.div(images.norm('euclidean', -1, true));
        return softmaxCrossEntropy(ii.matMul(ti.transpose()).mul(model.logitScale) as tf.Tensor2D, labels);
      }), vars);
      vars.forEach((v, i) => {
        const g = grads[v.name];
        if (!g) return;
        tf.tidy(() => {
          const m = mom[i].mul(0.9).add(g.add(v.mul(5e-4)));
          mom[i].dispose();
          mom[i] = tf.keep(m);
          v.assign(v.sub(m.mul(0.1)));
        });
      });
      tf.dispose(grads);
    }
    results[label] = contextCosine(tr);
    tf.dispose([...mom, images, labels]);
    tr.dispose();
  }
  t.diagnostic(`context cosine after 4 steps: default ${results.default.toFixed(3)}, released scale ${results.released.toFixed(3)}`);
  assert.ok(results.released > 0.9, `released scale: context cosine ${results.released.toFixed(3)} (collapse expected)`);
  assert.ok(results.default < 0.5, `default scale: context cosine ${results.default.toFixed(3)}`);
});
