// Evaluation scenarios for adapting a frozen backbone (Pro-tuning's comparison): each is a fingerprinted pair
// of dataset views, the images a method trains on and the images it is tested on, that any method runs on.
//   generic     a balanced training set and a disjoint test set of the same dataset;
//   imbalance   the training set subsampled to a long tail (long-tail.ts: n_c = n_max·ρ^(−c/(C−1))), the
//               test set balanced, as in the long-tailed CIFAR benchmarks;
//   corruption  the generic training set, the test set corrupted as CIFAR-10-C (corruptions.ts);
//   ood         train on one dataset, test on a shifted one with the same classes (e.g. MNIST → a corrupted
//               MNIST);
//   adversarial the generic training set, the test set perturbed by an L∞ PGD transfer attack crafted against a
//               fixed source model (adversarial.ts: one view every method is tested on, not a white-box attack
//               on each tuned model).
// Train and test come from one hash-ranked split per class (`trainTestSplit`), so scenarios built from the same
// dataset and split settings share their training set exactly (same fingerprint): a method trained for the
// generic scenario is the one the corruption scenarios test, and the cache trains it once.
import { createHash } from 'node:crypto';
import { datasetView, seededClassOrder } from '../data/assemble.ts';
import type { Dataset } from '../data/dataset.ts';
import { corruptedDataset, type CorruptionSpec } from '../data/corrupted.ts';
import { longTailDataset } from '../data/long-tail.ts';
import type { ResNetModel } from '../model/resnet/index.ts';
import type { CNNBackbone } from '../model/index.ts';
import { adversarialDataset, checkPGD, type AdversarialImages, type PGDSpec } from './adversarial.ts';

export type ScenarioKind = 'generic' | 'imbalance' | 'corruption' | 'ood' | 'adversarial';

export interface Scenario {
  name: string;
  kind: ScenarioKind;
  description: string;
  classNames: string[];
  train: Dataset;
  test: Dataset;
  /** What defines the scenario beyond its datasets (imbalance ratio, corruption and severity…), for tables. */
  settings: Record<string, string | number>;
  /** Training images per class, in label order. */
  trainCounts: number[];
  /** sha256 of the kind, the settings and both views' fingerprints. */
  fingerprint: string;
}

export interface SplitOptions {
  /** Test images per class, taken first from each class's hash ranking. */
  testPerClass: number;
  /** Training images per class, from the rest (default: all of the rest). */
  trainPerClass?: number;
  /** Seed of the ranking (default 0). */
  seed?: number;
}

const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

function countsOf(ds: Dataset): number[] {
  const counts = new Array<number>(ds.classNames.length).fill(0);
  for (const l of ds.rows.getChild('label')!.toArray() as Int32Array) counts[l]++;
  return counts;
}

/** Disjoint training and test views of a single-label dataset, per class, by a seeded hash of each image's source. */
export function trainTestSplit(ds: Dataset, opts: SplitOptions): { train: Dataset; test: Dataset } {
  if (ds.multiLabel) throw new Error(`trainTestSplit: "${ds.name}" is multi-label; scenarios are single-label`);
  const seed = opts.seed ?? 0;
  const { testPerClass, trainPerClass } = opts;
  if (!(Number.isInteger(testPerClass) && testPerClass >= 1)) throw new Error(`trainTestSplit: testPerClass must be a positive integer, got ${testPerClass}`);
  if (trainPerClass !== undefined && !(Number.isInteger(trainPerClass) && trainPerClass >= 1)) throw new Error(`trainTestSplit: trainPerClass must be a positive integer, got ${trainPerClass}`);
  const train: number[] = [], test: number[] = [];
  seededClassOrder(ds, 'scenario-split', seed).forEach((g, c) => {
    const need = testPerClass + (trainPerClass ?? 1);
    if (g.length < need) throw new Error(`trainTestSplit(${ds.name}): class ${c} ("${ds.classNames[c]}") has ${g.length} images, fewer than ${testPerClass} to test plus ${trainPerClass ?? 1} to train`);
    test.push(...g.slice(0, testPerClass));
    train.push(...g.slice(testPerClass, trainPerClass === undefined ? undefined : testPerClass + trainPerClass));
  });
  train.sort((a, b) => a - b);
  test.sort((a, b) => a - b);
  const base = { parent: ds.fingerprint, testPerClass, trainPerClass: trainPerClass ?? 'rest', seed };
  return {
    train: datasetView(ds, train, `${ds.name}-train`, sha({ view: 'scenario-train', ...base })),
    test: datasetView(ds, test, `${ds.name}-test`, sha({ view: 'scenario-test', ...base })),
  };
}

