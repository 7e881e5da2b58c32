// End to end on real JPEGs: decode + CLIP preprocessing at 224 px (antialiased downscale of 480-px COCO
// images) against a PIL reference that follows HF CLIPImageProcessor's steps
// (test/data/fixtures/make_clip224_fixture.py). Needs ../shared (COCO-mini).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sharedPath } from '../support/shared.ts';
import { TarArchive } from '../../cells/data/tar.ts';
import { decodeImage } from '../../cells/data/images.ts';
import { preprocess, resizeBicubic, shortestEdgeSize, cropOffsets } from '../../cells/data/preprocess.ts';

interface Ref { member: string; width: number; height: number; resized: [number, number]; crop: [number, number]; resized_sha256: string; pixel_values_sha256: string; pixel_values_sum: number }
const ref = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/clip224-coco.json', import.meta.url)), 'utf8')) as { size: number; images: Ref[] };
const sha = (b: ArrayBufferView) => createHash('sha256').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex');

test('real JPEG → pixel_values at 224 px equals the PIL/HF reference bit for bit', () => {
  const tar = TarArchive.open(sharedPath('datasets/coco-mini/coco-mini.tar'));
  let exact = 0;
  for (const r of ref.images) {
    const img = decodeImage(tar.readFile(r.member), r.member);
    assert.deepEqual([img.width, img.height], [r.width, r.height]);
    const size = shortestEdgeSize(img.width, img.height, ref.size);
    assert.deepEqual([size.width, size.height], r.resized);
    const { top, left } = cropOffsets(size.width, size.height, ref.size);
    assert.deepEqual([top, left], r.crop);
    assert.equal(sha(resizeBicubic(img, size.width, size.height).data), r.resized_sha256, `${r.member}: resized pixels`);
    const px = preprocess(img, ref.size);
    const sum = px.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - r.pixel_values_sum) < 1e-6 * Math.abs(r.pixel_values_sum), `${r.member}: sum ${sum} vs ${r.pixel_values_sum}`);
    assert.equal(sha(px), r.pixel_values_sha256, `${r.member}: pixel_values bytes`);
    exact++;
  }
  tar.close();
  console.log(`real JPEGs at 224 px: ${exact}/${ref.images.length} images bit-identical to the PIL/HF reference (max |diff| 0)`);
});
