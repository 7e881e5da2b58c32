// Loader throughput on the full CIFAR-10 test set (../shared/datasets/cifar10/test.tar, 10,000 JPEGs):
// listing, decoding, and CLIP preprocessing at 32 px (mini-CLIP) and 224 px (ViT-B/16), as images/s.
// Run: node --import tsx bench/loader.ts [path/to/cifar10/test.tar]

import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { TarArchive } from '../cells/data/tar.ts';
import { decodeImage, type DecodedImage } from '../cells/data/images.ts';
import { preprocessBatch } from '../cells/data/preprocess.ts';
import { loadImageFolder } from '../cells/data/load-folder.ts';
import { loadIdx } from '../cells/data/load-idx.ts';

const tarPath = process.argv[2] ?? fileURLToPath(new URL('../../shared/datasets/cifar10/test.tar', import.meta.url));
const mnistDir = fileURLToPath(new URL('../../shared/datasets/mnist/', import.meta.url));

interface Row {
  step: string;
  images: number;
  ms: number;
  /** CPU time of this process (user + system): less sensitive than wall time when the machine is shared. */
  cpuMs: number;
}
const rows: Row[] = [];
function time<T>(step: string, images: number, fn: () => T): T {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const out = fn();
  const c = process.cpuUsage(c0);
  rows.push({ step, images, ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 });
  return out;
}
async function timeAsync<T>(step: string, images: (v: T) => number, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const out = await fn();
  const c = process.cpuUsage(c0);
  rows.push({ step, images: images(out), ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 });
  return out;
}

const tar = time('list tar members', 0, () => TarArchive.open(tarPath));
const entries = tar.entries.filter((e) => e.name.endsWith('.jpg'));
rows[rows.length - 1].images = entries.length;
const bytes = time('read member bytes', entries.length, () => entries.map((e) => tar.read(e)));
const images: DecodedImage[] = time('decode JPEG (libjpeg-exact decoder)', entries.length, () => bytes.map((b, i) => decodeImage(b, entries[i].name)));
time('decode JPEG (jpeg-js, for comparison)', entries.length, () => bytes.map((b) => jpeg.decode(b, { useTArray: true, formatAsRGBA: false })));
tar.close();

for (const size of [32, 224]) {
  const batch = 64;
  let checksum = 0;
  time(`preprocess to ${size}x${size} (batches of ${batch})`, images.length, () => {
    for (let s = 0; s < images.length; s += batch) {
      const out = preprocessBatch(images.slice(s, s + batch), size);
      checksum += out[0];
    }
  });
  if (!Number.isFinite(checksum)) throw new Error('bad preprocessing output');
}
for (const size of [32, 224]) {
  time(`read + decode + preprocess ${size} (end to end, batches of 64)`, entries.length, () => {
    const t = TarArchive.open(tarPath);
    for (let s = 0; s < entries.length; s += 64) {
      const chunk = entries.slice(s, s + 64).map((e) => decodeImage(t.read(e), e.name));
      preprocessBatch(chunk, size);
    }
    t.close();
  });
}
await timeAsync('loadImageFolder (list + validate + hash + dense store)', (d) => d.rows.numRows, () => loadImageFolder(tarPath, { split: 'test' }));
await timeAsync(
  'loadIdx MNIST t10k (inflate + hash)',
  (d) => d.rows.numRows,
  () => loadIdx({ images: `${mnistDir}t10k-images-idx3-ubyte.gz`, labels: `${mnistDir}t10k-labels-idx1-ubyte.gz`, classNames: [...'0123456789'] }),
);

console.log(`\nLoader benchmark — ${tarPath}\nNode ${process.version}, ${new Date().toISOString()}\n`);
const rate = (n: number, ms: number) => (n ? Math.round((n / ms) * 1000).toLocaleString('en-US') : '-');
console.log(`load average at the end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} (cores: ${(await import('node:os')).cpus().length})\n`);
console.log('| step | images | wall ms | images/s (wall) | CPU ms | images/s per CPU-second |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.step} | ${r.images} | ${r.ms.toFixed(0)} | ${rate(r.images, r.ms)} | ${r.cpuMs.toFixed(0)} | ${rate(r.images, r.cpuMs)} |`);