function scenario(kind: ScenarioKind, name: string, description: string, train: Dataset, test: Dataset, settings: Record<string, string | number>): Scenario {
  if (train.classNames.join('\n') !== test.classNames.join('\n')) {
    throw new Error(`scenario "${name}": training classes (${train.classNames.join(', ')}) and test classes (${test.classNames.join(', ')}) differ`);
  }
  return {
    name, kind, description, classNames: train.classNames, train, test, settings, trainCounts: countsOf(train),
    fingerprint: sha({ scenario: kind, settings, train: train.fingerprint, test: test.fingerprint }),
  };
}

/** Balanced training set, clean disjoint test set. */
export function genericScenario(ds: Dataset, opts: SplitOptions): Scenario {
  const { train, test } = trainTestSplit(ds, opts);
  return scenario('generic', ds.name, `${ds.name}: ${countsOf(train)[0]} training images per class, ${opts.testPerClass} test images per class`, train, test, {});
}

/** A long-tailed training set (class 0 keeps nMax, the last nMax/ratio) and a balanced test set. */
export function imbalanceScenario(ds: Dataset, opts: { nMax: number; ratio: number; testPerClass: number; seed?: number }): Scenario {
  const { train, test } = trainTestSplit(ds, { testPerClass: opts.testPerClass, seed: opts.seed });
  const tail = longTailDataset(train, { nMax: opts.nMax, ratio: opts.ratio, seed: opts.seed });
  const counts = countsOf(tail);
  return scenario('imbalance', `${ds.name} long-tailed ρ=${opts.ratio}`,
    `${ds.name}: long-tailed training set, imbalance ratio ${opts.ratio} (${counts.join(', ')} images per class), balanced test set of ${opts.testPerClass} per class`,
    tail, test, { ratio: opts.ratio, nMax: opts.nMax });
}

/**
 * The generic scenario's training set; its test set corrupted as CIFAR-10-C at one severity. `seed` picks the
 * split (so the training view is the generic scenario's with the same seed) and seeds the noise.
 */
export function corruptionScenario(ds: Dataset, opts: SplitOptions & CorruptionSpec): Scenario {
  const { train, test } = trainTestSplit(ds, opts);
  const spec = { corruption: opts.corruption, severity: opts.severity, seed: opts.seed ?? 0 };
  return scenario('corruption', `${ds.name}-C ${opts.corruption} ${opts.severity}`,
    `${ds.name}: clean training set, test set with ${opts.corruption} at severity ${opts.severity} (CIFAR-10-C's definition)`,
    train, corruptedDataset(test, spec), { corruption: opts.corruption, severity: opts.severity });
}

/**
 * Out of distribution: trained on `ds`'s training split, tested on its test split shifted by `shift` (a
 * corruption, or any function from the clean test view to a dataset with the same classes).
 */
export function outOfDistributionScenario(ds: Dataset, opts: SplitOptions & { shift: CorruptionSpec | { name: string; apply: (test: Dataset) => Dataset } }): Scenario {
  const { train, test } = trainTestSplit(ds, opts);
  const shift = opts.shift;
  const shifted = 'apply' in shift ? shift.apply(test) : corruptedDataset(test, shift);
  const shiftName = 'apply' in shift ? shift.name : `${shift.corruption} ${shift.severity}`;
  return scenario('ood', `${ds.name} → ${shiftName}`, `trained on clean ${ds.name}, tested on ${ds.name} shifted by ${shiftName}`, train, shifted, { shift: shiftName });
}

/**
 * The generic scenario's training set; its test set perturbed by L∞ PGD against `source` (a CIFAR ResNet with
 * its own head, e.g. resnet-cifar10) and quantised to uint8: a transfer attack every method is tested on.
 * `seed` picks the split, as for the other scenarios; `attack.seed` seeds PGD's random start. Computes (or
 * reads from the cache) the attack, so it is async.
 */
export async function adversarialScenario(
  ds: Dataset, source: ResNetModel | CNNBackbone, opts: SplitOptions & { attack?: PGDSpec },
): Promise<Scenario & { attack: AdversarialImages }> {
  const spec = checkPGD(opts.attack ?? {});
  const { train, test } = trainTestSplit(ds, opts);
  const { dataset, attack } = await adversarialDataset(source, test, spec);
  const eps = `${+(spec.epsilon * 255).toFixed(2)}/255`;
  const sourceName = 'resnet' in source ? source.resnet.id : source.id;
  const s = scenario('adversarial', `${ds.name} PGD ε=${eps}`,
    `${ds.name}: clean training set, test set perturbed by L∞ PGD (ε = ${eps}, ${spec.steps} steps of ${+(spec.stepSize * 255).toFixed(2)}/255, random start) against ${sourceName} with its own head — a transfer attack (source top-1 ${(100 * attack.sourceTop1Clean).toFixed(1)} % clean, ${(100 * attack.sourceTop1Adversarial).toFixed(1)} % attacked)`,
    train, dataset, { epsilon: eps, steps: spec.steps, source: sourceName });
  return { ...s, attack };
}
