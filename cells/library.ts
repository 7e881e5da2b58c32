// What notebook cells can call: the stage library of every layer, under the names a researcher uses.
// The engine receives this as its builtins, so the engine itself depends on no stage.
import { vegaLite } from './plots/vegalite.ts';
import { cached } from './engine/memo.ts';

export async function buildLibrary(): Promise<Record<string, unknown>> {
  return {
    vegaLite,
    cached,
  };
}
