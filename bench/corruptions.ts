// CIFAR-10-C corruptions (cells/data/corruptions.ts) on every bundled CIFAR-10 test image at every severity,
// against NumPy/SciPy/PIL (bench/reference/cifar_c_reference.py): differing pixels per corruption and
// severity, and our time per image. The test suite checks three images; this checks 1,000 × 20.
//   node --import tsx bench/corruptions.ts [OUTDIR]     (needs /usr/bin/python3 with PIL and python3 with SciPy)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CORRUPTIONS, corruptImage, type Severity } from '../cells/data/corruptions.ts';

const out = process.argv[2] ?? '/tmp/cifar-c-reference';
const script = fileURLToPath(new URL('./reference/cifar_c_reference.py', import.meta.url));
for (const [python, mode] of [['/usr/bin/python3', 'pil'], ['python3', 'numpy']]) {
  const t0 = Date.now();
  const r = spawnSync(python, [script, mode, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${python} ${mode}: exit ${r.status}\n${r.stderr}`);
  console.log(`reference (${mode}): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const per = 32 * 32 * 3;
const inputs = readFileSync(`${out}/inputs.u8`);
const n = inputs.length / per;
console.log(`${n} images\n\n| corruption | severity | images with a differing pixel | differing pixels | max |Δ| | ms per image |\n|---|---:|---:|---:|---:|---:|`);
for (const c of CORRUPTIONS) {
  for (let s = 1 as Severity; s <= 5; s++) {
    const ref = readFileSync(`${out}/${c}_${s}.u8`);
    let images = 0, pixels = 0, worst = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const img = { width: 32, height: 32, channels: 3 as const, data: new Uint8Array(inputs.subarray(i * per, (i + 1) * per)) };
      const got = corruptImage(img, c, s, 1000 + i).data;
      let bad = 0;
      for (let j = 0; j < per; j++) {
        const d = Math.abs(got[j] - ref[i * per + j]);
        if (d) { bad++; worst = Math.max(worst, d); }
      }
      pixels += bad;
      if (bad) images++;
    }
    console.log(`| ${c} | ${s} | ${images} | ${pixels} | ${worst} | ${((performance.now() - t0) / n).toFixed(2)} |`);
  }
}
