// The same SQL on DuckDB node-api (Node) and duckdb-wasm (page) must give identical Arrow tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Table, tableFromArrays, tableFromJSON, makeVector, vectorFromArray, Utf8, List, Field, Int32 } from 'apache-arrow';
import { openNodeDatabase, type Database } from '../../cells/data/db.ts';
import { openWasmDatabaseInNode } from '../support/db-wasm.ts';

/** A small dataset listing and a model's predictions, with a multi-label column and a null. */
function fixtures(): { rows: Table; preds: Table } {
  const n = 60;
  const label = Int32Array.from({ length: n }, (_, i) => i % 4);
  const names = ['airplane', 'cat', 'dog', "ship's bell"];
  const rows = new Table({
    id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
    label: makeVector(label),
    className: vectorFromArray(Array.from(label, (l) => names[l]), new Utf8()),
    split: vectorFromArray(Array.from({ length: n }, (_, i) => (i < 40 ? 'train' : 'test')), new Utf8()),
    labels: vectorFromArray(Array.from({ length: n }, (_, i) => [i % 4, (i * 7) % 5]), new List(new Field('item', new Int32(), true))),
  });
  // predictions: deterministic, right ~2/3 of the time
  const pred = Int32Array.from(label, (l, i) => (i % 3 === 0 ? (l + 1) % 4 : l));
  const preds = tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i),
    pred,
    score: Float64Array.from({ length: n }, (_, i) => (i * 0.37) % 1),
  });
  return { rows, preds };
}

const QUERIES: [string, string][] = [
  ['class counts', 'SELECT label, className, count(*) AS n FROM rows GROUP BY label, className ORDER BY label'],
  ['join predictions with labels', 'SELECT r.id, r.label, p.pred, p.pred = r.label AS correct, p.score FROM rows r JOIN preds p USING (id) WHERE r.split = $1 ORDER BY r.id'],
  [
    'per-class accuracy',
    'SELECT r.className, avg(CASE WHEN p.pred = r.label THEN 1.0 ELSE 0.0 END)::DOUBLE AS accuracy, sum(CASE WHEN p.pred = r.label THEN 1 ELSE 0 END) AS correct, count(*) AS n FROM rows r JOIN preds p ON p.id = r.id GROUP BY r.className ORDER BY r.className',
  ],
  ['list column and unnest', 'SELECT id, labels, len(labels) AS k FROM rows WHERE id < 5 ORDER BY id'],
  ['overall accuracy with a parameter', 'SELECT count(*) FILTER (WHERE p.pred = r.label) AS right, round(avg((p.pred = r.label)::INT), 4) AS acc, max(p.score) AS top, NULL::INTEGER AS nothing FROM rows r JOIN preds p USING (id) WHERE r.id >= $1'],
];

function plain(table: Table): unknown {
  return {
    schema: table.schema.fields.map((f) => `${f.name}:${f.type}`),
    rows: table.toArray().map((r) => JSON.parse(JSON.stringify(r.toJSON(), (_k, v) => (typeof v === 'bigint' ? `${v}n` : ArrayBuffer.isView(v) || (v && typeof v === 'object' && typeof v.toArray === 'function') ? [...v] : v)))),
  };
}

test('DuckDB node-api and duckdb-wasm give identical results on the query set', async () => {
  const { rows, preds } = fixtures();
  const engines: [string, Database][] = [['node', await openNodeDatabase()], ['wasm', await openWasmDatabaseInNode()]];
  const results: Record<string, unknown[]> = {};
  for (const [name, db] of engines) {
    await db.registerTable('rows', rows);
    await db.registerTable('preds', preds);
    results[name] = [];
    for (const [, sql] of QUERIES) {
      const params = sql.includes('$1') ? [sql.includes('split') ? 'test' : 10] : [];
      results[name].push(plain(await db.query(sql, params)));
    }
    await db.close();
  }
  console.log(`per-class accuracy node: ${JSON.stringify(results.node[2])}\nper-class accuracy wasm: ${JSON.stringify(results.wasm[2])}`);
  QUERIES.forEach(([label], i) => assert.deepEqual(results.wasm[i], results.node[i], `${label}: wasm differs from node`));
  // and the answers are right, not merely equal
  const counts = results.node[0] as { rows: { label: number; n: string }[] };
  assert.deepEqual(counts.rows.map((r) => r.n), ['15n', '15n', '15n', '15n']);
  const acc = results.node[2] as { rows: { accuracy: number; n: string; correct: number }[] };
  const expectedCorrect = [0, 1, 2, 3].map((k) => Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 4 === k && i % 3 !== 0).length);
  assert.deepEqual(acc.rows.map((r) => r.correct).sort(), expectedCorrect.sort());
  const join = results.node[1] as { rows: unknown[] };
  assert.equal(join.rows.length, 20);
  const lists = results.node[3] as { rows: { labels: number[] }[] };
  assert.deepEqual(lists.rows[1].labels, [1, 2]);
});

test('registerTable replaces a table; bad SQL rejects with the engine message', async () => {
  const db = await openNodeDatabase();
  await db.registerTable('t', tableFromArrays({ a: Int32Array.from([1, 2, 3]) }));
  await db.registerTable('t', tableFromArrays({ a: Int32Array.from([4]) }));
  const r = await db.query('SELECT sum(a) AS s FROM t');
  assert.equal(r.get(0)!.s, 4);
  await assert.rejects(db.query('SELECT nope FROM t'), /nope/);
  await db.close();
});

test('statements issued at once on one connection (two SQL cells querying together) all succeed', async () => {
  const db = await openNodeDatabase();
  const rows = Array.from({ length: 2000 }, (_, i) => ({ i, s: `r${i}` }));
  await Promise.all(Array.from({ length: 4 }, (_, k) => db.registerTable(`t${k}`, tableFromJSON(rows))));
  const counts: Promise<Table>[] = [];
  const other: Promise<unknown>[] = [];
  for (let k = 0; k < 4; k++) {
    counts.push(db.query(`SELECT count(*) AS n FROM t${k}`));
    other.push(db.registerTable(`u${k}`, tableFromJSON(rows)), db.query(`SELECT sum(i) AS s FROM t${k} GROUP BY i % 7`));
  }
  for (const t of await Promise.all(counts)) assert.equal(Number(t.get(0)!.n), 2000);
  await Promise.all(other);
  for (let k = 0; k < 4; k++) assert.equal(Number((await db.query(`SELECT count(*) AS n FROM u${k}`)).get(0)!.n), 2000);
  // A failing statement does not block the ones queued after it.
  const [bad, good] = await Promise.allSettled([db.query('SELECT * FROM no_such_table'), db.query('SELECT 1 AS one')]);
  assert.equal(bad.status, 'rejected');
  assert.equal(good.status, 'fulfilled');
  await db.close();
});
