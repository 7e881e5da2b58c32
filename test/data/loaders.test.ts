// Loaders on every format, built in a temp dir: image folders (dir and tar), IDX, CSV/Parquet manifests,
// COCO multi-label; plus the corrupt / missing / empty-class / bad-label paths and the fingerprint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, type DecodedImage } from '../../cells/data/images.ts';
import { encodePnm } from '../support/pnm.ts';
import { writeTar, TarArchive } from '../../cells/data/tar.ts';
import { encodeIdx } from '../../cells/data/idx.ts';
import { loadImageFolder } from '../../cells/data/load-folder.ts';
import { loadIdx } from '../../cells/data/load-idx.ts';
import { loadManifest } from '../../cells/data/load-manifest.ts';
import { loadCoco } from '../../cells/data/load-coco.ts';
import { fewShotSplit, taskView } from '../../cells/data/splits.ts';

let dir: string;

function pattern(width: number, height: number, channels: 1 | 3, seed: number): DecodedImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101) & 255;
  return { width, height, channels, data };
}
function pngBytes(img: DecodedImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) png.data[i * 4 + c] = img.data[i * img.channels + (img.channels === 1 ? 0 : c)];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png, img.channels === 1 ? { colorType: 0 } : { colorType: 2 });
}
function jpegBytes(img: DecodedImage): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba.set(img.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ width: img.width, height: img.height, data: rgba }, 90).data;
}

