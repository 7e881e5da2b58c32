// CIFAR-10-C corruptions (cells/data/corruptions.ts) against reference images computed independently with
// NumPy, SciPy and PIL (test/data/fixtures/make_corruption_fixtures.py: the published formulas and
// constants, every severity, two CIFAR-10 images and one MNIST digit), plus the noise generator against
// NumPy's own numbers, determinism, and clear errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CIFAR_C_CONSTANTS, CORRUPTIONS, corruptImage, type CorruptionName, type Severity } from '../../cells/data/corruptions.ts';
import { encodeJpeg, qualityTable } from '../../cells/data/jpeg-encode.ts';
import { decodeJpegExact } from '../../cells/data/jpeg.ts';
import { NumpyNormal } from '../../cells/util/numpy-normal.ts';
import type { DecodedImage } from '../../cells/data/images.ts';

const dir = new URL('./fixtures/corruptions/', import.meta.url);
const read = (f: string) => JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
const inputs: { source: string; width: number; height: number; channels: 1 | 3; pixels: string }[] = read('inputs.json');
const refs: Record<string, Record<string, string[]> | number> = { ...read('numpy.json'), ...read('jpeg.json') };
const images: DecodedImage[] = inputs.map((m) => ({ width: m.width, height: m.height, channels: m.channels, data: new Uint8Array(Buffer.from(m.pixels, 'base64')) }));
const noiseSeed = refs.noiseSeed as number;

test('NumpyNormal reproduces np.random.seed(s); np.random.normal() (values printed by NumPy 2.4)', () => {
  // python3 -c 'import numpy as np; np.random.seed(12345); print(np.random.normal(size=5).tolist())'
  const g = new NumpyNormal(12345);
  assert.deepEqual(Array.from({ length: 5 }, () => g.standard()), [-0.20470765948471295, 0.47894333805754824, -0.5194387150567381, -0.55573030434749, 1.9657805725027142]);
  // python3 -c 'import numpy as np; np.random.seed(0); print(np.random.random_sample(2).tolist())'
  const u = new NumpyNormal(0);
  assert.deepEqual([u.uniform(), u.uniform()], [0.5488135039273248, 0.7151893663724195]);
  assert.throws(() => new NumpyNormal(-1), /seed must be an integer in \[0, 2\^32\)/);
});

test('the published CIFAR-10-C constants, severities 1–5', () => {
  assert.deepEqual(CIFAR_C_CONSTANTS, {
    gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
    gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1],
    contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
    jpeg_compression: [80, 65, 58, 50, 40],
  });
});

for (const corruption of CORRUPTIONS) {
  test(`${corruption}: every severity equals the NumPy/SciPy/PIL reference pixel for pixel`, () => {
    const table = refs[corruption] as Record<string, string[]>;
    for (let s = 1 as Severity; s <= 5; s++) {
      images.forEach((img, i) => {
        const want = Buffer.from(table[String(s)][i], 'base64');
        const got = corruptImage(img, corruption, s, noiseSeed + i);
        assert.equal(got.data.length, want.length, `${corruption} s${s} ${inputs[i].source}: size`);
        let diff = 0, worst = 0;
        for (let j = 0; j < want.length; j++) if (got.data[j] !== want[j]) { diff++; worst = Math.max(worst, Math.abs(got.data[j] - want[j])); }
        assert.equal(diff, 0, `${corruption} severity ${s}, ${inputs[i].source}: ${diff} pixels differ (max ${worst})`);
      });
    }
  });
}

test('corruptions change the image, more at higher severity, and are deterministic', () => {
  const img = images[0];
  const mad = (a: Uint8Array) => a.reduce((s, v, j) => s + Math.abs(v - img.data[j]), 0) / a.length;
  for (const c of CORRUPTIONS) {
    const d1 = mad(corruptImage(img, c, 1, 7).data), d5 = mad(corruptImage(img, c, 5, 7).data);
    assert.ok(d1 > 0.5, `${c} severity 1 changes the image (mean |Δ| ${d1.toFixed(2)})`);
    assert.ok(d5 > d1, `${c}: severity 5 (${d5.toFixed(2)}) departs further than severity 1 (${d1.toFixed(2)})`);
    assert.deepEqual(corruptImage(img, c, 3, 7).data, corruptImage(img, c, 3, 7).data, `${c} is deterministic`);
  }
  assert.notDeepEqual(corruptImage(img, 'gaussian_noise', 3, 7).data, corruptImage(img, 'gaussian_noise', 3, 8).data, 'another seed, other noise');
  assert.deepEqual(corruptImage(img, 'contrast', 3, 7).data, corruptImage(img, 'contrast', 3, 8).data, 'the seed only drives noise');
});

test('encodeJpeg writes a valid JPEG with the IJG tables at the asked quality', () => {
  // jpeg_set_quality: q < 50 → 5000/q %, else 200 − 2q %; entries rounded and clamped to 1..255.
  assert.equal(qualityTable([16], 50)[0], 16);
  assert.equal(qualityTable([16], 40)[0], 20); // 16 · 125 % = 20
  assert.equal(qualityTable([99], 10)[0], 255); // 99 · 500 % clamps to the baseline maximum
  assert.equal(qualityTable([16], 100)[0], 1);
  const bytes = encodeJpeg(images[0], 65);
  assert.deepEqual([bytes[0], bytes[1], bytes.at(-2), bytes.at(-1)], [0xff, 0xd8, 0xff, 0xd9]);
  const back = decodeJpegExact(bytes);
  assert.equal(back.width, 32);
  assert.equal(back.channels, 3);
  assert.throws(() => encodeJpeg(images[0], 0), /quality must be an integer in 1\.\.100/);
});

test('bad input is refused with a clear message', () => {
  assert.throws(() => corruptImage(images[0], 'motion_blur' as CorruptionName, 1), /unknown corruption "motion_blur"; choose one of gaussian_noise/);
  assert.throws(() => corruptImage(images[0], 'contrast', 6 as Severity), /severity must be an integer 1\.\.5/);
  assert.throws(() => corruptImage({ width: 4, height: 4, channels: 3, data: new Uint8Array(5) }, 'contrast', 1), /5 bytes for a 4×4×3 image/);
});
