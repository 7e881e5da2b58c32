// Seeded randomness for pretraining. Every step draws from its own generator, seeded from (seed, step,
// stream), so a run resumed at step k samples exactly what an uninterrupted run samples at step k.
import { mulberry32 } from '../../util/random.ts';

export { mulberry32 };

/** Mixes integers into one 32-bit seed (murmur-style finaliser per part). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let k = Math.imul(p | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A generator for one (seed, step, stream) triple. */
export function stepRng(seed: number, step: number, stream: number): () => number {
  return mulberry32(mixSeed(seed, step, stream));
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(a: T[] | Int32Array, rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t as never;
  }
}

/** Standard normal sampler (Box–Muller) over a uniform generator. */
export function normal(rand: () => number): () => number {
  return () => {
    const u = rand() || 1e-12;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}