/** A small image-folder dataset: cat (2 JPEG + 1 PNG), dog (2 PPM + 1 gray PNG). */
function folderFiles(): { name: string; data: Uint8Array }[] {
  return [
    { name: 'cat/a.jpg', data: jpegBytes(pattern(16, 12, 3, 1)) },
    { name: 'cat/b.jpg', data: jpegBytes(pattern(16, 12, 3, 2)) },
    { name: 'cat/c.png', data: pngBytes(pattern(16, 12, 3, 3)) },
    { name: 'dog/a.ppm', data: encodePnm(pattern(16, 12, 3, 4)) },
    { name: 'dog/b.ppm', data: encodePnm(pattern(16, 12, 3, 5)) },
    { name: 'dog/g.png', data: pngBytes(pattern(16, 12, 1, 6)) },
  ];
}
function writeFolder(root: string, files: { name: string; data: Uint8Array }[]): void {
  for (const f of files) {
    mkdirSync(join(root, f.name, '..'), { recursive: true });
    writeFileSync(join(root, f.name), f.data);
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-data-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('image decoders: PNG (RGB and gray), PPM exact, JPEG close; corrupt bytes name the file', () => {
  const rgb = pattern(9, 7, 3, 1);
  assert.deepEqual(decodeImage(pngBytes(rgb), 'x.png').data, rgb.data);
  const gray = pattern(9, 7, 1, 2);
  const g = decodeImage(pngBytes(gray), 'g.png');
  assert.equal(g.channels, 1);
  assert.deepEqual(g.data, gray.data);
  assert.deepEqual(decodeImage(encodePnm(rgb), 'x.ppm'), rgb);
  assert.deepEqual(decodeImage(encodePnm(gray), 'x.pgm'), gray);
  const flat: DecodedImage = { width: 16, height: 16, channels: 3, data: new Uint8Array(16 * 16 * 3).fill(120) };
  const j = decodeImage(jpegBytes(flat), 'x.jpg');
  assert.ok(j.data.every((v) => Math.abs(v - 120) <= 2));
  const jpg = jpegBytes(pattern(16, 16, 3, 3));
  assert.throws(() => decodeImage(jpg.subarray(0, jpg.length >> 1), 'half.jpg'), /half\.jpg/);
  assert.throws(() => decodeImage(encodePnm(rgb).subarray(0, 40), 'short.ppm'), /short\.ppm.*truncated/);
  assert.throws(() => decodeImage(new Uint8Array([1, 2, 3, 4]), 'junk.bin'), /junk\.bin.*unknown image format/);
  const png = pngBytes(rgb);
  const broken = png.slice();
  broken[png.length - 20] ^= 0xff;
  assert.throws(() => decodeImage(broken, 'broken.png'), /broken\.png/);
});

test('PNG transparency is composited over white like HF convert_to_rgb (PIL alpha_composite)', () => {
  const png = new PNG({ width: 3, height: 1 });
  png.data.set([0, 0, 0, 0, /**/ 0, 0, 0, 128, /**/ 10, 20, 30, 255]);
  const img = decodeImage(PNG.sync.write(png, { colorType: 6 }), 'alpha.png');
  assert.equal(img.channels, 3);
  assert.deepEqual([...img.data], [255, 255, 255, 127, 127, 127, 10, 20, 30]);
});

test('tar reader lists members and reads by offset; rejects a non-tar', () => {
  const files = folderFiles();
  const longName = `${'deep/'.repeat(30)}x.ppm`;
  const tar = TarArchive.fromBytes(writeTar([{ name: 'cat/', data: new Uint8Array(0) }, ...files, { name: longName, data: files[3].data }]));
  assert.deepEqual(tar.entries.map((e) => e.name), [...files.map((f) => f.name), longName]);
  assert.deepEqual(tar.directories, ['cat']);
  for (const f of files) assert.deepEqual(tar.readFile(f.name), new Uint8Array(f.data));
  assert.deepEqual(tar.readFile(longName), new Uint8Array(files[3].data));
  assert.throws(() => TarArchive.fromBytes(new Uint8Array(1024).fill(7), 'junk.tar'), /junk\.tar.*not a tar/);
});

test('image folder: directory and tar give the same rows and fingerprint; gz tar too', async () => {
  const files = folderFiles();
  writeFolder(join(dir, 'pets'), files);
  writeFileSync(join(dir, 'pets.tar'), writeTar(files));
  writeFileSync(join(dir, 'pets.tar.gz'), gzipSync(writeTar(files)));
  const a = await loadImageFolder(join(dir, 'pets'), { split: 'train' });
  const b = await loadImageFolder(join(dir, 'pets.tar'), { split: 'train' });
  const c = await loadImageFolder(join(dir, 'pets.tar.gz'), { split: 'train' });
  assert.deepEqual(a.classNames, ['cat', 'dog']);
  assert.deepEqual([...a.rows.getChild('label')!.toArray()], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(a.rows.getChild('source')!.toArray(), files.map((f) => f.name));
  assert.equal(a.fingerprint, b.fingerprint);
  assert.equal(a.fingerprint, c.fingerprint);
  assert.equal(a.multiLabel, false);
  assert.deepEqual(a.skipped, []);
  // mixed channel counts (gray PNG) → lazy store; pixels equal between dir and tar
  for (let id = 0; id < 6; id++) assert.deepEqual(a.images.get(id), b.images.get(id));
  assert.equal(a.images.get(5).channels, 1);
  assert.equal(b.rows.get(3)!.offset, TarArchive.fromBytes(writeTar(files)).get('dog/a.ppm')!.offset);
  const renamed = await loadImageFolder(join(dir, 'pets'), { classNames: ['a cat', 'a dog'] });
  assert.notEqual(renamed.fingerprint, a.fingerprint, 'class names are part of the fingerprint');
  b.images.close();
});

test('fingerprint changes when one image byte changes', async () => {
  const files = folderFiles();
  writeFileSync(join(dir, 'fp1.tar'), writeTar(files));
  const changed = files.map((f) => ({ ...f, data: f.data.slice() }));
  changed[3].data[changed[3].data.length - 1] ^= 1; // last pixel byte of a PPM: still a valid image
  writeFileSync(join(dir, 'fp2.tar'), writeTar(changed));
  const a = await loadImageFolder(join(dir, 'fp1.tar'));
  const b = await loadImageFolder(join(dir, 'fp2.tar'));
  assert.notEqual(a.fingerprint, b.fingerprint);
  const again = await loadImageFolder(join(dir, 'fp1.tar'));
  assert.equal(again.fingerprint, a.fingerprint);
});

test('corrupt image: error names the file; skip reports it', async () => {
  const files = folderFiles();
  files[1] = { name: 'cat/b.jpg', data: files[1].data.subarray(0, 60) };
  writeFolder(join(dir, 'corrupt'), files);
  writeFileSync(join(dir, 'corrupt.tar'), writeTar(files));
  await assert.rejects(loadImageFolder(join(dir, 'corrupt')), (err: Error) => err.message.includes(join(dir, 'corrupt', 'cat/b.jpg')));
  await assert.rejects(loadImageFolder(join(dir, 'corrupt.tar')), /corrupt\.tar:cat\/b\.jpg: cannot decode image/);
  const ds = await loadImageFolder(join(dir, 'corrupt.tar'), { onError: 'skip' });
  assert.equal(ds.rows.numRows, 5);
  assert.deepEqual(ds.skipped.map((s) => s.source), ['cat/b.jpg']);
  assert.deepEqual([...ds.rows.getChild('id')!.toArray()], [0, 1, 2, 3, 4]);
});

test('empty class: error, or skip with a report', async () => {
  const files = folderFiles();
  writeFolder(join(dir, 'empty'), files);
  mkdirSync(join(dir, 'empty', 'emu'));
  writeFileSync(join(dir, 'empty.tar'), writeTar([...files, { name: 'emu/', data: new Uint8Array(0) }]));
  await assert.rejects(loadImageFolder(join(dir, 'empty')), /class "emu" \(label 2\) has no images/);
  await assert.rejects(loadImageFolder(join(dir, 'empty.tar')), /empty\.tar:emu\/: class "emu"/);
  const ds = await loadImageFolder(join(dir, 'empty.tar'), { onError: 'skip' });
  assert.deepEqual(ds.classNames, ['cat', 'dog', 'emu']);
  assert.equal(ds.skipped.length, 1);
  assert.match(ds.skipped[0].reason, /no images/);
  await assert.rejects(loadImageFolder(join(dir, 'nope')), /nope: no such file or directory/);
});

test('IDX: loads gz and plain files; label outside the class list names the file and index', async () => {
  const n = 12;
  const pixels = new Uint8Array(n * 28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 255;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
  writeFileSync(join(dir, 'img-idx3-ubyte.gz'), gzipSync(encodeIdx([n, 28, 28], pixels)));
  writeFileSync(join(dir, 'lab-idx1-ubyte'), encodeIdx([n], labels));
  const ds = await loadIdx({ images: join(dir, 'img-idx3-ubyte.gz'), labels: join(dir, 'lab-idx1-ubyte'), classNames: ['zero', 'one', 'two'] });
  assert.equal(ds.rows.numRows, n);
  assert.deepEqual([...ds.rows.getChild('label')!.toArray()], [...labels]);
  assert.deepEqual(ds.images.dense?.pixels, pixels);
  assert.deepEqual(ds.images.get(5).data, pixels.subarray(5 * 784, 6 * 784));
  await assert.rejects(
    loadIdx({ images: join(dir, 'img-idx3-ubyte.gz'), labels: join(dir, 'lab-idx1-ubyte'), classNames: ['zero', 'one'] }),
    /img-idx3-ubyte\.gz\[2\].*label 2 is outside the class list/,
  );
  const skip = await loadIdx({ images: join(dir, 'img-idx3-ubyte.gz'), labels: join(dir, 'lab-idx1-ubyte'), classNames: ['zero', 'one'], onError: 'skip' });
  assert.equal(skip.rows.numRows, 8);
  assert.equal(skip.skipped.length, 4);
  writeFileSync(join(dir, 'bad-idx3-ubyte.gz'), gzipSync(encodeIdx([n, 28, 28], pixels)).subarray(0, 100));
  await assert.rejects(loadIdx({ images: join(dir, 'bad-idx3-ubyte.gz'), labels: join(dir, 'lab-idx1-ubyte'), classNames: ['a', 'b', 'c'] }), /bad-idx3-ubyte\.gz/);
  await assert.rejects(loadIdx({ images: join(dir, 'missing.gz'), labels: join(dir, 'lab-idx1-ubyte'), classNames: ['a'] }), /missing\.gz: cannot read file \(ENOENT\)/);
});

test('manifest: ;-separated CSV in a tar, names or ids as labels, missing file and bad label', async () => {
  const files = folderFiles();
  const csv = ['Filename;Width;ClassId', ...files.map((f, i) => `${f.name.split('/')[1].replace(/^/, f.name.startsWith('cat') ? 'c' : 'd')};16;${i < 3 ? 0 : 1}`)].join('\r\n') + '\r\n';
  const flat = files.map((f) => ({ name: `imgs/${f.name.startsWith('cat') ? 'c' : 'd'}${f.name.split('/')[1]}`, data: f.data }));
  writeFileSync(join(dir, 'man.tar'), writeTar([...flat, { name: 'imgs/gt.csv', data: new TextEncoder().encode(csv) }]));
  const ds = await loadManifest({ manifest: 'imgs/gt.csv', root: join(dir, 'man.tar'), pathColumn: 'Filename', labelColumn: 'ClassId', classNames: ['cat', 'dog'] });
  assert.equal(ds.rows.numRows, 6);
  assert.deepEqual([...ds.rows.getChild('label')!.toArray()], [0, 0, 0, 1, 1, 1]);
  assert.equal(ds.rows.get(0)!.source, 'imgs/ca.jpg');
  // the same manifest outside the tar, comma-separated with class names as labels, images in a directory
  writeFolder(join(dir, 'man'), flat);
  const csv2 = ['path,label', ...flat.map((f, i) => `${f.name.slice(5)},${i < 3 ? 'cat' : 'dog'}`)].join('\n');
  writeFileSync(join(dir, 'man', 'imgs', 'list.csv'), csv2);
  const ds2 = await loadManifest({ manifest: join(dir, 'man', 'imgs', 'list.csv'), pathColumn: 'path', labelColumn: 'label' });
  assert.deepEqual(ds2.classNames, ['cat', 'dog']);
  assert.deepEqual([...ds2.rows.getChild('label')!.toArray()], [0, 0, 0, 1, 1, 1]);

  writeFileSync(join(dir, 'man', 'imgs', 'missing.csv'), `${csv2}\nnothere.png,cat\n`);
  await assert.rejects(
    loadManifest({ manifest: join(dir, 'man', 'imgs', 'missing.csv'), pathColumn: 'path', labelColumn: 'label' }),
    (err: Error) => err.message.includes(join(dir, 'man', 'imgs', 'nothere.png')) && /file not found/.test(err.message),
  );
  writeFileSync(join(dir, 'man', 'imgs', 'badlabel.csv'), `${csv2}\nca.jpg,7\n`);
  await assert.rejects(
    loadManifest({ manifest: join(dir, 'man', 'imgs', 'badlabel.csv'), pathColumn: 'path', labelColumn: 'label', classNames: ['cat', 'dog'] }),
    /ca\.jpg: label 7 is outside the class list \(2 classes/,
  );
  const skipped = await loadManifest({ manifest: join(dir, 'man', 'imgs', 'badlabel.csv'), pathColumn: 'path', labelColumn: 'label', classNames: ['cat', 'dog'], onError: 'skip' });
  assert.equal(skipped.rows.numRows, 6);
  assert.equal(skipped.skipped.length, 1);
  await assert.rejects(loadManifest({ manifest: 'imgs/gt.csv', root: join(dir, 'man.tar'), pathColumn: 'File', labelColumn: 'ClassId' }), /no column "File"/);
});

test('manifest: Parquet', async () => {
  const files = folderFiles();
  writeFolder(join(dir, 'pq'), files);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  const values = files.map((f, i) => `('${f.name}', ${i < 3 ? 0 : 1})`).join(', ');
  const out = join(dir, 'pq', 'manifest.parquet');
  await conn.run(`COPY (SELECT * FROM (VALUES ${values}) t(file, y)) TO '${out}' (FORMAT parquet)`);
  conn.closeSync();
  inst.closeSync();
  const ds = await loadManifest({ manifest: out, pathColumn: 'file', labelColumn: 'y', classNames: ['cat', 'dog'] });
  assert.equal(ds.rows.numRows, 6);
  assert.deepEqual([...ds.rows.getChild('label')!.toArray()], [0, 0, 0, 1, 1, 1]);
});

test('COCO: each image gets its set of category indices; unknown category is an error', async () => {
  const files = folderFiles();
  const coco = {
    images: [{ id: 2, file_name: 'a.jpg' }, { id: 1, file_name: 'c.png' }],
    annotations: [
      { image_id: 2, category_id: 18 }, { image_id: 2, category_id: 1 }, { image_id: 2, category_id: 18 },
      { image_id: 1, category_id: 17 },
    ],
    categories: [{ id: 18, name: 'dog' }, { id: 1, name: 'person' }, { id: 17, name: 'cat' }],
  };
  const tar = (c: unknown) => writeTar([
    { name: 'annotations/instances_val.json', data: new TextEncoder().encode(JSON.stringify(c)) },
    { name: 'val/a.jpg', data: files[0].data },
    { name: 'val/c.png', data: files[2].data },
  ]);
  writeFileSync(join(dir, 'coco.tar'), tar(coco));
  const ds = await loadCoco(join(dir, 'coco.tar'), 'val');
  assert.equal(ds.multiLabel, true);
  assert.deepEqual(ds.classNames, ['person', 'cat', 'dog']);
  const labels = ds.rows.getChild('labels')!;
  assert.deepEqual([...labels.get(0)!], [1]); // id 1 → cat
  assert.deepEqual([...labels.get(1)!], [0, 2]); // id 2 → person, dog
  assert.deepEqual([...ds.rows.getChild('label')!.toArray()], [-1, -1]);
  assert.equal(ds.rows.get(1)!.className, 'person|dog');
  // a multi-label task view keeps images with any chosen class and renumbers their label sets
  const view = taskView(ds, ['dog', 'cat'], 'pets');
  assert.equal(view.multiLabel, true);
  assert.deepEqual([...view.rows.getChild('labels')!.get(0)!], [1]); // cat → 1
  assert.deepEqual([...view.rows.getChild('labels')!.get(1)!], [0]); // person dropped, dog → 0
  assert.equal(view.rows.get(1)!.className, 'dog');
  assert.throws(() => fewShotSplit(ds, { shots: 1, seed: 1 }), /multi-label/);
  writeFileSync(join(dir, 'coco-bad.tar'), tar({ ...coco, annotations: [...coco.annotations, { image_id: 1, category_id: 99 }] }));
  await assert.rejects(loadCoco(join(dir, 'coco-bad.tar'), 'val'), /coco-bad\.tar:val\/c\.png: label -1 is outside/);
  await assert.rejects(loadCoco(join(dir, 'coco.tar'), 'train'), /instances_train\.json: cannot read COCO/);
});
