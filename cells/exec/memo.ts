// `cached(name, params, compute)`: lets a notebook author memoise their own expensive cell code with the
// same cache as the built-in stages. The function's source joins the key, so editing the code
// recomputes while re-running it unchanged does not.
import { valueCodec } from './codecs.ts';
import { stage } from './stage.ts';
import type { StageContext } from './types.ts';

export function cached<T>(name: string, params: unknown, compute: (ctx: StageContext) => Promise<T> | T, inputs: unknown[] = []): Promise<T> {
  // A notebook memoises what is expensive: on a cluster it gets a job of its own.
  return stage({ name: `user:${name}`, version: 1, params: { params, code: compute.toString() }, inputs, heavy: true }, valueCodec<T>(), async (ctx) => compute(ctx));
}
