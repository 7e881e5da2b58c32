// Shared helpers for tests that use the tiny CLIP parity fixture in ../shared/clip/fixture-tiny.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/clip/fixture-tiny/', import.meta.url));
export const FIXTURE_JSON = FIXTURE_DIR + 'fixture.json';

export interface FixtureArray {
  shape: number[];
  dtype: string;
  data: number[];
}

let cached: any;
export function fixture(): any {
  cached ??= JSON.parse(readFileSync(FIXTURE_JSON, 'utf8'));
  return cached;
}

/** max|got − expected| / max|expected|: the fixture README's normalized error. */
export function normalizedError(got: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (got.length !== expected.length) throw new Error(`length ${got.length} ≠ expected ${expected.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    d = Math.max(d, Math.abs(got[i] - expected[i]));
    m = Math.max(m, Math.abs(expected[i]));
  }
  return m === 0 ? d : d / m;
}
