// Tasks: the default suite (≥ 8 tasks, near and far domains) built from the bundled data, class subsets
// and groupings with the right images, disjoint pool/evaluation splits, and fingerprints that change
// exactly when the experiment does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundledDataset } from '../../cells/data/bundled.ts';
import { DEFAULT_TASK_NAMES, defaultTaskSuite, groupView, makeTask, selectTasks, taskSource, taskTable } from '../../cells/studies/tasks.ts';
import { studyCell } from './helpers.ts';

const ids = (t: { rows: { getChild(n: string): { toArray(): unknown } | null } }) => Array.from(t.rows.getChild('id')!.toArray() as Int32Array);
const col = <T>(t: { rows: { getChild(n: string): { toArray(): unknown } | null } }, c: string) => Array.from(t.rows.getChild(c)!.toArray() as ArrayLike<T>);

test('default suite: 8 tasks over 4 bundled datasets, unique fingerprints, disjoint pool and evaluation', async () => {
  const cell = studyCell();
  const suite = await cell.run(() => defaultTaskSuite());
  assert.ok(suite.length >= 8);
  assert.deepEqual(suite.map((t) => t.name), [...DEFAULT_TASK_NAMES]);
  assert.equal(new Set(suite.map((t) => t.fingerprint)).size, suite.length);
  assert.ok(new Set(suite.map((t) => t.domain)).size >= 4, 'near and far domains');
  for (const t of suite) {
    const pool = ids(t.pool), ev = ids(t.eval);
    const inPool = new Set(pool);
    assert.ok(ev.every((id) => !inPool.has(id)), `${t.name}: pool and evaluation overlap`);
    assert.equal(pool.length + ev.length, t.dataset.rows.numRows);
    const perClass = new Array<number>(t.classNames.length).fill(0);
    for (const l of col<number>(t.pool, 'label')) perClass[l]++;
    assert.ok(perClass.every((n) => n === t.poolPerClass), `${t.name}: pool per class ${perClass}`);
    const src = taskSource(t);
    assert.equal(src.train, t.pool);
    assert.equal(src.test, t.eval);
  }
  const byName = new Map(suite.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('CIFAR-10 vehicles')!.classNames, ['airplane', 'automobile', 'ship', 'truck']);
  assert.equal(byName.get('GTSRB')!.classNames.length, 43);
  const speed = byName.get('GTSRB speed limits')!;
  assert.equal(speed.classNames.length, 8);
  assert.ok(speed.classNames.every((n) => /^Speed limit \(\d+km\/h\)$/.test(n)), speed.classNames.join('; '));
  assert.equal(taskTable(suite).numRows, suite.length);
  assert.deepEqual(selectTasks(suite, ['MNIST', 'GTSRB']).map((t) => t.name), ['MNIST', 'GTSRB']);
  assert.throws(() => selectTasks(suite, ['ImageNet']), /no task "ImageNet"/);
});

test('groupings relabel the right images; fingerprints follow the experiment, not the call', async () => {
  const fashion = await bundledDataset('fashion-mnist');
  const groups = { footwear: ['sandal', 'sneaker', 'ankle boot'], clothing: ['T-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'shirt'] };
  const view = groupView(fashion, groups, 'footwear vs clothing');
  assert.deepEqual(view.classNames, ['footwear', 'clothing']);
  const parentClass = new Map(ids(fashion).map((id, p) => [id, col<string>(fashion, 'className')[p]]));
  const labels = col<number>(view, 'label');
  ids(view).forEach((id, p) => {
    const parent = parentClass.get(id)!;
    assert.equal(labels[p], groups.footwear.includes(parent) ? 0 : 1, `${parent} went to ${view.classNames[labels[p]]}`);
  });
  assert.ok(ids(view).every((id) => parentClass.get(id) !== 'bag'), 'bag is in no group and is dropped');
  assert.throws(() => groupView(fashion, { a: ['sandal'], b: ['sandal'] }, 'x'), /in two groups/);
  assert.throws(() => groupView(fashion, { a: ['sandal'], b: ['hat'] }, 'x'), /"hat" is not in dataset/);

  // A user task from any dataset: same recipe → same fingerprint; another pool size → another one.
  const mnist = await bundledDataset('mnist');
  const a = makeTask(mnist, { name: 'digits 0-4', classes: [0, 1, 2, 3, 4] });
  const b = makeTask(mnist, { name: 'digits 0-4', classes: [0, 1, 2, 3, 4] });
  const c = makeTask(mnist, { name: 'digits 0-4', classes: [0, 1, 2, 3, 4], poolPerClass: 6 });
  assert.equal(a.fingerprint, b.fingerprint);
  assert.notEqual(a.fingerprint, c.fingerprint);
  assert.deepEqual(ids(a.pool), ids(b.pool));
  assert.throws(() => makeTask(mnist, { poolPerClass: 200 }), /no image left for evaluation/);
  assert.throws(() => makeTask(mnist, { splits: { pool: 'train', eval: 'test' } }), /no rows of split "train"/);
});
