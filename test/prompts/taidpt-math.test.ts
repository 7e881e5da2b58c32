// TaI-DPT's pieces against references written independently here in float64: the ranking loss, the local
// (softmax-weighted) aggregation with padding, average precision / mAP (pairwise definition), min–max
// fusion; and the label derivation against a small hand-labelled set of real WordNet sentences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../cells/model/index.ts';
import { rankingLoss, localScores, localScoresByClass, averagePrecision, meanAveragePrecision, fuseScores, minMaxNormalize } from '../../cells/prompts/multilabel.ts';
import { labelDeriver, NounLemmatizer, nounExceptions, textTrainingSet, TAI_TEMPLATES } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';
import { mulberry32 } from '../../cells/util/random.ts';

await initBackend('cpu');
const rand = mulberry32(17);
const randn = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());

test('ranking loss = mean_b Σ_pos Σ_neg max(0, 1 − s_p + s_n) (float64 reference)', () => {
  const B = 7, C = 5;
  const s = Array.from({ length: B * C }, () => randn() * 2);
  const y = Array.from({ length: B * C }, () => (rand() < 0.4 ? 1 : 0));
  y.fill(0, 0, C); // a sample with no positive contributes 0
  let ref = 0;
  for (let b = 0; b < B; b++) for (let p = 0; p < C; p++) for (let n = 0; n < C; n++) {
    if (y[b * C + p] === 1 && y[b * C + n] === 0) ref += Math.max(0, 1 - s[b * C + p] + s[b * C + n]);
  }
  ref /= B;
  const got = tf.tidy(() => rankingLoss(tf.tensor2d(s, [B, C]), tf.tensor2d(y, [B, C])).dataSync()[0]);
  assert.ok(Math.abs(got - ref) < 1e-4 * Math.max(1, ref), `${got} vs ${ref}`);
  // a hand case: s = [3, 0.5, 0], positives {0}: (1 − 3 + 0.5)+ + (1 − 3 + 0)+ = 0; positives {1}: (1 − 0.5 + 3) + (1 − 0.5 + 0) = 4
  const hand = tf.tidy(() => rankingLoss(tf.tensor2d([[3, 0.5, 0], [3, 0.5, 0]]), tf.tensor2d([[1, 0, 0], [0, 1, 0]])).dataSync()[0]);
  assert.ok(Math.abs(hand - 2) < 1e-6, `hand case ${hand}`);
});

// localScores reads cosines [B, L, C]; localScoresByClass the same cosines class-major, [C, B, L] (the training step's layout).
const layouts: [string, (S: number[], B: number, L: number, C: number, mask: tf.Tensor2D | null, tau: number) => tf.Tensor2D][] = [
  ['localScores', (S, B, L, C, mask, tau) => localScores(tf.tensor3d(S, [B, L, C]), mask, tau)],
  ['localScoresByClass', (S, B, L, C, mask, tau) => localScoresByClass(tf.tensor3d(S, [B, L, C]).transpose([2, 0, 1]) as tf.Tensor3D, mask, tau)],
];
for (const [name, scores] of layouts) test(`${name}: Σ_l 4·S·softmax_l(τ·S), padding masked (float64 reference)`, () => {
  const B = 3, L = 6, C = 4, tau = 50;
  const S = Array.from({ length: B * L * C }, () => rand() * 2 - 1);
  const lens = [6, 3, 1];
  const mask = Array.from({ length: B * L }, (_, i) => (i % L < lens[Math.floor(i / L)] ? 1 : 0));
  const got = tf.tidy(() => scores(S, B, L, C, tf.tensor2d(mask, [B, L]), tau).dataSync());
  assert.equal(got.length, B * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const v = Array.from({ length: lens[b] }, (_, l) => S[(b * L + l) * C + c]);
    const mx = Math.max(...v);
    const e = v.map((x) => Math.exp(tau * (x - mx)));
    const z = e.reduce((a, x) => a + x, 0);
    const ref = v.reduce((a, x, l) => a + 4 * x * (e[l] / z), 0);
    assert.ok(Math.abs(got[b * C + c] - ref) < 1e-4, `b ${b} c ${c}: ${got[b * C + c]} vs ${ref}`);
  }
  // one valid position: the score is 4·S of that position, whatever the padding holds
  assert.ok(Math.abs(got[2 * C] - 4 * S[2 * L * C]) < 1e-5);
  // no mask (images): every location counts; τ = 40
  const all = tf.tidy(() => scores(S, B, L, C, null, 40).dataSync());
  const v = Array.from({ length: L }, (_, l) => S[l * C]);
  const e = v.map((x) => Math.exp(40 * x)), z = e.reduce((a, x) => a + x, 0);
  assert.ok(Math.abs(all[0] - v.reduce((a, x, l) => a + 4 * x * e[l] / z, 0)) < 1e-4);
});

