// NumPy's legacy normal generator, bit for bit: `np.random.seed(s); np.random.normal(size=n, scale=σ)` draws
// from MT19937 seeded by init_genrand(s) and turns pairs of 53-bit uniforms into normals with the polar
// (Marsaglia) method, returning the second of each pair first and caching the other. The CIFAR-10-C noise
// corruption was defined with this generator, so reproducing it lets a test compare our noisy images with
// NumPy's to the last bit rather than only in distribution.

const N = 624;
const M = 397;

export class NumpyNormal {
  private mt = new Uint32Array(N);
  private index = N;
  private cached: number | undefined;

  /** `np.random.seed(seed)` for an integer seed in [0, 2^32). */
  constructor(seed: number) {
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new Error(`NumpyNormal: seed must be an integer in [0, 2^32), got ${seed}`);
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32, without losing bits to float rounding.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private next32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
        mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `np.random.random_sample()`: 53 random bits in [0, 1). */
  uniform(): number {
    const a = this.next32() >>> 5, b = this.next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `np.random.standard_normal()` (legacy polar method). */
  standard(): number {
    if (this.cached !== undefined) {
      const g = this.cached;
      this.cached = undefined;
      return g;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.uniform() - 1;
      x2 = 2 * this.uniform() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.cached = f * x1;
    return f * x2;
  }
}
