// TaI-DPT on CIFAR-10 2×2 mosaics with mini-CLIP: the mAP table of cells/prompts/README.md.
//   node --import tsx bench/taidpt.ts          (LR=1e-3 EPOCHS=20 NCTX=16 SEEDS=1,2 to vary)
import { readFileSync } from 'node:fs';
import { initBackend, load } from '../cells/model/index.ts';
import { bundledDataset } from '../cells/data/bundled.ts';
import { mosaicSet } from '../cells/data/mosaic.ts';
import { textTrainingSet } from '../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../cells/prompts/tai-synonyms.ts';
import { runTaIDPT, evaluateTaIDPT, textSetFingerprint, TAIDPT_DEFAULTS, TAIDPT_OPTIM } from '../cells/prompts/taidpt.ts';
import { testCell } from '../test/prompts/helpers.ts';

await initBackend('wasm');
const model = await load('data/models/mini-clip');
const corpus = readFileSync('data/corpora/wordnet-cifar10.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l).text as string);
const set = textTrainingSet(corpus, CIFAR10_SYNONYMS);
const ds = await bundledDataset('cifar10');
const mos = mosaicSet(ds, { seed: 0 });
console.log('texts', set.texts.length, 'kept', set.kept, 'mosaics', mos.count, 'fp', mos.fingerprint);
const lr = Number(process.env.LR ?? 1e-3), epochs = Number(process.env.EPOCHS ?? 20), nCtx = Number(process.env.NCTX ?? 16);
const cell = testCell();
for (const seed of (process.env.SEEDS ?? '1').split(',').map(Number)) {
  const t0 = Date.now();
  const trained = await runTaIDPT(model, set, textSetFingerprint(set), { config: { ...TAIDPT_DEFAULTS, nCtx }, optim: { ...TAIDPT_OPTIM, lr }, epochs, seed }, { signal: new AbortController().signal, progress: () => {}, log: console.log });
  const ev = await cell.run(() => evaluateTaIDPT(model, trained, mos));
  console.log(`seed ${seed} lr ${lr} epochs ${epochs} nCtx ${nCtx}: ${((Date.now() - t0) / 1000).toFixed(1)}s, ${trained.msPerStep.toFixed(0)} ms/step, loss ${trained.curve[0].loss.toFixed(3)} → ${trained.curve.at(-1)!.loss.toFixed(3)}`);
  console.log('  mAP', JSON.stringify(Object.fromEntries(Object.entries(ev.mAP).map(([k, v]) => [k, +v.toFixed(2)]))));
}
