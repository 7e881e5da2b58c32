// The execution layer as the stages see it: describe a stage (`stage`, `runAll`), key values (`keyOf`),
// store results (codecs), memoise user code (`cached`). Stage code imports this file only; the cache,
// the ambient context and the executors behind it are the engine's and the command line's business.
export { stage, runAll } from './stage.ts';
export { keyOf, withKey, stageKey } from './keys.ts';
export { CancelledError } from './types.ts';
export type { StageContext, StageSpec, Pin, WorkUnit, BatchOptions, BatchProgress, BatchResult, UnitTiming } from './types.ts';
export { valueCodec, jsonCodec, arrowCodec, type Codec } from './codecs.ts';
export { cached } from './memo.ts';

import { contextOrDefault } from './context.ts';
/** A line in the running cell's log (the UI's cell log, `promptscope run`'s stderr; stderr outside a notebook). */
export function cellLog(message: string): void {
  contextOrDefault().log(message);
}
