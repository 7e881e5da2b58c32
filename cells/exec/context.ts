// Stages find the cell they run for (its AbortSignal, progress sink, cache, executor, records) through an
// AsyncLocalStorage context the session sets around each cell body, so a notebook author calls
// `extractFeatures(model, data)` without threading plumbing through every call.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Cache } from './cache.ts';
import type { CellContext } from './types.ts';

const ambient = new AsyncLocalStorage<CellContext>();

export function runWithContext<T>(ctx: CellContext, fn: () => T): T {
  return ambient.run(ctx, fn);
}

export function currentContext(): CellContext | undefined {
  return ambient.getStore();
}

let fallback: CellContext | undefined;
/** Outside a notebook (scripts, benches), stages use a default cache with no cancellation. */
export function contextOrDefault(): CellContext {
  const ctx = ambient.getStore();
  if (ctx) return ctx;
  fallback ??= {
    cache: new Cache(),
    signal: new AbortController().signal,
    progress: () => undefined,
    log: (m) => process.stderr.write(`${m}\n`),
    record: () => undefined,
  };
  return fallback;
}
