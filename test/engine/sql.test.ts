import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Table } from 'apache-arrow';
import { notebookDatabase } from '../../cells/engine/sql.ts';
import { sqlTableRefs } from '../../cells/engine/compile.ts';
import { openNodeDatabase } from '../../cells/data/db.ts';
import { startSession, runs } from './helpers.ts';

const NB = `<!doctype html>
<notebook>
  <title>sql</title>
  <script id="1" type="module">
    const scores = [{cls: "cat", p: 0.9}, {cls: "dog", p: 0.4}, {cls: "cat", p: 0.2}];
  </script>
  <script id="2" type="module">
    const threshold = view(Inputs.range([0, 1], {value: 0.3, step: 0.1}));
  </script>
  <script id="3" type="application/sql" output="byClass">
    SELECT cls, count(*)::INTEGER AS n FROM scores WHERE p > \${threshold} GROUP BY cls ORDER BY cls
  </script>
  <script id="4" type="module">
    const total = byClass.toArray().reduce((a, r) => a + r.n, 0);
  </script>
  <script id="5" type="module">
    const unrelated = 1;
  </script>
</notebook>`;

test('SQL cells read cell values as tables, bind interpolations as parameters and re-run reactively', async () => {
  const raw = await openNodeDatabase();
  const { session } = await startSession(NB, { db: notebookDatabase(raw) });
  const t = (await session.value('byClass')) as Table;
  assert.ok(t instanceof Table);
  assert.deepEqual(t.toArray().map((r) => [r.cls, r.n]), [['cat', 1], ['dog', 1]]);
  assert.equal(await session.value('total'), 2);
  session.setInput('threshold', 0.1);
  await session.idle();
  assert.equal(await session.value('total'), 3);
  assert.deepEqual(runs(session), { 1: 1, 2: 2, 3: 2, 4: 2, 5: 1 });
  session.dispose();
  await raw.close();
});

test('table references ignore strings, comments and interpolations', () => {
  assert.deepEqual(sqlTableRefs("SELECT * FROM a JOIN b ON a.x = b.x WHERE s = 'from c' -- join d\n AND y = ${from_e}"), ['a', 'b']);
});

test('two SQL cells reading one value at the same moment register it once (rows not doubled)', async () => {
  const raw = await openNodeDatabase();
  const db = notebookDatabase(raw);
  const rows = Array.from({ length: 500 }, (_, i) => ({ i, half: i % 2 }));
  const table = (await import('apache-arrow')).tableFromJSON(rows);
  // Both readers start before either registration finishes, as two SQL cells on one upstream value do;
  // rows as plain objects become a new Arrow table on each call, so identity alone cannot dedupe them.
  await Promise.all([db.registerValue('shared', rows), db.registerValue('shared', rows)]);
  assert.equal(Number((await db.query('SELECT count(*) AS n FROM shared')).get(0)!.n), 500);
  await Promise.all([db.registerValue('shared', table), db.registerValue('shared', table)]);
  const n = Number((await db.query('SELECT count(*) AS n FROM shared')).get(0)!.n);
  assert.equal(n, 500);
  // A new value under the same name replaces the old one, also when registered while the old is in flight.
  const next = (await import('apache-arrow')).tableFromJSON(rows.slice(0, 7));
  await Promise.all([db.registerValue('shared', table), db.registerValue('shared', next)]);
  assert.equal(Number((await db.query('SELECT count(*) AS n FROM shared')).get(0)!.n), 7);
  await raw.close();
});

test('a notebook with two SQL cells over one value sees each row once', async () => {
  const raw = await openNodeDatabase();
  const nb = `<!doctype html>
<notebook>
  <title>two readers</title>
  <script id="1" type="module">
    const pets = [{name: "a"}, {name: "b"}];
  </script>
  <script id="2" type="application/sql" output="first">
    SELECT count(*)::INTEGER AS n FROM pets
  </script>
  <script id="3" type="application/sql" output="second">
    SELECT count(*)::INTEGER AS n FROM pets
  </script>
</notebook>`;
  const { session } = await startSession(nb, { db: notebookDatabase(raw) });
  assert.equal(((await session.value('first')) as Table).get(0)!.n, 2);
  assert.equal(((await session.value('second')) as Table).get(0)!.n, 2);
  session.dispose();
  await raw.close();
});
