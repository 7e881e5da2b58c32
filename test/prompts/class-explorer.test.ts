// The variance explorer's pure parts: PCA against data whose principal axes are known, and the picked-class
// queries (nearest classes, thumbnails) on a hand-built explorer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca } from '../../cells/prompts/pca.ts';
import { classImages, nearestClasses, type ClassExplorer } from '../../cells/prompts/class-explorer.ts';
import { classSpreadChart } from '../../cells/prompts/class-explorer-charts.ts';
import { Inputs } from '../../cells/engine/inputs.ts';

test('pca: recovers the axes of an anisotropic cloud, orders them by variance, explains it all in 2-D', () => {
  // Points a·u + b·v in 4-D, with var(a) = 9·var(b): PC1 is ±u, PC2 is ±v, and nothing is left for PC3.
  const u = [0.6, 0.8, 0, 0], v = [0, 0, 1, 0];
  const n = 200, d = 4;
  const x = new Float64Array(n * d);
  const a = Array.from({ length: n }, (_, i) => 3 * Math.sin(i * 1.7) + 5);
  const raw = Array.from({ length: n }, (_, i) => Math.cos(i * 2.3) - 2);
  // b uncorrelated with a in the sample (else the sample's axes turn a little away from u and v).
  const centred = (xs: number[]) => xs.map((z) => z - xs.reduce((s, y) => s + y, 0) / xs.length);
  const ca = centred(a), cr = centred(raw);
  const k = cr.reduce((s, z, i) => s + z * ca[i], 0) / ca.reduce((s, z) => s + z * z, 0);
  const b = raw.map((z, i) => z - k * ca[i]);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = a[i] * u[j] + b[i] * v[j];
  const p = pca(x, n, d, 2);
  assert.ok(p.explained[0] > p.explained[1], 'components ordered by variance');
  assert.ok(Math.abs(p.explained[0] + p.explained[1] - 1) < 1e-6, `two components explain everything, got ${p.explained}`);
  const mean = (xs: number[]) => xs.reduce((s, z) => s + z, 0) / xs.length;
  const [ma, mb] = [mean(a), mean(b)];
  // Each coordinate is the centred a (resp. b) up to a sign.
  const s1 = Math.sign(p.coords[0] / (a[0] - ma)), s2 = Math.sign(p.coords[1] / (b[0] - mb));
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(p.coords[2 * i] - s1 * (a[i] - ma)) < 1e-6, `row ${i} on PC1`);
    assert.ok(Math.abs(p.coords[2 * i + 1] - s2 * (b[i] - mb)) < 1e-6, `row ${i} on PC2`);
  }
  assert.deepEqual(pca(x, n, d, 2).coords, p.coords, 'deterministic');
  assert.throws(() => pca(x, n, 3, 2), /800 values is not 200 rows × 3 columns/);
  assert.throws(() => pca(x, 1, 800, 2), /at least 2 rows/);
  assert.throws(() => pca(x, n, d, 5), /k must be an integer from 1 to 4/);
});

test('pca: a component with no variance left has zero coordinates (data on one axis, k = 2)', () => {
  // Points (t, 0, 0): PC1 is the first axis; nothing is left for PC2, whose coordinates must be 0, not a
  // second copy of PC1 through an unnormalised start vector.
  const x = Float64Array.from([0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0]);
  const p = pca(x, 5, 3, 2);
  for (let i = 0; i < 5; i++) {
    assert.ok(Math.abs(Math.abs(p.coords[2 * i]) - Math.abs(i - 2)) < 1e-12, `row ${i} on PC1`);
    assert.equal(p.coords[2 * i + 1], 0, `row ${i} on PC2`);
  }
  assert.deepEqual(p.explained, [1, 0]);
});

const explorer: ClassExplorer = {
  dataset: 'toy',
  classNames: ['cat', 'dog', 'car'],
  templates: ['a photo of a {}.'],
  perClass: ['cat', 'dog', 'car'].map((className, c) => ({ className, imageVariance: [0.2, 0.5, 0.1][c], textSpread: 0, textNearest: 0, imageNearest: 0 })),
  points: [{ id: 0, className: 'cat', pc1: 0, pc2: 0 }, { id: 1, className: 'dog', pc1: 1, pc2: 0 }, { id: 2, className: 'cat', pc1: 0, pc2: 1 }],
  explained: [0.6, 0.3],
  textSimilarity: [[1, 0.9, 0.2], [0.9, 1, 0.3], [0.2, 0.3, 1]],
  centroidDistance: [[0, 0.4, 1.2], [0.4, 0, 1.1], [1.2, 1.1, 0]],
};

test('nearestClasses: most similar class names first, never the class itself', () => {
  assert.deepEqual(nearestClasses(explorer, 'car'), [
    { className: 'dog', textSimilarity: 0.3, centroidDistance: 1.1 },
    { className: 'cat', textSimilarity: 0.2, centroidDistance: 1.2 },
  ]);
  assert.deepEqual(nearestClasses(explorer, 'cat', 1).map((n) => n.className), ['dog']);
  assert.deepEqual(nearestClasses(explorer, null), []);
  assert.throws(() => nearestClasses(explorer, 'cow'), /nearestClasses: "cow" is not a class of toy \(cat, dog, car\)/);
});

test('classImages: the picked class\'s test images, upscaled; nothing picked says what to do', () => {
  const grey = (v: number) => ({ width: 2, height: 2, channels: 1 as const, data: new Uint8Array(4).fill(v) });
  const source = { name: 'toy', classNames: explorer.classNames, train: { images: { get: (id: number) => grey(10 * id) } } } as never;
  const grid = classImages(source, explorer, 'cat', { scale: 3 });
  assert.equal(grid.kind, 'images');
  const items = (grid as { items: { label?: string; png: Uint8Array }[] }).items;
  assert.deepEqual(items.map((i) => i.label), ['cat #0', 'cat #2']);
  // A PNG's width is the big-endian u32 at byte 16 (the IHDR chunk).
  assert.equal(new DataView(items[0].png.buffer, items[0].png.byteOffset).getUint32(16), 6, '2 px × scale 3');
  assert.deepEqual(classImages(source, explorer, null), { kind: 'markdown', text: '*Click a class in the chart above to see its images.*' });
  assert.throws(() => classImages(source, explorer, 'cow'), /not a class of toy/);
});

test('classSpreadChart is a chart input on className: view(chart) picks one of the dataset\'s classes', () => {
  const spec = Inputs.chart(classSpreadChart(explorer), { value: 'dog' });
  assert.deepEqual(spec.select, { type: 'point', param: 'pick', field: 'className' });
  assert.deepEqual(spec.options, ['cat', 'dog', 'car']);
  assert.equal(spec.value, 'dog');
});
