// Seeded randomness for pretraining. Every step draws from its own generator, seeded from (seed, step,
// stream), so a run resumed at step k samples exactly what an uninterrupted run samples at step k.
import { mulberry32, murmurMixSeed } from '../../util/random.ts';

export { mulberry32 };

/** A generator for one (seed, step, stream) triple. */
export function stepRng(seed: number, step: number, stream: number): () => number {
  return mulberry32(murmurMixSeed(seed, step, stream));
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

/** Standard normal sampler (Box–Muller, cosine only) over a uniform generator; not util's normalPairs: see there. */
export function normal(rand: () => number): () => number {
  return () => {
    const u = rand() || 1e-12;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}
