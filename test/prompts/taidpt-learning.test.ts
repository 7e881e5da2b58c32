// TaI-DPT learning on real data: mini-CLIP (data/models/mini-clip), prompts trained on the WordNet corpus
// (data/corpora/wordnet-cifar10.jsonl, 3,853 sentences + 80 template sentences), evaluated by mAP on 250
// deterministic 2×2 mosaics of the bundled CIFAR-10 test subset (1,000 images, each used once; mean 3.4
// classes per mosaic, positive rate 34.3 %). Measured (seed 1, wasm, 2-core machine; see the report of issue #17):
//
//   20 epochs, lr 1e-3 (the recipe):  zero-shot 46.36, TaI global 45.97, TaI local 42.31, TaI-DPT 45.66 mAP;
//                                     ranking loss (global + local) 18.14 → 8.38 over training; 57 s.
//   lr 0.003 / 0.01: TaI-DPT 42.15 / 43.06. Zero-shot local aggregation (no training): 44.1; fused 47.2.
//
// So on mini-CLIP TaI-DPT does NOT beat zero-shot CLIP: the global prompt, learned from text alone, only
// matches it, and the local prompt learned on caption tokens transfers badly to patch tokens (mini-CLIP was
// pretrained with a contrastive loss on the EOT/CLS embeddings only, so its non-EOT text tokens and its patch
// tokens were never aligned with each other). What is asserted is what was measured: the loss falls, the
// text-trained prompts score real images far above the chance level of random scores, and the TaI global
// prompt lands within a few points of zero-shot. The short run here (5 epochs) keeps the file under a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend, load } from '../../cells/model/index.ts';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { mosaicSet } from '../../cells/data/mosaic.ts';
import { textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT, evaluateTaIDPT } from '../../cells/prompts/taidpt.ts';
import { testCell } from './helpers.ts';

await initBackend('wasm');
const model = await load(fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url)));
const corpus = readFileSync(new URL('../../data/corpora/wordnet-cifar10.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);

test('TaI-DPT on mini-CLIP: trained on WordNet texts only, scored by mAP on CIFAR-10 mosaics', async () => {
  const set = textTrainingSet(corpus, CIFAR10_SYNONYMS);
  const mosaics = mosaicSet(await bundledDataset('cifar10'), { seed: 0 });
  assert.equal(mosaics.fingerprint, 'a224a932ec232d166fe108c983d40d0c4f37b8c360939d0d8f0f1295b540643f');
  const cell = testCell();
  const trained = await cell.run(() => trainTaIDPT(model, set, { epochs: 5, seed: 1 }));
  const ev = await cell.run(() => evaluateTaIDPT(model, trained, mosaics));
  const first = trained.curve[0].loss, last = trained.curve.at(-1)!.loss;
  const m = ev.mAP;
  const seen = JSON.stringify({ first, last, mAP: m });
  // measured at 5 epochs (seeds 1 / 2): loss 18.14 → 13.77 / 10.52; zero-shot 46.36; global 46.10 / 46.48;
  // local 36.05 / 44.64; TaI-DPT 41.48 / 47.08. Random scores give ≈ the positive rate, 34.3.
  assert.ok(last < 0.85 * first, `ranking loss should fall by > 15 %: ${seen}`);
  assert.ok(m.zeroShot > 42, `zero-shot mAP: ${seen}`);
  assert.ok(m.global > 42, `TaI global (text-trained) well above chance: ${seen}`);
  assert.ok(Math.abs(m.global - m.zeroShot) < 4, `TaI global within 4 points of zero-shot: ${seen}`);
  assert.ok(m.taidpt > 38, `TaI-DPT above chance: ${seen}`);
  assert.equal(ev.perClass.numRows, 40);
});
