// Deterministic test inputs for the kernel tests: the same values on every run and machine, so a failure reproduces.

/** n values in [-1, 1) from an LCG seeded with `seed`. */
export function lcgValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Number of elements of a shape. */
export const sizeOf = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