/** AP by its pairwise definition: mean over positives i of |{pos j: s_j ≥ s_i}| / |{j: s_j ≥ s_i}|. */
function apPairwise(s: number[], y: number[]): number {
  const pos = s.map((_, i) => i).filter((i) => y[i]);
  return pos.reduce((a, i) => a + pos.filter((j) => s[j] >= s[i]).length / s.filter((x) => x >= s[i]).length, 0) / pos.length;
}

test('average precision and mAP match an independent computation', () => {
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + Math.floor(rand() * 40);
    const s = Array.from({ length: n }, () => rand());
    const y = Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
    y[0] = 1;
    assert.ok(Math.abs(averagePrecision(s, y) - apPairwise(s, y)) < 1e-12);
  }
  // hand cases: ranking + − + − → (1/1 + 2/3)/2; perfect ranking → 1; ties: one threshold for all → P = 2/4
  assert.ok(Math.abs(averagePrecision([4, 3, 2, 1], [1, 0, 1, 0]) - (1 + 2 / 3) / 2) < 1e-12);
  assert.equal(averagePrecision([0.9, 0.8, 0.1], [1, 1, 0]), 1);
  assert.equal(averagePrecision([1, 1, 1, 1], [1, 0, 1, 0]), 0.5);
  assert.ok(Number.isNaN(averagePrecision([1, 2], [0, 0])));
  // mAP over a [N, C] matrix: mean of the columns' APs, a class without positives left out
  const N = 30, C = 4;
  const S = Array.from({ length: N * C }, () => rand()), Y = Array.from({ length: N * C }, (_, i) => (i % C === 3 ? 0 : rand() < 0.4 ? 1 : 0));
  const col = (a: number[], c: number) => a.filter((_, i) => i % C === c);
  const ref = [0, 1, 2].map((c) => apPairwise(col(S, c), col(Y, c)));
  const r = meanAveragePrecision(S, Y, N, C);
  assert.ok(Math.abs(r.mAP - ref.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  assert.ok(Number.isNaN(r.perClass[3]));
});

test('fusion: min–max normalised, (1 − r)·TaI + r·other', () => {
  assert.deepEqual(Array.from(minMaxNormalize([2, 4, 3])), [0, 1, 0.5]);
  const f = fuseScores([2, 4, 3], [10, 0, 5], 0.25);
  assert.deepEqual(Array.from(f), [0.75 * 0 + 0.25 * 1, 0.75 * 1 + 0, 0.75 * 0.5 + 0.25 * 0.5]);
});

test('noun lemmatiser: WordNet exception list first, then the suffix rules, only to known lemmas', () => {
  const known = new Set(['mouse', 'goose', 'box', 'church', 'bus', 'fly', 'man', 'glass', 'dog', 'calf', 'ox']);
  const lem = new NounLemmatizer(nounExceptions(), (w) => known.has(w));
  assert.equal(lem.lemma('mice'), 'mouse');     // noun.exc
  assert.equal(lem.lemma('geese'), 'goose');
  assert.equal(lem.lemma('oxen'), 'ox');
  assert.equal(lem.lemma('calves'), 'calf');
  assert.equal(lem.lemma('boxes'), 'box');      // -xes
  assert.equal(lem.lemma('churches'), 'church'); // -ches
  assert.equal(lem.lemma('flies'), 'fly');      // -ies
  assert.equal(lem.lemma('dogs'), 'dog');       // -s
  assert.equal(lem.lemma('glass'), 'glass');    // a known lemma is kept, not cut to "glas"
  assert.equal(lem.lemma('bus'), 'bus');
  assert.equal(lem.lemma('running'), 'running'); // unknown: unchanged
});

// Real sentences from WordNet 3.0's glosses (data/corpora/wordnet-cifar10.jsonl and data.noun), labelled by
// hand by reading them: [sentence, the CIFAR-10 classes it mentions].
const HAND: [string, string[]][] = [
  ['transport by boat or aircraft', ['airplane', 'ship']],
  ['the act of crossing a stream or river by wading or in a car or on a horse', ['automobile', 'horse']],
  ['a large owl of North America found in forests from British Columbia to central Mexico', ['bird']],
  ['corral the horses', ['horse']],
  ['a speedy car', ['automobile']],
  ['type genus of the Felidae: true cats and most wildcats', ['cat']],
  ['a bet that a horse will finish a race no worse than second', ['horse']],
  ['a truck equipped to carry firemen and equipment for fighting fires', ['truck']],
  ['young of domestic cattle', []],
  ['a young dog', ['dog']],
  ['the geese flew south for the winter', []],
  ['small slender toads', ['frog']],
  ['a large ocean-going ship with her sails set', ['ship']],
  ['a mounted policeman on a horse directing cars at a crossing', ['automobile', 'horse']],
  ['a puppy chasing a kitten', ['cat', 'dog']],
];

test('labels from text: hand-labelled real sentences; compound names first, each match deleted', () => {
  const d = labelDeriver(CIFAR10_SYNONYMS);
  for (const [text, want] of HAND) {
    assert.deepEqual(d.labels(text).map((i) => d.classNames[i]), want, text);
  }
  // "fire engine" is matched as one name (truck), its words deleted: "engine" alone is no class anyway, and
  // a compound's last word ("car" in "sports car") is not matched a second time
  assert.deepEqual(d.labels('two fire engines and a sports car').map((i) => d.classNames[i]), ['automobile', 'truck']);
  // hyphenated words stay one token; "sports" is itself a word of a name ("sports car"), so it is kept
  assert.deepEqual(d.lemmas('Two Fire-Engines, sports cars!'), ['two', 'fire-engines', 'sports', 'car']);
});

test('the shipped corpus: every line keeps the labels the code derives; templates labelled with their class', () => {
  const rows = readFileSync(new URL('../../data/corpora/wordnet-cifar10.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; labels: string[] });
  assert.ok(rows.length > 3000, `${rows.length} corpus lines`);
  const d = labelDeriver(CIFAR10_SYNONYMS);
  for (const r of rows) assert.deepEqual(d.labels(r.text).map((i) => d.classNames[i]), r.labels, r.text);
  const set = textTrainingSet([...rows.map((r) => r.text), 'a sentence about nothing in particular'], CIFAR10_SYNONYMS);
  assert.equal(set.kept, rows.length); // the unmatched sentence is dropped
  assert.equal(set.texts.length, rows.length + 10 * TAI_TEMPLATES.length);
  const C = 10, last = set.texts.length - 1; // the last text: the last template for "truck"
  assert.equal(set.texts[last], TAI_TEMPLATES.at(-1)!.replace('{}', 'truck'));
  assert.deepEqual(Array.from(set.labels.subarray(last * C, last * C + C)), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});
