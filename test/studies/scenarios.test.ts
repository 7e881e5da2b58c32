// Scenarios as fingerprinted dataset views (cells/data/long-tail.ts, corrupted.ts; cells/studies/scenarios.ts):
// long-tail counts against the published CIFAR-10-LT sizes and Python's arithmetic, the views' contents, that
// fingerprints follow every setting, that train and test never share an image, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { longTailCounts, longTailDataset } from '../../cells/data/long-tail.ts';
import { corruptedDataset } from '../../cells/data/corrupted.ts';
import { corruptImage } from '../../cells/data/corruptions.ts';
import { mixSeed } from '../../cells/util/random.ts';
import { corruptionScenario, genericScenario, imbalanceScenario, outOfDistributionScenario, trainTestSplit } from '../../cells/studies/scenarios.ts';
import type { Dataset } from '../../cells/data/dataset.ts';

const cifar = await bundledDataset('cifar10');
const mnist = await bundledDataset('mnist');
const labelsOf = (ds: Dataset) => Array.from(ds.rows.getChild('label')!.toArray() as Int32Array);
const sourcesOf = (ds: Dataset) => Array.from(ds.rows.getChild('source')!.toArray() as string[]);
const countsOf = (ds: Dataset) => ds.classNames.map((_, c) => labelsOf(ds).filter((l) => l === c).length);

