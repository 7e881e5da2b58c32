// The pieces of the pretraining recipe: the few-shot pool is the data helper's, captions keep the held-out
// templates out, the vocabulary pass covers every caption, soft targets and the loss compute what they say.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/backend.ts';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { holdOutPool } from '../../cells/data/splits.ts';
import { splitPool, toRgb32 } from '../../cells/model/pretrain/data.ts';
import { HELDOUT_TEMPLATES, TRAIN_TEMPLATES, TRAIN_CONTEXT, sampleCaption, fillTemplate } from '../../cells/model/pretrain/captions.ts';
import { loadLexicon, lexiconFor } from '../../cells/model/pretrain/lexicon.ts';
import { pretrainEntries, vocabularyIds, vocabularyTexts } from '../../cells/model/pretrain/train.ts';
import { softTargets, contrastiveLoss } from '../../cells/model/pretrain/loss.ts';
import { stepRng } from '../../cells/model/pretrain/rng.ts';
import { defaultTokenizer } from '../../cells/model/tokenizer.ts';

before(async () => {
  await initBackend('cpu');
});

test('the few-shot pool is exactly holdOutPool; pool, validation and training images are disjoint', async () => {
  const ds = await bundledDataset('cifar10');
  const split = splitPool(ds, { seed: 0, fraction: 0.1, valPerClass: 5 });
  const ref = holdOutPool(ds, { fraction: 0.1, seed: 0 });
  assert.deepEqual(split.pool, Array.from(ref.pool).sort((a, b) => a - b));
  const seen = new Set<number>();
  for (const id of [...split.pool, ...split.val, ...split.train]) {
    assert.ok(!seen.has(id), `image ${id} is in two parts`);
    seen.add(id);
  }
  assert.equal(seen.size, ds.images.count);
  assert.equal(split.pool.length, 100); // 10% of 100 per class
  assert.equal(split.val.length, 50);
  const px = toRgb32(ds.images.get(split.train[0]));
  assert.equal(px.length, 32 * 32 * 3);
});

test('captions come from the lexicon and training templates only; held-out templates never appear', () => {
  const lex = loadLexicon();
  const entries = pretrainEntries(lex);
  assert.equal(entries.length, 20);
  assert.equal(lexiconFor(lex, 'cifar10', ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']).length, 10);
  for (const t of HELDOUT_TEMPLATES) assert.ok(!TRAIN_TEMPLATES.includes(t));
  const rand = stepRng(0, 0, 1);
  const caps = Array.from({ length: 400 }, (_, i) => sampleCaption(entries[i % 20], rand));
  // A held-out template filled with any of the class's names must not start any caption.
  caps.forEach((c, i) => {
    const e = entries[i % 20];
    for (const t of HELDOUT_TEMPLATES) for (const n of [e.name.replace('/', ' or '), ...e.synonyms]) {
      const filled = fillTemplate(t, n).replace(/\.$/, '');
      assert.ok(!c.startsWith(filled), `caption "${c}" uses held-out template "${t}"`);
    }
  });
  // Several kinds of caption are drawn: names, synonyms, hypernyms, glosses.
  assert.ok(caps.some((c) => c.includes('a kind of')));
  assert.ok(caps.some((c) => c.includes(': ')));
  assert.equal(fillTemplate('a photo of a {}.', 'airplane'), 'a photo of an airplane.');
  // Same (seed, step) → same captions: the basis of deterministic resume.
  const again = stepRng(0, 0, 1);
  assert.deepEqual(Array.from({ length: 400 }, (_, i) => sampleCaption(entries[i % 20], again)), caps);
});

test('the vocabulary pass covers every sampled caption', () => {
  const tok = defaultTokenizer();
  const vocab = new Set(vocabularyIds(tok, vocabularyTexts(loadLexicon())));
  const entries = pretrainEntries(loadLexicon());
  const rand = stepRng(3, 5, 1);
  const caps = Array.from({ length: 300 }, (_, i) => sampleCaption(entries[(i * 7) % 20], rand));
  const b = tok.tokenize(caps, { contextLength: TRAIN_CONTEXT });
  for (const id of b.ids) assert.ok(vocab.has(id), `token ${id} missing from the vocabulary subset`);
  assert.ok(vocab.size < 3000, `subset has ${vocab.size} rows; it should be a small part of 49,408`);
});

test('soft targets spread each row evenly over same-class captions', () => {
  const t = softTargets([0, 1, 0, 2]);
  assert.deepEqual(Array.from(t.slice(0, 4)), [0.5, 0, 0.5, 0]);
  assert.deepEqual(Array.from(t.slice(4, 8)), [0, 1, 0, 0]);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(t.slice(4 * i, 4 * i + 4).reduce((a, b) => a + b, 0) - 1) < 1e-6);
});

test('contrastive loss matches a direct computation', () => {
  const img = tf.tensor2d([[1, 0], [0.6, 0.8], [0, 1]]);
  const txt = tf.tensor2d([[0.8, 0.6], [1, 0], [0, 1]]);
  const classes = [0, 0, 1];
  const scale = Math.log(5);
  const loss = contrastiveLoss(img, txt, tf.scalar(scale), tf.tensor2d(softTargets(classes), [3, 3])).dataSync()[0];
  const I = img.arraySync(), T = txt.arraySync();
  const logits = I.map((a) => T.map((b) => 5 * (a[0] * b[0] + a[1] * b[1])));
  const ce = (rows: number[][]) => rows.reduce((acc, row, i) => {
    const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
    const same = classes.map((c) => (c === classes[i] ? 1 : 0));
    const k = same.reduce((a: number, b) => a + b, 0);
    return acc - row.reduce((s, x, j) => s + (same[j] / k) * (x - lse), 0);
  }, 0);
  const transposed = logits[0].map((_, j) => logits.map((r) => r[j]));
  const expected = (ce(logits) + ce(transposed)) / (2 * 3);
  assert.ok(Math.abs(loss - expected) < 1e-5, `${loss} vs ${expected}`);
});
