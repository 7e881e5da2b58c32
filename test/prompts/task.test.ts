// Few-shot task construction: disjoint pool / test / validation, K per class, class subsets renumbered,
// and the bundled (test-only) datasets split by hold-out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promptPool, fewShotRows, bundledSource } from '../../cells/prompts/task.ts';
import { mnistSmall, testCell } from './helpers.ts';

test('hold-out pool and test subset are disjoint; K-shot train and validation rows are disjoint and balanced', async () => {
  const cell = testCell();
  const source = await mnistSmall();
  const pool = await cell.run(() => promptPool(source, { poolPerClass: 10, testPerClass: 7 }));
  assert.equal(pool.trainIds.length, 100);
  assert.equal(pool.testIds.length, 70);
  const trainSet = new Set(pool.trainIds);
  assert.ok(pool.testIds.every((id) => !trainSet.has(id)), 'no test image is in the training pool');
  const labels = source.train.rows.getChild('label')!.toArray() as Int32Array;
  pool.trainIds.forEach((id, i) => assert.equal(labels[id], pool.trainLabels[i], 'pool labels follow the dataset'));
  const split = await cell.run(() => fewShotRows(pool, 10, 4, 3));
  assert.equal(split.train.length, 40);
  assert.equal(split.val.length, 40);
  const rows = new Set(split.train);
  assert.ok(Array.from(split.val).every((r) => !rows.has(r)));
  for (let k = 0; k < 10; k++) assert.equal(Array.from(split.train).filter((r) => pool.trainLabels[r] === k).length, 4);
  const other = await cell.run(() => fewShotRows(pool, 10, 4, 4));
  assert.notDeepEqual(Array.from(other.train), Array.from(split.train), 'another seed draws other shots');
  await assert.rejects(cell.run(() => fewShotRows(pool, 10, 8, 1)), /fewer than 8 shots \+ 4 validation; raise poolPerClass/);
});

test('bundled class subset: labels renumbered in the given order', async () => {
  const cell = testCell();
  const source = await bundledSource('mnist', ['seven', 1]);
  assert.deepEqual(source.classNames, ['seven', 'one']);
  const pool = await cell.run(() => promptPool(source, { poolPerClass: 3, testPerClass: 2 }));
  const labels = source.train.rows.getChild('label')!.toArray() as Int32Array;
  pool.trainIds.forEach((id, i) => assert.equal(labels[id], [7, 1][pool.trainLabels[i]]));
  assert.deepEqual(Array.from(pool.testLabels), [0, 0, 1, 1]);
  await assert.rejects(bundledSource('mnist', ['eleven']), /no class "eleven"/);
});
