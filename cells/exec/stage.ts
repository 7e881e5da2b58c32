// `stage()`: the one way an expensive step is memoised. A stage describes its work — spec, codec, compute —
// and hands it to the executor of the cell it runs for (in-process unless the run says otherwise); the
// result comes back carrying its key, and the call is recorded for the run's provenance.
import { contextOrDefault } from './context.ts';
import type { Codec } from './codecs.ts';
import { inProcess } from './executor.ts';
import { keyOf, stageKey, withKey } from './keys.ts';
import type { BatchOptions, BatchResult, StageContext, StageSpec, WorkUnit } from './types.ts';

/** Runs `compute` unless an intact cached result exists for the same key; returns the value with its key. */
export async function stage<T>(spec: StageSpec, codec: Codec<T>, compute: (ctx: StageContext) => Promise<T>): Promise<T> {
  const cell = contextOrDefault();
  const key = await stageKey(spec);
  const inputKeys = (spec.inputs ?? []).map(keyOf);
  const started = Date.now();
  const executor = cell.executor ?? inProcess;
  const { value, hit, ranOn } = await executor.runStage({ spec, key, inputKeys, codec, compute }, cell);
  cell.record({ stage: spec.name, key, hit, params: spec.params ?? null, inputs: inputKeys, ms: Date.now() - started, pins: spec.pins ?? [], ...(ranOn ? { ranOn } : {}) });
  return withKey(value, key);
}

/** Runs independent units (a study's matrix cells) through the cell's executor, under one progress bar. */
export function runAll<T>(units: readonly WorkUnit<T>[], options?: BatchOptions): Promise<BatchResult<T>> {
  const cell = contextOrDefault();
  return (cell.executor ?? inProcess).runAll(units, cell, options);
}
