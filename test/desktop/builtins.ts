// The few library functions the desktop tests' notebook uses, standing in for cells/library.ts so the
// UI tests do not depend on datasets or models.
import { tableFromArrays } from 'apache-arrow';
import { jsonCodec } from '../../cells/exec/codecs.ts';
import { stage } from '../../cells/exec/stage.ts';

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

/** A tiny in-memory dataset of coloured squares, shaped like cells/data's Dataset. */
function demoDataset() {
  const classNames = ['red', 'green', 'blue'];
  const n = 30;
  const side = 16;
  const per = side * side * 3;
  const pixels = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < side * side; p++) {
      const shade = 90 + ((p % side) * 160) / side;
      pixels[i * per + p * 3 + (i % 3)] = shade;
    }
  }
  return {
    name: 'colours',
    classNames,
    fingerprint: 'c0ffee'.padEnd(64, '0'),
    rows: tableFromArrays({ id: Int32Array.from({ length: n }, (_, i) => i), label: Int32Array.from({ length: n }, (_, i) => i % 3), className: Array.from({ length: n }, (_, i) => classNames[i % 3]) }),
    images: { count: n, get: (id: number) => ({ width: side, height: side, channels: 3, data: pixels.subarray(id * per, (id + 1) * per) }) },
  };
}

export const testBuiltins: Record<string, unknown> = {
  demoDataset,
  stage,
  jsonCodec,
  sleep,
  tableFromArrays,
  vegaLite: (spec: unknown) => ({ kind: 'vega-lite', spec }),
};
