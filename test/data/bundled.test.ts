// The bundled subsets: checksums match data/README.md, every set loads with the documented counts and
// class names, and the real shared sets (GTSRB manifest in a tar, COCO-mini multi-label) load too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sharedPath } from '../support/shared.ts';
import { BUNDLED_NAMES, bundledDataset, bundledPath } from '../../cells/data/bundled.ts';
import { loadManifest, readClassNamesCsv } from '../../cells/data/load-manifest.ts';
import { loadCoco } from '../../cells/data/load-coco.ts';
import { openNodeDatabase, registerDataset } from '../../cells/data/db.ts';
import { holdOutPool, fewShotSplit, taskView } from '../../cells/data/splits.ts';

const shared = (rel: string) => sharedPath(`datasets/${rel}`);

test('bundled files match the checksums recorded in data/README.md', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../data/README.md', import.meta.url)), 'utf8');
  const rows = [...readme.matchAll(/^\| ([\w.-]+) \| (\d+) \| ([0-9a-f]{64}) \|$/gm)];
  assert.equal(rows.length, 7);
  for (const [, file, bytes, sha] of rows) {
    const data = readFileSync(bundledPath(file));
    assert.equal(data.length, Number(bytes), `${file} size`);
    assert.equal(createHash('sha256').update(data).digest('hex'), sha, `${file} sha256`);
  }
});

test('every bundled dataset loads with balanced classes and readable names', async () => {
  const expected = { cifar10: [10, 100], mnist: [10, 200], 'fashion-mnist': [10, 200], gtsrb: [43, 20] } as const;
  for (const name of BUNDLED_NAMES) {
    const ds = await bundledDataset(name);
    const [k, per] = expected[name];
    assert.equal(ds.classNames.length, k, name);
    const counts = new Array(k).fill(0);
    for (const l of ds.rows.getChild('label')!.toArray() as Int32Array) counts[l]++;
    assert.deepEqual(counts, new Array(k).fill(per), `${name}: ${per} per class`);
    assert.ok(ds.images.dense, `${name}: fixed-size images are held densely`);
    assert.equal(ds.images.get(0).width, name === 'mnist' || name === 'fashion-mnist' ? 28 : 32);
    assert.ok(ds.classNames.every((c) => c.length > 1 && !/^\d+$/.test(c)), `${name}: names read as words`);
    assert.deepEqual(ds.skipped, []);
  }
  const gtsrb = await bundledDataset('gtsrb');
  assert.equal(gtsrb.classNames[14], 'Stop');
  await assert.rejects(bundledDataset('mnist', 'train'), /only the 'test' split is shipped/);
});

test('a bundled set through SQL, the pool and a task view (the issue-11 task shape)', async () => {
  const cifar = await bundledDataset('cifar10');
  const animals = taskView(cifar, ['bird', 'cat', 'deer', 'dog', 'frog', 'horse'], 'cifar10-animals');
  const pool = holdOutPool(animals, { fraction: 0.1, seed: 0 });
  const split = fewShotSplit(animals, { shots: 4, seed: 1, pool: pool.pool });
  assert.equal(split.train.length, 24);
  assert.equal(split.eval.length, 540);
  const db = await openNodeDatabase();
  const table = await registerDataset(db, animals);
  await db.registerTable('shots', split.table);
  const counts = await db.query(`SELECT label, className, count(*) AS n FROM ${table} GROUP BY ALL ORDER BY label`);
  assert.deepEqual(counts.toArray().map((r) => r.className), animals.classNames);
  const joined = await db.query(`SELECT count(*) AS n FROM shots s JOIN ${table} r USING (id) WHERE s.label = r.label`);
  assert.equal(Number(joined.get(0)!.n), 24);
  await db.close();
});

test('real GTSRB test set: ;-separated manifest inside the tar, 43 sign names', async () => {
  const ds = await loadManifest({
    manifest: 'GTSRB/Final_Test/Images/GT-final_test.csv',
    root: shared('gtsrb/test.tar'),
    pathColumn: 'Filename',
    labelColumn: 'ClassId',
    classNames: readClassNamesCsv(shared('gtsrb/classes.csv')),
  });
  assert.equal(ds.rows.numRows, 2580);
  assert.equal(ds.classNames.length, 43);
  // first ground-truth row of the official CSV: 00000.ppm is class 16
  assert.equal(ds.rows.get(0)!.source, 'GTSRB/Final_Test/Images/00000.ppm');
  assert.equal(ds.rows.get(0)!.label, 16);
});

test('real COCO-mini: multi-label sets from instances json', async () => {
  const ds = await loadCoco(shared('coco-mini/coco-mini.tar'), 'val2017');
  assert.equal(ds.rows.numRows, 79);
  assert.equal(ds.classNames.length, 80);
  assert.equal(ds.multiLabel, true);
  const sets = ds.rows.getChild('labels')!;
  let total = 0;
  for (let i = 0; i < ds.rows.numRows; i++) total += (sets.get(i) as { length: number }).length;
  assert.ok(total / ds.rows.numRows > 1.5, 'several labels per image on average');
  assert.equal(ds.images.dense, undefined, 'variable-size images decode lazily');
  const img = ds.images.get(0);
  assert.equal(img.width, ds.rows.get(0)!.width);
  ds.images.close();
});
