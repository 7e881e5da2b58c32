// CLIP preprocessing against the PIL/HF reference fixture (../shared/clip/fixture-tiny/fixture.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sharedPath } from '../support/shared.ts';
import type { DecodedImage } from '../../cells/data/images.ts';
import { toRGB } from '../../cells/data/images.ts';
import { cropOffsets, preprocess, preprocessBatch, resizeBicubic, shortestEdgeSize } from '../../cells/data/preprocess.ts';

const fixturePath = 'clip/fixture-tiny/fixture.json';

interface FixtureArray { shape: number[]; dtype: string; data: number[] }
interface FixtureImage {
  name: string; mode: string; height: number; width: number; channels: number; data: FixtureArray;
  resized_height: number; resized_width: number; resized: FixtureArray; crop_top: number; crop_left: number;
}
interface Fixture {
  preprocess: {
    size: { shortest_edge: number }; crop_size: { height: number; width: number };
    image_mean: number[]; image_std: number[]; images: FixtureImage[]; pixel_values: FixtureArray;
  };
}

test('preprocessing matches HF CLIPImageProcessor (fixture-tiny)', () => {
  const fixture = JSON.parse(readFileSync(sharedPath(fixturePath), 'utf8')) as Fixture;
  const p = fixture.preprocess;
  const S = p.crop_size.height;
  const options = { cropSize: S, shortestEdge: p.size.shortest_edge, mean: p.image_mean, std: p.image_std };
  const images: DecodedImage[] = p.images.map((im) => ({
    width: im.width, height: im.height, channels: im.channels as 1 | 3, data: Uint8Array.from(im.data.data),
  }));
  let resizedMismatches = 0;
  p.images.forEach((im, i) => {
    const size = shortestEdgeSize(im.width, im.height, p.size.shortest_edge);
    assert.deepEqual(size, { width: im.resized_width, height: im.resized_height }, `${im.name}: resize size`);
    const resized = toRGB(resizeBicubic(images[i], size.width, size.height));
    const expected = im.resized.data;
    for (let k = 0; k < expected.length; k++) if (resized.data[k] !== expected[k]) resizedMismatches++;
    assert.deepEqual(cropOffsets(size.width, size.height, S), { top: im.crop_top, left: im.crop_left }, `${im.name}: crop`);
  });
  assert.equal(resizedMismatches, 0, 'resized uint8 pixels must match PIL exactly');

  const got = preprocessBatch(images, options);
  const want = p.pixel_values.data;
  assert.equal(got.length, want.length);
  let maxAbs = 0;
  let exact = 0;
  for (let k = 0; k < want.length; k++) {
    const d = Math.abs(got[k] - Math.fround(want[k]));
    if (d === 0) exact++;
    maxAbs = Math.max(maxAbs, d);
  }
  console.log(`preprocessing vs fixture: resized uint8 mismatches ${resizedMismatches}, pixel_values max |diff| ${maxAbs} (${exact}/${want.length} exact)`);
  assert.ok(maxAbs < 1e-6, `pixel_values max abs diff ${maxAbs}`);
  // single-image API agrees with the batch API
  assert.deepEqual(preprocess(images[3], options), got.subarray(3 * 3 * S * S, 4 * 3 * S * S));
});

test('resize is identity at the same size and keeps constant images constant', () => {
  const img: DecodedImage = { width: 7, height: 5, channels: 3, data: new Uint8Array(7 * 5 * 3).fill(200) };
  assert.equal(resizeBicubic(img, 7, 5), img);
  for (const [w, h] of [[3, 2], [20, 13], [7, 11]]) {
    const out = resizeBicubic(img, w, h);
    assert.equal(out.data.length, w * h * 3);
    assert.ok(out.data.every((v) => v === 200), `constant image stays constant at ${w}x${h}`);
  }
});
