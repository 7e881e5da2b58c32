// Shared set-up for the studies tests: the project's pretrained mini-CLIP (real images, real training on
// top), a private cache, and a log of every stage record so tests can count what ran.
import { mkdtempSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache } from '../../cells/exec/cache.ts';
import { runWithContext } from '../../cells/exec/context.ts';
import { type CellContext, type StageRecord } from '../../cells/exec/types.ts';
import { load, backboneOf, type PromptBackbone } from '../../cells/model/index.ts';

// The project's own pretrained mini-CLIP, loaded through the product path.
export const MINI_CLIP = fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url));

let model: Promise<PromptBackbone> | undefined;
export function miniClip(): Promise<PromptBackbone> {
  model ??= load(MINI_CLIP, { id: 'mini-clip' }).then(backboneOf);
  return model;
}

export interface StudyCell {
  records: StageRecord[];
  progress: { fraction: number; message?: string }[];
  cacheDir: string;
  controller: AbortController;
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Records since `mark()`: misses (computed) and hits per stage name. */
  mark(): void;
  misses(stage?: string): StageRecord[];
  hits(stage?: string): StageRecord[];
}

const created: string[] = [];
// Registered when a test file imports this module: after its tests, remove every cache it created.
after(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A fresh cache directory, removed after the file's tests (tests train real prompts: MBs each). */
export function tempCacheDir(prefix = 'studies-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export function studyCell(cacheDir = tempCacheDir()): StudyCell {
  const records: StageRecord[] = [];
  const progress: { fraction: number; message?: string }[] = [];
  const cache = new Cache(cacheDir);
  cache.onWarning = () => undefined;
  const controller = new AbortController();
  const ctx: CellContext = {
    cache,
    signal: controller.signal,
    progress: (u) => progress.push(u),
    log: () => undefined,
    record: (r) => records.push(r),
  };
  let from = 0;
  const since = () => records.slice(from);
  return {
    records, progress, cacheDir, controller,
    run: (fn) => runWithContext(ctx, fn),
    mark: () => {
      from = records.length;
    },
    misses: (stage) => since().filter((r) => !r.hit && (!stage || r.stage === stage)),
    hits: (stage) => since().filter((r) => r.hit && (!stage || r.stage === stage)),
  };
}
