// A chart's --out files (cli/chart-files.ts) come from the cache on a second draw, byte for byte what the
// renderers draw, and only for a spec that vega would receive identically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import { renderSvg, svgToPng, vegaLite } from '../../cells/plots/vegalite.ts';
import { chartFiles, exactJson } from '../../cli/chart-files.ts';
import { tempDir } from '../engine/helpers.ts';

test('exactJson keeps apart what JSON.stringify merges, and refuses what is not plain data', () => {
  assert.notEqual(exactJson({ a: 1, b: 2 }), exactJson({ b: 2, a: 1 }), 'key order');
  assert.notEqual(exactJson({ a: undefined }), exactJson({}), 'an undefined property');
  assert.notEqual(exactJson([undefined]), exactJson([null]));
  assert.notEqual(exactJson({ x: -0 }), exactJson({ x: 0 }));
  assert.notEqual(exactJson({ x: NaN }), exactJson({ x: null }));
  assert.notEqual(exactJson({ x: Infinity }), exactJson({ x: -Infinity }));
  assert.equal(exactJson({ data: { values: [{ k: 'a', v: 1.5 }] }, mark: 'bar' }), '{"data":{"values":[{"k":"a","v":1.5}]},"mark":"bar"}');
  assert.equal(exactJson({ values: [new Date(0)] }), undefined);
  assert.equal(exactJson({ values: new Float32Array(2) }), undefined);
  assert.equal(exactJson({ values: [new (class Row { v = 1; })()] }), undefined);
  assert.equal(exactJson({ f: () => 1 }), undefined);
});

test('a chart drawn once is read back from the cache, identical to what the renderers draw', async () => {
  const cache = new Cache(join(await tempDir('ps-chart-files-'), 'cache'));
  const chart = vegaLite({ data: { values: [{ k: 'a', v: 1 }, { k: 'b', v: 3 }] }, mark: 'bar', encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative' } } });
  const svg = await renderSvg(chart);
  const png = svgToPng(svg);

  const first = await chartFiles(chart, cache);
  assert.equal(first.svg, svg);
  assert.deepEqual(Buffer.from(first.png), Buffer.from(png));
  const entries = (await cache.list()).filter((e) => e.stage === 'chart-files');
  assert.equal(entries.length, 1, 'stored once');
  const used = join(cache.entryDir(entries[0].key), '.used');
  assert.equal(existsSync(used), false, 'not yet read from the cache');

  const again = await chartFiles(vegaLite(JSON.parse(JSON.stringify(chart.spec))), cache);
  assert.ok(existsSync(used), 'the second draw was a cache hit');
  assert.equal(again.svg, svg);
  assert.deepEqual(Buffer.from(again.png), Buffer.from(png));

  // Another spec is another entry; a spec with a Date is drawn and not stored.
  await chartFiles(vegaLite({ ...chart.spec, mark: 'point' }), cache);
  await chartFiles(vegaLite({ ...chart.spec, data: { values: [{ k: 'a', v: 1, t: new Date(0) }] } }), cache);
  assert.equal((await cache.list()).filter((e) => e.stage === 'chart-files').length, 2);
});
