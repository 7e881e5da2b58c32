// Tests may read real data from ../shared (the read-only folder laid beside the clone, as CI does). A test
// that needs it and does not find it fails saying so: a skipped test would read as a passing one.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_ROOT = fileURLToPath(new URL('../../../shared/', import.meta.url));

/** The absolute path of `rel` inside ../shared; throws a message saying what is missing if it is not there. */
export function sharedPath(rel: string): string {
  const path = SHARED_ROOT + rel;
  if (!existsSync(path)) {
    throw new Error(`this test needs ../shared/${rel} (the project's shared data folder, placed beside the clone); ` +
      `it is missing at ${path}`);
  }
  return path;
}
