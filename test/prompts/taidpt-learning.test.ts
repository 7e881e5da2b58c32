// TaI-DPT learning on real data, seeds 1–3: mini-CLIP (data/models/mini-clip), prompts trained on the WordNet
// corpus (data/corpora/wordnet-cifar10.jsonl, 3,853 sentences + 80 template sentences), evaluated by mAP on 250
// deterministic 2×2 mosaics of the bundled CIFAR-10 test subset (1,000 images, each used once; mean 3.4
// classes per mosaic, positive rate 34.3 % = the mAP of random scores).
//
// Issue #17 asks for "TaI-DPT beats zero-shot mini-CLIP mAP on seeds 1–3". Measured, it does not: at the
// paper's recipe (20 epochs, `node --import tsx bench/taidpt.ts`, cells/prompts/README.md) TaI-DPT is 45.6 ± 0.4
// against zero-shot 46.4, below it on every seed, and its global prompt alone is 46.1 ± 0.3; with τ and the
// local weight chosen on validation mosaics it is above on two seeds by < 0.5 and below on the third. So that
// assertion cannot be made on mini-CLIP. What is asserted is what was measured, with margin: on each seed the
// ranking loss falls, the text-trained global prompt lands at zero-shot's level and far above the untrained
// (random-context) prompt, the merged score is above chance, and the local branch is below the global one.
// The run here is 5 epochs per seed (at 3, seed 2 has barely left its start: global 36.2) to keep the file
// near a minute idle (35 s of CPU; 189 s wall under a load average of 11–15; 48 s at 8–12 once the captions
// were encoded by length and the loop normalised its features once). Measured at 5 epochs, wasm
// (trainTaIDPT version 2; version 1 differed by rounding: seed 1 local 36.05, seed 2 global 46.48, local 44.64):
//   untrained global 35.81; zero-shot 46.36; chance 34.28
//   seed 1: loss 18.14 → 13.77, global 46.10, local 36.04, TaI-DPT 41.48
//   seed 2: loss 18.14 → 10.52, global 46.47, local 44.65, TaI-DPT 47.08
//   seed 3: loss 18.12 → 13.72, global 46.32, local 36.06, TaI-DPT 42.61
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { backboneOf, initBackend, load } from '../../cells/model/index.ts';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { mosaicSet } from '../../cells/data/mosaic.ts';
import { textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT, evaluateTaIDPT, mosaicFeatures, dualPromptScores, TaIDPTPrompts, TAIDPT_DEFAULTS } from '../../cells/prompts/taidpt.ts';
import { meanAveragePrecision } from '../../cells/prompts/multilabel.ts';
import { testCell } from './helpers.ts';

await initBackend('wasm');
const model = await load(fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url)));
const corpus = readFileSync(new URL('../../data/corpora/wordnet-cifar10.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
const EPOCHS = 5;
// Margins from the measured values (see the header and cells/prompts/README.md), loosened for other backends.
const MEASURED = { globalWithin: 1.5, globalOverUntrained: 5, mergedOverChance: 3 };

test('TaI-DPT on mini-CLIP, seeds 1–3: trained on WordNet texts only, scored by mAP on CIFAR-10 mosaics', async (t) => {
  const set = textTrainingSet(corpus, CIFAR10_SYNONYMS);
  const mosaics = mosaicSet(await bundledDataset('cifar10'), { seed: 0 });
  assert.equal(mosaics.fingerprint, 'a224a932ec232d166fe108c983d40d0c4f37b8c360939d0d8f0f1295b540643f');
  const cell = testCell();
  const C = mosaics.classNames.length;
  const chance = (100 * mosaics.labels.reduce((a, b) => a + b, 0)) / mosaics.labels.length;
  assert.ok(Math.abs(chance - 34.28) < 0.01);
  // The untrained prompt: the same two contexts at their N(0, 0.02²) initialisation.
  const images = await cell.run(() => mosaicFeatures(model, mosaics));
  const fresh = new TaIDPTPrompts(await backboneOf(model), set.classNames, TAIDPT_DEFAULTS, 1);
  const untrained = await dualPromptScores(model, set.classNames, TAIDPT_DEFAULTS, 1, fresh.save(), images, 40, 0.5);
  fresh.dispose();
  const untrainedGlobal = 100 * meanAveragePrecision(untrained.global, mosaics.labels, mosaics.count, C).mAP;
  const seen: string[] = [`untrained global ${untrainedGlobal.toFixed(2)}`];
  for (const seed of [1, 2, 3]) {
    const trained = await cell.run(() => trainTaIDPT(model, set, { epochs: EPOCHS, seed }));
    const ev = await cell.run(() => evaluateTaIDPT(model, trained, mosaics));
    const m = ev.mAP, first = trained.curve[0].loss, last = trained.curve.at(-1)!.loss;
    seen.push(`seed ${seed}: loss ${first.toFixed(2)} → ${last.toFixed(2)}, ${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +v!.toFixed(2)])))}`);
    const why = seen.join('; ');
    assert.ok(last < 0.85 * first, `ranking loss should fall by > 15 %: ${why}`);
    assert.ok(Math.abs(m.zeroShot - 46.36) < 0.05, `zero-shot mAP does not depend on training: ${why}`);
    assert.ok(Math.abs(m.global - m.zeroShot) < MEASURED.globalWithin, `TaI global within ${MEASURED.globalWithin} points of zero-shot: ${why}`);
    assert.ok(m.global > untrainedGlobal + MEASURED.globalOverUntrained, `TaI global > untrained + ${MEASURED.globalOverUntrained}: ${why}`);
    assert.ok(m.taidpt > chance + MEASURED.mergedOverChance, `TaI-DPT > chance + ${MEASURED.mergedOverChance}: ${why}`);
    assert.ok(m.local < m.global, `the local branch is below the global one on mini-CLIP: ${why}`);
    assert.equal(ev.perClass.numRows, 4 * C);
  }
  t.diagnostic(seen.join('; '));
});

