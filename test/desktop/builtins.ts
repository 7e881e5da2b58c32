// The few library functions the desktop tests' notebook uses, standing in for cells/library.ts so the
// UI tests do not depend on datasets or models.
import { tableFromArrays } from 'apache-arrow';
import { jsonCodec } from '../../cells/engine/codecs.ts';
import { stage } from '../../cells/engine/stage.ts';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const testBuiltins: Record<string, unknown> = {
  stage,
  jsonCodec,
  sleep,
  tableFromArrays,
  vegaLite: (spec: unknown) => ({ kind: 'vega-lite', spec }),
};
