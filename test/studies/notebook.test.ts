// notebooks/transferability.html runs headless end to end (the library's builtins plus the studies'
// names, as `promptscope run` will provide them) with a small selection on mini-CLIP, produces its
// heatmap, scatters, leave-one-out chart and tables, and re-runs entirely from the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Table } from 'apache-arrow';
import { Cache } from '../../cells/exec/cache.ts';
import { parseNotebook } from '../../cells/engine/notebook.ts';
import { NotebookSession } from '../../cells/engine/session.ts';
import { buildLibrary } from '../../cells/library.ts';
import { isChart } from '../../cells/plots/vegalite.ts';
import { studiesLibrary, type TransferMatrix } from '../../cells/studies/index.ts';
import { tempCacheDir } from './helpers.ts';

const PATH = fileURLToPath(new URL('../../notebooks/transferability.html', import.meta.url));

test('transferability notebook: runs on a small selection, then re-runs from the cache', async (t) => {
  const notebook = parseNotebook(readFileSync(PATH, 'utf8'), PATH);
  const cacheDir = tempCacheDir('studies-notebook-');
  const settings = { chosen: ['CIFAR-10 vehicles', 'Fashion footwear vs clothing', 'GTSRB speed limits'], epochs: 2, modelName: 'mini-clip' };
  const builtins = { ...(await buildLibrary()), ...studiesLibrary() };
  const run = async () => {
    const cache = new Cache(cacheDir);
    cache.onWarning = () => undefined;
    const session = new NotebookSession(notebook, { cache, builtins, settings });
    const t0 = Date.now();
    session.start();
    await session.idle();
    const failed = session.states().filter((c) => c.status === 'error');
    assert.deepEqual(failed.map((c) => `cell ${c.id}: ${c.error?.message}`), []);
    return { session, ms: Date.now() - t0, misses: session.stageRecords().filter((r) => !r.hit).length };
  };
  const cold = await run();
  const transfer = await cold.session.value('transfer');
  assert.ok(transfer instanceof Table);
  assert.equal(transfer.numRows, 6, '3 tasks → 6 ordered pairs');
  for (const name of ['heatmap', 'gainVsVisual', 'gainVsLabel', 'multiChart', 'jointChart']) assert.ok(isChart(await cold.session.value(name)), `${name} is not a chart`);
  // Every cell trained now (references may have been computed by the joint-tuning cell running alongside).
  const matrix = (await cold.session.value('matrix')) as TransferMatrix;
  assert.equal(matrix.cells.filter((c) => c.computed).length, 6);
  assert.equal(((await cold.session.value('multiSource')) as Table).numRows, 3, 'one multitask source prompt per target');
  assert.match(String(await cold.session.value('modelNote')), /mini-clip/);
  cold.session.dispose();
  const warm = await run();
  assert.equal(warm.misses, 0, 'a re-run computes nothing');
  assert.equal(await warm.session.value('computedNow'), 0);
  warm.session.dispose();
  t.diagnostic(`cold ${(cold.ms / 1000).toFixed(1)} s (${cold.misses} stages computed), warm ${(warm.ms / 1000).toFixed(2)} s`);
});
