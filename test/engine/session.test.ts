import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stage } from '../../cells/exec/stage.ts';
import { type StageContext } from '../../cells/exec/types.ts';
import { jsonCodec } from '../../cells/exec/codecs.ts';
import { NotebookError } from '../../cells/engine/compile.ts';
import { notebookOf, startSession, runs } from './helpers.ts';

// a ← b ← d, a ← c, e independent, f ← (d, e)
const GRAPH = notebookOf([
  [1, 'const a = 1;'],
  [2, 'const b = a + 1;'],
  [3, 'const c = a * 10;'],
  [4, 'const d = b * 2;'],
  [5, 'const e = 100;'],
  [6, 'const f = d + e;'],
]);

test('editing a cell re-runs exactly its transitive dependents', async () => {
  const { session } = await startSession(GRAPH);
  assert.deepEqual(runs(session), { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1 });
  assert.equal(await session.value('f'), 104);

  session.setCell(2, 'const b = a + 2;');
  await session.idle();
  assert.deepEqual(runs(session), { 1: 1, 2: 2, 3: 1, 4: 2, 5: 1, 6: 2 }, 'b, d, f re-ran; a, c, e did not');
  assert.equal(await session.value('f'), 106);

  session.setCell(5, 'const e = 1;');
  await session.idle();
  assert.deepEqual(runs(session), { 1: 1, 2: 2, 3: 1, 4: 2, 5: 2, 6: 3 });

  session.setCell(1, 'const a = 0;');
  await session.idle();
  assert.deepEqual(runs(session), { 1: 2, 2: 3, 3: 2, 4: 3, 5: 2, 6: 4 });
  assert.equal(await session.value('c'), 0);
  session.dispose();
});

test('an input change re-runs only downstream cells; unchanged values re-run nothing', async () => {
  const { session } = await startSession(notebookOf([
    [1, 'const k = view(Inputs.range([1, 16], {value: 4, step: 1}));'],
    [2, 'const other = 5;'],
    [3, 'const doubled = k * 2;'],
    [4, 'const mixed = other + 1;'],
  ]));
  assert.deepEqual(session.inputs().map((i) => [i.name, i.spec.kind, i.spec.value]), [['k', 'range', 4]]);
  session.setInput('k', 8);
  await session.idle();
  assert.deepEqual(runs(session), { 1: 2, 2: 1, 3: 2, 4: 1 });
  assert.equal(await session.value('doubled'), 16);
  session.setInput('k', 8);
  await session.idle();
  assert.deepEqual(runs(session), { 1: 2, 2: 1, 3: 2, 4: 1 }, 'same value: nothing re-runs');
  assert.throws(() => session.setInput('k', 99), /above the maximum 16/);
  assert.throws(() => session.setInput('nope', 1), /no input named "nope" \(inputs: k\)/);
  session.dispose();
});

test('an invalid edit is rejected and leaves the running notebook untouched', async () => {
  const { session } = await startSession(GRAPH);
  assert.throws(() => session.setCell(2, 'const b = zzz;'), (e: NotebookError) => e.cellId === 2 && /"zzz" is not defined/.test(e.message));
  assert.throws(() => session.setCell(1, 'const a = f;'), /circular definition/);
  await session.idle();
  assert.equal(await session.value('f'), 104);
  assert.deepEqual(runs(session), { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1 });
  session.dispose();
});

test('a runtime error names the cell and its line; dependents say which upstream cell failed', async () => {
  const { session } = await startSession(notebookOf([
    [1, 'const a = 1;'],
    [2, 'const b = (() => {\n  const z = a;\n  throw new Error("boom " + z);\n})();'],
    [3, 'const c = b + 1;'],
  ]));
  const [, b, c] = session.states();
  assert.equal(b.status, 'error');
  assert.match(b.error!.message, /^cell 2, line 10: boom 1$/);
  assert.equal(b.error!.line, 10);
  assert.equal(c.status, 'error');
  assert.match(c.error!.message, /upstream cell 2 failed/);
  session.dispose();
});

function slowStage(log: string[]) {
  return (n: number) =>
    stage({ name: 'slow', version: 1, params: { n } }, jsonCodec<number>(), async (ctx: StageContext) => {
      for (let i = 0; i < 200; i++) {
        ctx.signal.throwIfAborted();
        ctx.progress(i / 200, `step ${i}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      log.push(`done ${n}`);
      return n * n;
    });
}

test('cancel aborts a running stage through its AbortSignal and stores nothing', async () => {
  const log: string[] = [];
  const { session, cache } = await startSession(notebookOf([[1, 'const n = 3;'], [2, 'const sq = slow(n);'], [3, 'const after = sq + 1;']]), { slow: slowStage(log) }).then(async (r) => r);
  // startSession waited for idle, so run the cell again and cancel it mid-way.
  session.setCell(1, 'const n = 4;');
  await new Promise((r) => setTimeout(r, 150));
  const running = session.state(2);
  assert.equal(running.status, 'running');
  assert.ok(running.progress && running.progress.fraction > 0 && running.progress.fraction < 1, 'progress is reported');
  assert.ok(session.cancel(2));
  await session.idle();
  assert.equal(session.state(2).status, 'cancelled');
  assert.equal(session.state(3).status, 'cancelled');
  assert.deepEqual(log, ['done 3'], 'the cancelled computation never finished');
  const keys = (await cache.list()).map((e) => e.stage);
  assert.deepEqual(keys, ['slow'], 'only the finished run is in the cache');
  // Nothing half-written is left in the cache's staging area.
  const tmp = await readdir(join(cache.root, 'v1', 'tmp')).catch(() => []);
  assert.deepEqual(tmp, []);
  session.dispose();
});

test('redefining a cell while it runs aborts the old computation', async () => {
  const log: string[] = [];
  const { session } = await startSession(notebookOf([[1, 'const n = 3;'], [2, 'const sq = slow(n);']]), { slow: slowStage(log) });
  session.setCell(1, 'const n = 5;');
  await new Promise((r) => setTimeout(r, 100));
  session.setCell(1, 'const n = 6;');
  await session.idle();
  assert.deepEqual(log, ['done 3', 'done 6']);
  assert.equal(await session.value('sq'), 36);
  assert.equal(session.state(2).status, 'fresh');
  session.dispose();
});

test('cells report cache hits as "cached" and display() values are collected', async () => {
  const log: string[] = [];
  const html = notebookOf([[1, 'const sq = slow(2);'], [2, 'display(sq); display("x");']]);
  const first = await startSession(html, { slow: slowStage(log) });
  assert.equal(first.session.state(1).status, 'fresh');
  assert.deepEqual(first.session.state(2).displayed, [4, 'x']);
  first.session.dispose();
  const second = await startSession(html, { slow: slowStage(log) }, first.cache);
  assert.equal(second.session.state(1).status, 'cached');
  assert.equal(second.session.state(1).hits, 1);
  assert.deepEqual(log, ['done 2']);
  second.session.dispose();
});
