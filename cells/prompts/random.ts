// Seeded randomness for prompt initialisation, shuffles and dropout: the same seed gives the same run on
// every backend, and a resumed run draws exactly what the uninterrupted one would have.
import { mulberry32 } from '../util/random.ts';

/** The project's generator, with the seed whitened so that small seeds (1, 2, 3) start far apart. */
export function rng(seed: number): () => number {
  return mulberry32((seed >>> 0) ^ 0x9e3779b9);
}

/** Normals ·std in Box–Muller pairs; kept apart from util's normalPairs for its rounding order (see there). */
export function normalArray(n: number, std: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12), v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function uniformArray(n: number, bound: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * bound;
  return out;
}

/** Fisher–Yates on a copy. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
