// The libjpeg-exact JPEG decoder against PIL 9.4 / libjpeg-turbo 2.1.5 (Debian bookworm), the decoder HF's
// CLIPImageProcessor sees. References were made by test/data/fixtures/make_jpeg_fixtures.py: chroma
// 4:2:0 / 4:2:2 / 4:4:4 / 1x2, odd sizes, a 3x2 image, restart markers, grayscale, and a progressive file
// (which falls back to jpeg-js and is only checked for size).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeJpegExact, UnsupportedJpeg } from '../../cells/data/jpeg.ts';
import { decodeImage } from '../../cells/data/images.ts';
import { TarArchive } from '../../cells/data/tar.ts';
import { bundledPath } from '../../cells/data/bundled.ts';

const dir = fileURLToPath(new URL('./fixtures/jpeg/', import.meta.url));
interface Case { file: string; width: number; height: number; channels: number; pixels_sha256: string }
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as { reference: string; cases: Case[] };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test(`decoded pixels equal PIL's (${expected.reference}) on every layout`, () => {
  for (const c of expected.cases) {
    const bytes = readFileSync(`${dir}${c.file}`);
    const img = decodeImage(bytes, c.file);
    assert.equal(img.width, c.width, c.file);
    assert.equal(img.height, c.height, c.file);
    assert.equal(img.channels, c.channels, c.file);
    if (c.file.startsWith('progressive')) {
      assert.throws(() => decodeJpegExact(bytes), UnsupportedJpeg);
      continue;
    }
    assert.equal(sha(img.data), c.pixels_sha256, `${c.file}: pixels differ from PIL's`);
  }
});

test("the bundled CIFAR-10 subset decodes to PIL's pixels exactly (1,000 JPEGs)", () => {
  const ref = JSON.parse(readFileSync(`${dir}cifar10-bundled-pil.json`, 'utf8')) as { images: number; pixels_sha256: string };
  const tar = TarArchive.open(bundledPath('cifar10-test.tar'));
  const h = createHash('sha256');
  const names = tar.entries.map((e) => e.name).sort();
  for (const name of names) h.update(decodeImage(tar.readFile(name), name).data);
  tar.close();
  assert.equal(names.length, ref.images);
  assert.equal(h.digest('hex'), ref.pixels_sha256);
});

test('corrupt JPEGs are errors, not gray blocks', () => {
  const bytes = readFileSync(`${dir}s420-q95-50x41.jpg`);
  assert.throws(() => decodeImage(bytes.subarray(0, bytes.length - 300), 'cut.jpg'), /cut\.jpg: cannot decode image: .*(truncated|ends early)/);
  const noEnd = bytes.subarray(0, bytes.length - 2);
  assert.throws(() => decodeImage(noEnd, 'noeoi.jpg'), /noeoi\.jpg.*no end-of-image/);
  const garbled = Uint8Array.from(bytes);
  for (let i = 700; i < 720; i++) garbled[i] = 0xff;
  assert.throws(() => decodeImage(garbled, 'garbled.jpg'), /garbled\.jpg/);
});