test('long-tail counts: n_c = ⌊n_max · ρ^(−c/(C−1))⌋, as CIFAR-10-LT', () => {
  // CIFAR-10-LT at ρ = 100 has 12,406 training images (Cao et al. 2019); the lists are Python's
  // [int(5000 * (1/ρ) ** (i / 9.0)) for i in range(10)].
  const r100 = longTailCounts(5000, 10, 100);
  assert.deepEqual(r100, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
  assert.equal(r100.reduce((a, b) => a + b), 12406);
  assert.deepEqual(longTailCounts(5000, 10, 10), [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]);
  assert.deepEqual(longTailCounts(20, 10, 10), [20, 15, 11, 9, 7, 5, 4, 3, 2, 2]);
  assert.deepEqual(longTailCounts(500, 100, 50).filter((_, i) => i % 11 === 0), [500, 323, 209, 135, 87, 56, 36, 23, 15, 10]);
  assert.deepEqual(longTailCounts(7, 3, 1), [7, 7, 7], 'ratio 1 is balanced');
  assert.throws(() => longTailCounts(20, 10, 0.5), /imbalance ratio is n_max \/ n_min and must be ≥ 1, got 0.5/);
  assert.throws(() => longTailCounts(20, 10, 100), /leaves the last class 0 images from nMax 20/);
  assert.throws(() => longTailCounts(20, 1, 10), /at least 2 classes/);
});

test('long-tailed view: per-class counts follow the formula; a longer tail is nested in a shorter one; fingerprints follow ratio and seed', () => {
  const lt = longTailDataset(cifar, { nMax: 60, ratio: 10 });
  assert.deepEqual(countsOf(lt), longTailCounts(60, 10, 10));
  assert.deepEqual(countsOf(lt), [60, 46, 35, 27, 21, 16, 12, 10, 7, 6]); // Python: int(60 * 0.1 ** (i / 9.0))
  const lt50 = longTailDataset(cifar, { nMax: 60, ratio: 50 });
  const kept = new Set(sourcesOf(lt));
  assert.ok(sourcesOf(lt50).every((s) => kept.has(s)), 'ρ = 50 keeps a subset of ρ = 10 (same ranking)');
  assert.equal(lt.images, cifar.images, 'a view shares its parent\'s pixels');
  assert.notEqual(lt.fingerprint, lt50.fingerprint);
  assert.notEqual(lt.fingerprint, longTailDataset(cifar, { nMax: 60, ratio: 10, seed: 1 }).fingerprint);
  assert.equal(lt.fingerprint, longTailDataset(cifar, { nMax: 60, ratio: 10 }).fingerprint, 'same settings, same fingerprint');
  assert.notDeepEqual(sourcesOf(longTailDataset(cifar, { nMax: 60, ratio: 10, seed: 1 })), sourcesOf(lt), 'another seed keeps other images');
  assert.throws(() => longTailDataset(cifar, { nMax: 101, ratio: 10 }), /class 0 \("airplane"\) has 100 images, the tail asks for 101; lower nMax/);
});

test('corrupted view: same rows, each image corrupted with its own seeded noise, independent of reading order', () => {
  const a = corruptedDataset(mnist, { corruption: 'gaussian_noise', severity: 3, seed: 4 });
  const b = corruptedDataset(mnist, { corruption: 'gaussian_noise', severity: 3, seed: 4 });
  assert.equal(a.rows, mnist.rows);
  assert.equal(a.images.count, mnist.images.count);
  const late = b.images.get(7); // b reads image 7 first, a after others
  a.images.get(3);
  assert.deepEqual(a.images.get(7).data, late.data);
  assert.deepEqual(a.images.get(7).data, corruptImage(mnist.images.get(7), 'gaussian_noise', 3, mixSeed(4, 7)).data);
  assert.notDeepEqual(a.images.get(7).data, mnist.images.get(7).data, 'the pixels changed');
  // Fingerprints follow every setting.
  const fps = new Set([
    a.fingerprint,
    corruptedDataset(mnist, { corruption: 'gaussian_noise', severity: 4, seed: 4 }).fingerprint,
    corruptedDataset(mnist, { corruption: 'gaussian_noise', severity: 3, seed: 5 }).fingerprint,
    corruptedDataset(mnist, { corruption: 'contrast', severity: 3, seed: 4 }).fingerprint,
    corruptedDataset(cifar, { corruption: 'gaussian_noise', severity: 3, seed: 4 }).fingerprint,
    mnist.fingerprint,
  ]);
  assert.equal(fps.size, 6);
  assert.equal(b.fingerprint, a.fingerprint);
  assert.throws(() => corruptedDataset(mnist, { corruption: 'contrast', severity: 0 as 1 }), /severity must be an integer 1\.\.5/);
  assert.throws(() => corruptedDataset(mnist, { corruption: 'fog' as 'contrast', severity: 1 }), /unknown corruption "fog"/);
});

test('scenarios: disjoint train/test, shared training view across generic and corruption, fingerprints per setting', () => {
  const split = trainTestSplit(cifar, { testPerClass: 40, trainPerClass: 20 });
  assert.deepEqual(countsOf(split.train), new Array(10).fill(20));
  assert.deepEqual(countsOf(split.test), new Array(10).fill(40));
  const trainSources = new Set(sourcesOf(split.train));
  assert.ok(sourcesOf(split.test).every((s) => !trainSources.has(s)), 'no test image is a training image');

  const opts = { testPerClass: 40, trainPerClass: 20 };
  const generic = genericScenario(cifar, opts);
  const noise3 = corruptionScenario(cifar, { ...opts, corruption: 'gaussian_noise', severity: 3 });
  const noise5 = corruptionScenario(cifar, { ...opts, corruption: 'gaussian_noise', severity: 5 });
  assert.equal(noise3.train.fingerprint, generic.train.fingerprint, 'a corruption scenario trains on the generic training view');
  assert.deepEqual(sourcesOf(noise3.test), sourcesOf(generic.test), 'and tests the same images, corrupted');
  assert.notEqual(noise3.test.fingerprint, generic.test.fingerprint);
  assert.equal(new Set([generic.fingerprint, noise3.fingerprint, noise5.fingerprint]).size, 3);
  assert.deepEqual(noise5.settings, { corruption: 'gaussian_noise', severity: 5 });

  const lt10 = imbalanceScenario(cifar, { nMax: 40, ratio: 10, testPerClass: 40 });
  const lt20 = imbalanceScenario(cifar, { nMax: 40, ratio: 20, testPerClass: 40 });
  assert.deepEqual(lt10.trainCounts, longTailCounts(40, 10, 10));
  assert.deepEqual(countsOf(lt10.test), new Array(10).fill(40), 'balanced test set');
  assert.notEqual(lt10.fingerprint, lt20.fingerprint);
  assert.equal(lt10.test.fingerprint, lt20.test.fingerprint, 'the ratio changes only the training view');
  const ltSources = new Set(sourcesOf(lt10.train));
  assert.ok(sourcesOf(lt10.test).every((s) => !ltSources.has(s)));

  const ood = outOfDistributionScenario(mnist, { testPerClass: 30, trainPerClass: 10, shift: { corruption: 'contrast', severity: 5 } });
  assert.equal(ood.kind, 'ood');
  assert.equal(ood.name, 'mnist → contrast 5');
  assert.deepEqual(ood.trainCounts, new Array(10).fill(10));
  assert.equal(ood.train.fingerprint, genericScenario(mnist, { testPerClass: 30, trainPerClass: 10 }).train.fingerprint);
  assert.throws(() => outOfDistributionScenario(mnist, { testPerClass: 30, shift: { name: 'cifar', apply: () => cifar } }), /training classes \(zero.*\) and test classes \(airplane.*\) differ/);
  assert.throws(() => trainTestSplit(cifar, { testPerClass: 100 }), /class 0 \("airplane"\) has 100 images, fewer than 100 to test plus 1 to train/);
});
