// How cell values are turned into what the browser is sent: charts as specs (Arrow data inlined as rows),
// tables as paged handles, metrics, inline images only, and bounded JSON for anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromArrays } from 'apache-arrow';
import { outputView, TableRegistry, toJsonSafe } from '../../desktop/kernel/output-views.ts';

test('an Arrow table becomes a handle with columns; rows come in windows; re-running the cell drops it', () => {
  const reg = new TableRegistry();
  const t = tableFromArrays({ id: Int32Array.from([1, 2, 3]), big: BigInt64Array.from([1n, 2n, 2n ** 60n]), name: ['a', 'b', 'c'] });
  const o = outputView(t, 7, reg, 'rows');
  assert.equal(o.kind, 'table');
  if (o.kind !== 'table') return;
  assert.equal(o.label, 'rows');
  assert.equal(o.numRows, 3);
  assert.deepEqual(o.columns.map((c) => c.name), ['id', 'big', 'name']);
  assert.deepEqual(reg.get(o.handle)!.rows(1, 10), [[2, 2, 'b'], [3, (2n ** 60n).toString(), 'c']]);
  reg.dropCell(7);
  assert.equal(reg.get(o.handle), undefined);
});

test('a Vega-Lite value keeps its spec and inlines Arrow data as rows', () => {
  const data = tableFromArrays({ x: Float64Array.from([1, 2]), y: Float64Array.from([3, 4]) });
  const o = outputView({ kind: 'vega-lite', spec: { mark: 'point', data: { values: data } } }, 1, new TableRegistry());
  assert.deepEqual(o, { kind: 'vega-lite', spec: { mark: 'point', data: { values: [{ x: 1, y: 3 }, { x: 2, y: 4 }] } } });
});

test('markdown, metrics, images and long arrays of rows', () => {
  const reg = new TableRegistry();
  assert.deepEqual(outputView({ kind: 'markdown', text: '# hi' }, 1, reg), { kind: 'markdown', text: '# hi' });
  assert.deepEqual(outputView({ accuracy: 0.91, task: 'mnist' }, 1, reg), { kind: 'metrics', values: { accuracy: 0.91, task: 'mnist' } });
  const png = new Uint8Array([137, 80, 78, 71]);
  const imgs = outputView({ kind: 'images', items: [{ png, label: 'cat' }, { src: 'https://example.com/x.png' }] }, 1, reg);
  assert.equal(imgs.kind, 'images');
  if (imgs.kind === 'images') {
    assert.equal(imgs.items.length, 1, 'remote images are dropped: the UI loads no remote content');
    assert.equal(imgs.items[0].src, `data:image/png;base64,${Buffer.from(png).toString('base64')}`);
  }
  const rows = Array.from({ length: 50 }, (_, i) => ({ i, sq: i * i }));
  const t = outputView(rows, 2, reg);
  assert.equal(t.kind, 'table');
  if (t.kind === 'table') assert.deepEqual(reg.get(t.handle)!.rows(49, 5), [[49, 2401]]);
});

test('toJsonSafe bounds size and describes what JSON cannot hold', () => {
  const cyclic: Record<string, unknown> = { n: 1n, f() {}, nan: NaN, when: new Date(0), arr: new Float32Array(1000) };
  cyclic.self = cyclic;
  const j = toJsonSafe(cyclic) as Record<string, { $type: string; text?: string }>;
  assert.equal(j.n.$type, 'bigint');
  assert.equal(j.f.$type, 'function');
  assert.equal(j.nan.text, 'NaN');
  assert.equal(j.when.text, '1970-01-01T00:00:00.000Z');
  assert.match(j.arr.text!, /^Float32Array\(1000\)/);
  assert.equal(j.self.$type, 'circular');
  const long = toJsonSafe(Array.from({ length: 1000 }, (_, i) => i)) as unknown[];
  assert.equal(long.length, 101);
  assert.ok(JSON.stringify(toJsonSafe({ deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } })).includes('"$type":"more"'));
});

test('a typed array is summarised from its first six elements, never copied whole (a dataset\'s pixels)', () => {
  // Iterating it throws: Array.from over the whole array (what the views did before) fails here.
  class Pixels extends Uint8Array {
    *[Symbol.iterator](): ArrayIterator<number> {
      throw new Error('the whole array was iterated');
    }
  }
  const pixels = new Pixels(3 * 1024 * 1024).fill(7);
  pixels[0] = 255;
  const j = toJsonSafe({ images: { data: pixels }, w: Float32Array.from([0.5, 1, 2.25]), view: new DataView(new ArrayBuffer(8)) }) as Record<string, { $type: string; text?: string; data?: { text: string } }>;
  assert.equal((j.images as unknown as { data: { text: string } }).data.text, 'Pixels(3145728) [255, 7, 7, 7, 7, 7, … ×3145728]');
  assert.equal(j.w.text, 'Float32Array(3) [0.5000, 1, 2.250]');
  assert.equal(j.view.text, 'DataView(8) []');
});

test('a dataset becomes a sample grid (one per class first) plus its paged rows', async () => {
  const { testBuiltins } = await import('./builtins.ts');
  const ds = (testBuiltins.demoDataset as () => unknown)();
  const reg = new TableRegistry();
  const o = outputView(ds, 3, reg, 'colours');
  assert.equal(o.kind, 'dataset');
  if (o.kind !== 'dataset') return;
  assert.equal(o.images, 30);
  assert.equal(o.classes, 3);
  assert.equal(o.samples.length, 24);
  assert.deepEqual(o.samples.slice(0, 4).map((s) => s.label), ['red', 'green', 'blue', 'red']);
  assert.match(o.samples[0].src, /^data:image\/png;base64,iVBORw0KGgo/);
  assert.deepEqual(reg.get(o.table.handle)!.rows(29, 5), [[29, 2, 'blue']]);
});

test('short arrays of records become tables too; arrays of nested objects stay JSON', () => {
  const reg = new TableRegistry();
  assert.equal(outputView([{ a: 1, b: 'x' }, { a: 2, b: 'y' }], 1, reg).kind, 'table');
  assert.equal(outputView([{ a: { deep: 1 } }, { a: { deep: 2 } }], 1, reg).kind, 'json');
});

test('thumbnails shrink large images with a box filter and keep small ones', async () => {
  const { thumbnail } = await import('../../desktop/kernel/thumbnails.ts');
  const big = { width: 400, height: 200, channels: 1, data: new Uint8Array(400 * 200).fill(200) };
  const t = thumbnail(big, 96);
  assert.deepEqual([t.width, t.height], [96, 48]);
  assert.deepEqual([...t.rgba.slice(0, 4)], [200, 200, 200, 255]);
  const small = thumbnail({ width: 8, height: 4, channels: 3, data: new Uint8Array(96).fill(7) }, 96);
  assert.deepEqual([small.width, small.height], [8, 4]);
});
