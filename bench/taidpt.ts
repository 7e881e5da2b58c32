// TaI-DPT on CIFAR-10 2×2 mosaics with mini-CLIP: the comparison table of cells/prompts/README.md (issue #17).
//   node --import tsx bench/taidpt.ts [--out DIR]
//     SEEDS=1,2,3 EPOCHS=20 LR=1e-3 NCTX=16      TaI-DPT's training (the paper's recipe)
//     POOL=200 IMAGE_EPOCHS=20 IMAGE_LR=1e-3      the image-trained prompt: POOL mosaics of CIFAR-10 *train* images
//     R=0.9                                        the fusion weight (the paper's with DualCoOp)
//     EVAL=test|val                                test: the 250 mosaics of the bundled test subset (the reported
//                                                  set); val: 250 mosaics of CIFAR-10 train images disjoint from
//                                                  the pool, for choosing settings without touching the test set
// Rows: zero-shot, TaI global only, TaI local only, TaI-DPT, image-trained, fused; mean ± std over the seeds.
// Writes DIR/taidpt-runs.{csv,arrow} (tidy: seed, method, mAP) and DIR/taidpt-table.csv (mean, std). Trainings
// are cached stages under $PROMPTSCOPE_CACHE (default /tmp/taidpt-bench-cache): a re-run resumes.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { initBackend, load } from '../cells/model/index.ts';
import { bundledDataset, CIFAR10_CLASSES } from '../cells/data/bundled.ts';
import { loadImageFolder } from '../cells/data/load-folder.ts';
import { defaultDatasetsRoot } from '../cells/model/pretrain/data.ts';
import { mosaicSet } from '../cells/data/mosaic.ts';
import { textTrainingSet } from '../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT, evaluateTaIDPT, mosaicFeatures, dualPromptScores, TAIDPT_METHOD_LABELS } from '../cells/prompts/taidpt.ts';
import { meanAveragePrecision } from '../cells/prompts/multilabel.ts';
import { trainImageMultiLabel } from '../cells/prompts/multilabel-image.ts';
import { seedStat } from '../cells/prompts/stats.ts';
import { testCell } from '../test/prompts/helpers.ts';

const env = (k: string, d: string) => process.env[k] ?? d;
const outIdx = process.argv.indexOf('--out');
const out = outIdx > 0 ? process.argv[outIdx + 1] : 'out/taidpt-bench';
const seeds = env('SEEDS', '1,2,3').split(',').map(Number);
const epochs = Number(env('EPOCHS', '20')), lr = Number(env('LR', '1e-3')), nCtx = Number(env('NCTX', '16'));
const poolSize = Number(env('POOL', '200')), imageEpochs = Number(env('IMAGE_EPOCHS', '20')), imageLr = Number(env('IMAGE_LR', '1e-3'));
const r = Number(env('R', '0.9')), evalOn = env('EVAL', 'test');
const tauImage = Number(env('TAU', '40')), localWeight = Number(env('LOCAL_WEIGHT', '0.5'));

