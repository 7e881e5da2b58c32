// Pretraining reads full datasets the product does not ship: where it looks ($PROMPTSCOPE_DATASETS, else
// ../shared/datasets), the error a user gets when they are not there, and the notebooks' optional reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDatasetsRoot, loadCifarTrain, loadMnistTest } from '../../cells/model/pretrain/data.ts';
import { cifar10Train } from '../../cells/library.ts';

const SHARED = fileURLToPath(new URL('../../../shared/datasets', import.meta.url));

test('PROMPTSCOPE_DATASETS chooses the folder; a missing set is an error naming the file and the variable', async (t) => {
  const before = process.env.PROMPTSCOPE_DATASETS;
  t.after(() => { if (before === undefined) delete process.env.PROMPTSCOPE_DATASETS; else process.env.PROMPTSCOPE_DATASETS = before; });
  delete process.env.PROMPTSCOPE_DATASETS;
  assert.equal(defaultDatasetsRoot().replace(/\/$/, ''), SHARED, 'the build machine\'s layout by default');
  const empty = mkdtempSync(join(tmpdir(), 'ps-datasets-'));
  process.env.PROMPTSCOPE_DATASETS = empty;
  assert.equal(defaultDatasetsRoot(), empty);
  await assert.rejects(loadCifarTrain(), (e: Error) =>
    e.message.startsWith(`${join(empty, 'cifar10/train.tar')} not found`) && /set PROMPTSCOPE_DATASETS/.test(e.message));
  assert.equal(await cifar10Train(), null, "TaI-DPT's notebook gets null (and leaves the image-trained rows out), not a crash");
  process.env.PROMPTSCOPE_DATASETS = SHARED;
  const mnist = await loadMnistTest();
  assert.equal(mnist.rows.numRows, 10000, 'the real MNIST test set through the variable');
});
