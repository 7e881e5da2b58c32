// A synthetic pretraining set for loop tests: 20 classes, each a distinct colour plus noise, learnable in a
// few steps (classes 0–9 are domain 0, 10–19 domain 1).
import type { ImageSet } from '../../cells/model/pretrain/data.ts';
import { mulberry32 } from '../../cells/model/pretrain/rng.ts';

export function syntheticImageSet(perClass: number, seed = 7): ImageSet {
  const rand = mulberry32(seed);
  const n = 20 * perClass;
  const per = 32 * 32 * 3;
  const set: ImageSet = { pixels: new Uint8Array(n * per), labels: new Int32Array(n), domain: new Uint8Array(n), count: n };
  for (let i = 0; i < n; i++) {
    const c = i % 20;
    set.labels[i] = c;
    set.domain[i] = c < 10 ? 0 : 1;
    const base = [(c * 53) % 256, (c * 97 + 40) % 256, (c * 151 + 90) % 256];
    for (let p = 0; p < 32 * 32; p++) for (let ch = 0; ch < 3; ch++) set.pixels[i * per + p * 3 + ch] = Math.max(0, Math.min(255, base[ch] + Math.round((rand() - 0.5) * 40)));
  }
  return set;
}
