// Shared set-up for the prompt-learner mechanics tests: the tiny fixture CLIP, MNIST from ../shared, and a
// private cache with a stage-record log. (learning.test.ts uses the pretrained mini-CLIP and bundled data.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadIdx } from '../../cells/data/load-idx.ts';
import type { Dataset } from '../../cells/data/dataset.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { type CellContext, type StageRecord } from '../../cells/exec/types.ts';
import { load, backboneOf, type PromptBackbone } from '../../cells/model/index.ts';
import type { TaskSource } from '../../cells/prompts/task.ts';
import { sharedPath } from '../support/shared.ts';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const FIXTURE = join(SHARED, 'clip/fixture-tiny');
export const MNIST_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

export function fixtureModel(): Promise<PromptBackbone> {
  // sharedPath: without ../shared the test fails saying what is missing, not with a model-loading error.
  return load(sharedPath('clip/fixture-tiny'), { id: 'fixture-tiny' }).then(backboneOf);
}

let testSet: Promise<Dataset> | undefined;
const mnist = (kind: 'train' | 't10k') => loadIdx({
  images: sharedPath(`datasets/mnist/${kind}-images-idx3-ubyte.gz`),
  labels: sharedPath(`datasets/mnist/${kind}-labels-idx1-ubyte.gz`),
  classNames: MNIST_NAMES, name: 'mnist', split: kind === 't10k' ? 'test' : 'train',
});

/** The 10k MNIST test file only, split by a per-class hold-out (fast to load: for mechanics tests). */
export async function mnistSmall(): Promise<TaskSource> {
  testSet ??= mnist('t10k');
  return { name: 'mnist-small', classNames: MNIST_NAMES, train: await testSet };
}

export interface TestCell {
  ctx: CellContext;
  records: StageRecord[];
  progress: { fraction: number; message?: string }[];
  cacheDir: string;
  run<T>(fn: () => Promise<T>): Promise<T>;
}

export function testCell(cacheDir = mkdtempSync(join(tmpdir(), 'prompts-test-')), signal = new AbortController().signal): TestCell {
  const records: StageRecord[] = [];
  const progress: { fraction: number; message?: string }[] = [];
  const cache = new Cache(cacheDir);
  cache.onWarning = () => undefined;
  const ctx: CellContext = {
    cache, signal,
    progress: (u) => progress.push(u),
    log: () => undefined,
    record: (r) => records.push(r),
  };
  return { ctx, records, progress, cacheDir, run: (fn) => runWithContext(ctx, fn) };
}
