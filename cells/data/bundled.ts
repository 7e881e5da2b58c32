// The small real datasets shipped in data/datasets/ (see data/README.md), so a fresh clone works offline.
// Class names are chosen to read well in "a photo of a {}".

import { fileURLToPath } from 'node:url';
import type { Dataset, LoadOptions } from './dataset.ts';
import { loadImageFolder } from './load-folder.ts';
import { loadIdx } from './load-idx.ts';
import { loadManifest, readClassNamesCsv } from './load-manifest.ts';

export type BundledName = 'cifar10' | 'mnist' | 'fashion-mnist' | 'gtsrb';
export const BUNDLED_NAMES: readonly BundledName[] = ['cifar10', 'mnist', 'fashion-mnist', 'gtsrb'];

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** Spelled out: "a photo of a seven" reads as English, and WordNet knows the words (caption lexicon). */
export const MNIST_CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
/** Fashion-MNIST's own label names, lower-cased except the proper "T-shirt". */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

/** Absolute path of a file in data/datasets/, resolved relative to this package. */
export function bundledPath(file: string): string {
  return fileURLToPath(new URL(`../../data/datasets/${file}`, import.meta.url));
}

/** GTSRB's 43 sign names (from classes.csv, e.g. "Speed limit (20km/h)", "Stop"). */
export function gtsrbClassNames(): string[] {
  return readClassNamesCsv(bundledPath('gtsrb-classes.csv'));
}

/** The files a bundled dataset is read from (their content feeds cache keys). */
export function bundledFiles(name: BundledName): string[] {
  switch (name) {
    case 'cifar10':
      return [bundledPath('cifar10-test.tar')];
    case 'mnist':
    case 'fashion-mnist':
      return [bundledPath(`${name}-test-images-idx3-ubyte.gz`), bundledPath(`${name}-test-labels-idx1-ubyte.gz`)];
    case 'gtsrb':
      return [bundledPath('gtsrb-test.tar.gz'), bundledPath('gtsrb-classes.csv')];
  }
}

/**
 * Loads a bundled subset. Only test-set subsets are shipped (`split` 'test'); use holdOutPool / fewShotSplit
 * to carve a few-shot pool and an evaluation split from them.
 */
export async function bundledDataset(name: BundledName, split = 'test', opts: Omit<LoadOptions, 'split'> = {}): Promise<Dataset> {
  if (split !== 'test') throw new Error(`bundled dataset "${name}": only the 'test' split is shipped (got '${split}'); the full sets are in ../shared/datasets`);
  if (!BUNDLED_NAMES.includes(name)) throw new Error(`no bundled dataset "${name}" (available: ${BUNDLED_NAMES.join(', ')})`);
  const common = { ...opts, split, name: opts.name ?? name };
  switch (name) {
    case 'cifar10':
      return loadImageFolder(bundledPath('cifar10-test.tar'), { ...common, classes: CIFAR10_CLASSES });
    case 'mnist':
    case 'fashion-mnist': {
      const [images, labels] = bundledFiles(name);
      return loadIdx({ ...common, images, labels, classNames: name === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES });
    }
    case 'gtsrb':
      return loadManifest({
        ...common,
        manifest: 'GTSRB/Final_Test/Images/GT-final_test.csv',
        root: bundledPath('gtsrb-test.tar.gz'),
        pathColumn: 'Filename',
        labelColumn: 'ClassId',
        delimiter: ';',
        classNames: gtsrbClassNames(),
      });
  }
}
