// Derives the bundled dataset subsets in this folder from ../shared/datasets, deterministically.
// Run from the repository root:  node --import tsx data/datasets/make.ts [path/to/shared/datasets]
// Rules (also in data/README.md):
//   cifar10-test.tar        CIFAR-10 test, the first 100 files per class in sorted name order, original JPEG bytes
//   mnist-test-*.gz         MNIST t10k, the first 200 images per label in file order (2,000), IDX re-gzipped
//   fashion-mnist-test-*.gz Fashion-MNIST t10k, the same rule (2,000)
//   gtsrb-test.tar.gz       GTSRB test (shared subset), the first 20 rows per ClassId of GT-final_test.csv in file
//                           order (860 PPMs) + the filtered CSV (original header, CRLF) + classes.csv
// Tars use fixed metadata (writeTar) and gzip has no timestamp, so re-running gives the same bytes.

import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TarArchive, writeTar } from '../../cells/data/tar.ts';
import { encodeIdx, readIdx } from '../../cells/data/idx.ts';
import { parseCsv } from '../../cells/data/csv.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const shared = process.argv[2] ?? fileURLToPath(new URL('../../../shared/datasets/', import.meta.url));

function writeAtomic(name: string, bytes: Uint8Array): void {
  const path = join(here, name);
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

function cifar(perClass: number): void {
  const tar = TarArchive.open(join(shared, 'cifar10/test.tar'));
  const byClass = new Map<string, string[]>();
  for (const e of tar.entries) {
    const [cls, file] = e.name.split('/');
    if (!file?.endsWith('.jpg')) continue;
    if (!byClass.has(cls)) byClass.set(cls, []);
    byClass.get(cls)!.push(e.name);
  }
  const files: { name: string; data: Uint8Array }[] = [];
  for (const cls of [...byClass.keys()].sort()) {
    for (const name of byClass.get(cls)!.sort().slice(0, perClass)) files.push({ name, data: tar.readFile(name) });
  }
  tar.close();
  writeAtomic('cifar10-test.tar', writeTar(files));
}

function idxSubset(dataset: string, perClass: number): void {
  const images = readIdx(join(shared, dataset, 't10k-images-idx3-ubyte.gz'));
  const labels = readIdx(join(shared, dataset, 't10k-labels-idx1-ubyte.gz'));
  const [n, h, w] = images.shape;
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = labels.data[i];
    if ((taken.get(y) ?? 0) < perClass) {
      taken.set(y, (taken.get(y) ?? 0) + 1);
      keep.push(i);
    }
  }
  const px = new Uint8Array(keep.length * h * w);
  keep.forEach((i, j) => px.set(images.data.subarray(i * h * w, (i + 1) * h * w), j * h * w));
  const ys = Uint8Array.from(keep, (i) => labels.data[i]);
  writeAtomic(`${dataset}-test-images-idx3-ubyte.gz`, gzipSync(encodeIdx([keep.length, h, w], px), { level: 9 }));
  writeAtomic(`${dataset}-test-labels-idx1-ubyte.gz`, gzipSync(encodeIdx([keep.length], ys), { level: 9 }));
}

function gtsrb(perClass: number): void {
  const tar = TarArchive.open(join(shared, 'gtsrb/test.tar'));
  const csvName = 'GTSRB/Final_Test/Images/GT-final_test.csv';
  const text = new TextDecoder().decode(tar.readFile(csvName));
  const table = parseCsv(text, csvName, ';');
  const lines = text.split('\r\n');
  const classCol = table.header.indexOf('ClassId');
  const fileCol = table.header.indexOf('Filename');
  const taken = new Map<string, number>();
  const keptLines = [lines[0]];
  const files: { name: string; data: Uint8Array }[] = [];
  table.rows.forEach((row, i) => {
    const y = row[classCol];
    if ((taken.get(y) ?? 0) >= perClass) return;
    taken.set(y, (taken.get(y) ?? 0) + 1);
    keptLines.push(lines[i + 1]);
    const name = `GTSRB/Final_Test/Images/${row[fileCol]}`;
    files.push({ name, data: tar.readFile(name) });
  });
  tar.close();
  const csv = new TextEncoder().encode(`${keptLines.join('\r\n')}\r\n`);
  files.push({ name: csvName, data: csv });
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  writeAtomic('gtsrb-test.tar.gz', gzipSync(writeTar(files), { level: 9 }));
  copyFileSync(join(shared, 'gtsrb/classes.csv'), join(here, 'gtsrb-classes.csv'));
}

cifar(100);
idxSubset('mnist', 200);
idxSubset('fashion-mnist', 200);
gtsrb(20);
for (const f of [
  'cifar10-test.tar',
  'mnist-test-images-idx3-ubyte.gz',
  'mnist-test-labels-idx1-ubyte.gz',
  'fashion-mnist-test-images-idx3-ubyte.gz',
  'fashion-mnist-test-labels-idx1-ubyte.gz',
  'gtsrb-test.tar.gz',
  'gtsrb-classes.csv',
]) {
  const bytes = readFileSync(join(here, f));
  console.log(`| ${f} | ${statSync(join(here, f)).size} | ${createHash('sha256').update(bytes).digest('hex')} |`);
}
