// TaI-DPT's real-CLIP path, pipeline only: COCO-format multi-label images (../shared/datasets/coco-mini) with
// COCO's 80 categories, any CLIP checkpoint through load(path) — here the tiny random fixture CLIP, since no
// real CLIP weights are reachable from this machine, so no accuracy is claimed or asserted. Checked: the
// labels TaI-DPT is scored against equal the annotation file's (read here with the system tar, not the
// loader); the 80 synonym lists label real sentences; text training, the image-trained prompt and the fused
// evaluation run end to end and give 6 rows and 6 × 80 per-class APs over the classes present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { initBackend, load } from '../../cells/model/index.ts';
import { loadCoco } from '../../cells/data/load-coco.ts';
import { multiLabelImageSet } from '../../cells/data/mosaic.ts';
import { labelDeriver, textTrainingSet } from '../../cells/prompts/caption-labels.ts';
import { COCO_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { trainTaIDPT, evaluateTaIDPT } from '../../cells/prompts/taidpt.ts';
import { trainImageMultiLabel } from '../../cells/prompts/multilabel-image.ts';
import { FIXTURE, SHARED, testCell } from './helpers.ts';

const TAR = join(SHARED, 'datasets/coco-mini/coco-mini.tar');

test('COCO path: 80 categories, labels from the annotation file, train + evaluate end to end on the fixture CLIP', async () => {
  await initBackend('wasm');
  const model = await load(FIXTURE, { id: 'fixture-tiny' });
  const val = await loadCoco(TAR, 'val2017');
  const train = await loadCoco(TAR, 'train2017');
  assert.deepEqual(val.classNames, COCO_SYNONYMS.map((c) => c.name), 'the synonym lists follow the categories in id order');

  // Labels by hand from instances_val2017.json: images by id, each image's set of category indices.
  const ann = JSON.parse(execFileSync('tar', ['xOf', TAR, 'annotations/instances_val2017.json'], { maxBuffer: 1 << 26 }).toString()) as {
    images: { id: number }[]; annotations: { image_id: number; category_id: number }[]; categories: { id: number }[];
  };
  const catIndex = new Map([...ann.categories].sort((a, b) => a.id - b.id).map((c, i) => [c.id, i]));
  const imageIds = ann.images.map((i) => i.id).sort((a, b) => a - b);
  const test = multiLabelImageSet(val, { count: 12 });
  assert.equal(test.count, 12);
  for (let i = 0; i < 12; i++) {
    const want = new Set(ann.annotations.filter((a) => a.image_id === imageIds[i]).map((a) => catIndex.get(a.category_id)!));
    for (let c = 0; c < 80; c++) assert.equal(test.labels[i * 80 + c], want.has(c) ? 1 : 0, `image ${i}, class ${c}`);
  }
  const img = test.image(0);
  assert.equal(img.channels, 3);
  assert.throws(() => multiLabelImageSet({ ...val, multiLabel: false }), /single-label; make multi-label images from it with mosaicSet/);

  // The synonym lists on real sentences (compound names first, each match deleted).
  const d = labelDeriver(COCO_SYNONYMS);
  const names = (t: string) => d.labels(t).map((c) => COCO_SYNONYMS[c].name);
  assert.deepEqual(names('A man rides a motorbike past a fire hydrant.'), ['person', 'motorcycle', 'fire hydrant']);
  assert.deepEqual(names('Two teddy bears sit on a sofa next to a hair dryer.'), ['couch', 'teddy bear', 'hair drier']);
  assert.deepEqual(names('A hot dog and a glass of wine on the dining table.'), ['hot dog', 'dining table']);
  assert.deepEqual(names('The sky is blue.'), []);

  const texts = textTrainingSet(['a dog chasing a frisbee', 'a man with an umbrella at a bus stop', 'a cat on a laptop keyboard', 'pizza and a cup of coffee'], COCO_SYNONYMS, ['a photo of a {}.']);
  assert.equal(texts.texts.length, 4 + 80);
  const cell = testCell();
  const tai = await cell.run(() => trainTaIDPT(model, texts, { config: { nCtx: 2, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 32 }, epochs: 1 }));
  const pool = multiLabelImageSet(train, { count: 16 });
  const imagePrompt = await cell.run(() => trainImageMultiLabel(model, pool, { config: { nCtx: 2 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 1 }));
  const ev = await cell.run(() => evaluateTaIDPT(model, tai, test, { imagePrompt }));
  assert.equal(ev.summary.numRows, 6);
  assert.equal(ev.perClass.numRows, 6 * 80);
  const present = new Set<number>();
  for (let i = 0; i < 12; i++) for (let c = 0; c < 80; c++) if (test.labels[i * 80 + c]) present.add(c);
  const aps = ev.perClass.getChild('ap')!.toArray() as Float64Array;
  assert.equal(aps.slice(0, 80).filter((x) => !Number.isNaN(x)).length, present.size, 'AP only for classes present in the test images');
  for (const v of Object.values(ev.mAP)) assert.ok(v! > 0 && v! <= 100);
});
