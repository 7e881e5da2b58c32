// The project's one seeded PRNG, and the seed mixers that derive per-stream seeds from it. Splits, prompt
// initialisations, shuffles and pretraining batches all draw from these, so a seed means the same numbers
// on every machine and backend.

/** mulberry32: a small, fast 32-bit generator; uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Two seed mixers, because each one's exact outputs are already relied on and must not change:
//   mixSeed        — the prompt learners: few-shot sampling of prompt tasks (cells/prompts/task.ts), epoch
//                    shuffles and dropout masks (train.ts, upt.ts). Cached tasks and trained prompts, and the
//                    README's reproduced numbers, are those of this hash.
//   murmurMixSeed  — mini-CLIP pretraining: per-step batch/caption generators (pretrain/rng.ts) and the
//                    per-class validation split (pretrain/data.ts). The shipped checkpoint and resumable
//                    pretraining runs are those of this hash.
// They give different values for the same parts; merging them would silently change splits and runs.

/** A seed derived from several integers (seed, epoch, step…), so streams never overlap by accident (FNV-1a style). */
export function mixSeed(...parts: number[]): number {
  let h = 2166136261;
  for (const p of parts) {
    h ^= p >>> 0;
    h = Math.imul(h, 16777619);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** Mixes integers into one 32-bit seed (murmur3-style mixing per part and finaliser); pretraining's streams. */
export function murmurMixSeed(...parts: number[]): number {
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

// Box–Muller normals. Three samplers exist, and only one shape is shared, because each one's exact
// numbers are relied on (shipped checkpoints, cached prompts, the README's figures):
//   normalPairs (here)       — cos then sin of one (u, v) pair, one normal per call: random CLIP weights
//                              (model/random-init.ts, mini-CLIP's starting point).
//   normalArray (prompts/random.ts) — the same pairs, but scaled as (√(−2 ln u)·std)·cos: prompt and head
//                              initialisations. Not routed through normalPairs, whose std·(√(−2 ln u)·cos)
//                              rounds in another order (no float32 difference in 10⁶ draws, but no proof).
//   normal (model/pretrain/rng.ts) — cos only, the sine discarded: two uniforms per normal, so a different
//                              stream from the same generator; pretraining's noise and the shipped
//                              mini-CLIP depend on it.
/** Standard normals from a uniform generator, in (cos, sin) pairs of one Box–Muller draw. */
export function normalPairs(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const r = spare;
      spare = undefined;
      return r;
    }
    const u = uniform() || 1e-12;
    const v = uniform();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
}
