// The shipped mini-CLIP (data/models/mini-clip/) loads through the ordinary Hugging Face path and reaches
// the zero-shot accuracy its model card claims on the bundled test subsets, with the held-out templates.
// The thresholds are the card's numbers minus a small margin (float16 weights and kernel order move a
// few images at most).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend, load, type CLIPModel } from '../../cells/model/index.ts';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { zeroShotAccuracy } from '../../cells/model/pretrain/evaluate.ts';

const DIR = fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url));

/** Zero-shot top-1 on the bundled subsets as the model card reports them (README.md, metrics.json). */
const CLAIMED = { cifar10: 0.485, 'fashion-mnist': 0.756 } as const;
const MARGIN = 0.015;

let model: CLIPModel;
before(async () => {
  await initBackend('wasm');
  model = await load(DIR, { id: 'mini-clip' });
});

test('the shipped files are a HF CLIP checkpoint of the documented shape, under 40 MB', () => {
  assert.ok(existsSync(`${DIR}/config.json`) && existsSync(`${DIR}/README.md`));
  assert.ok(statSync(`${DIR}/model.safetensors`).size <= 40e6);
  assert.equal(model.config.text.vocabSize, 49408);
  assert.equal(model.config.vision.imageSize, 32);
  const t = Math.exp(model.logitScale.dataSync()[0]);
  assert.ok(t > 1 && t <= 100, `temperature ${t}`);
});

for (const name of ['cifar10', 'fashion-mnist'] as const) {
  test(`zero-shot ${name} on the bundled test subset reaches the card's number (held-out templates)`, async () => {
    const ds = await bundledDataset(name);
    const r = zeroShotAccuracy(model, ds);
    ds.images.close();
    assert.ok(r.top1 >= CLAIMED[name] - MARGIN, `${name}: ${(100 * r.top1).toFixed(1)}% < claimed ${(100 * CLAIMED[name]).toFixed(1)}% − ${100 * MARGIN} points`);
    assert.ok(r.top1 > 2 * r.chance, `${name}: ${(100 * r.top1).toFixed(1)}% is not clearly above chance`);
  });
}