await initBackend('wasm');
const model = await load('data/models/mini-clip');
const corpus = readFileSync('data/corpora/wordnet-cifar10.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l).text as string);
const set = textTrainingSet(corpus, CIFAR10_SYNONYMS);
const train = await loadImageFolder(join(defaultDatasetsRoot(), 'cifar10/train.tar'), { name: 'cifar10-train', split: 'train', classes: CIFAR10_CLASSES });
// The pool is the first POOL mosaics of the train permutation (seed 1); the validation set the next 250.
const pool = mosaicSet(train, { seed: 1, count: poolSize });
const evalSet = evalOn === 'val' ? mosaicSet(train, { seed: 1, offset: poolSize, count: 250 }) : mosaicSet(await bundledDataset('cifar10'), { seed: 0 });
console.log(`texts ${set.texts.length}; pool ${pool.count} train mosaics; evaluation (${evalOn}) ${evalSet.count} mosaics ${evalSet.fingerprint.slice(0, 12)}`);
const cell = testCell(env('PROMPTSCOPE_CACHE', '/tmp/taidpt-bench-cache'));
const rows: { seed: number; method: string; mAP: number }[] = [];
for (const seed of seeds) {
  const t0 = Date.now();
  const tai = await cell.run(() => trainTaIDPT(model, set, { config: { nCtx, tauImage, localWeight }, optim: { lr }, epochs, seed }));
  const t1 = Date.now();
  const img = await cell.run(() => trainImageMultiLabel(model, pool, { config: { nCtx }, optim: { lr: imageLr }, epochs: imageEpochs, seed }));
  const ev = await cell.run(() => evaluateTaIDPT(model, tai, evalSet, { imagePrompt: img, r }));
  console.log(`seed ${seed}: TaI-DPT ${((t1 - t0) / 1000).toFixed(0)} s (loss ${tai.curve[0].loss.toFixed(2)} → ${tai.curve.at(-1)!.loss.toFixed(2)}), image-trained ${((Date.now() - t1) / 1000).toFixed(0)} s (loss ${img.curve[0].loss.toFixed(2)} → ${img.curve.at(-1)!.loss.toFixed(2)})`);
  console.log('  mAP', JSON.stringify(Object.fromEntries(Object.entries(ev.mAP).map(([k, v]) => [k, +v!.toFixed(2)]))));
  if (evalOn === 'val') {
    // Test-time settings of TaI-DPT read on the validation mosaics only (never on the test set).
    const f = await cell.run(() => mosaicFeatures(model, evalSet));
    for (const tau of [1, 10, 40, 100]) {
      const line: string[] = [];
      for (const w of [0, 0.25, 0.5, 0.75, 1]) {
        const s = await dualPromptScores(model, tai.classNames, tai.config, tai.seed, tai.state, f, tau, w);
        line.push(`w ${w}: ${(100 * meanAveragePrecision(s.final, evalSet.labels, evalSet.count, evalSet.classNames.length).mAP).toFixed(2)}`);
      }
      console.log(`  val TaI-DPT τ ${tau}: ${line.join(', ')}`);
    }
  }
  for (const [k, v] of Object.entries(ev.mAP)) rows.push({ seed, method: TAIDPT_METHOD_LABELS[k as keyof typeof TAIDPT_METHOD_LABELS], mAP: v! });
}
mkdirSync(out, { recursive: true });
const atomic = (file: string, data: string | Uint8Array) => { writeFileSync(`${file}.tmp`, data); renameSync(`${file}.tmp`, file); };
const runs = tableFromArrays({ seed: Int32Array.from(rows.map((x) => x.seed)), method: rows.map((x) => x.method), mAP: Float64Array.from(rows.map((x) => x.mAP)) });
atomic(join(out, 'taidpt-runs.arrow'), tableToIPC(runs, 'file'));
atomic(join(out, 'taidpt-runs.csv'), ['seed,method,mAP', ...rows.map((x) => `${x.seed},${x.method},${x.mAP}`)].join('\n') + '\n');
const methods = [...new Set(rows.map((x) => x.method))];
const lines = ['method,mean,std,seeds'];
console.log(`\nmAP (%) on ${evalSet.count} mosaics (${evalOn}), ${seeds.length} seeds, r = ${r}, τ = ${tauImage}`);
for (const m of methods) {
  const v = rows.filter((x) => x.method === m).map((x) => x.mAP);
  const s = seedStat(v);
  lines.push(`${m},${s.mean},${s.std},${v.length}`);
  console.log(`| ${m} | ${s.mean.toFixed(1)} ± ${(s.std || 0).toFixed(1)} | ${v.map((x) => x.toFixed(1)).join(' / ')} |`);
}
atomic(join(out, 'taidpt-table.csv'), lines.join('\n') + '\n');
