// The few library functions the desktop tests' notebook uses, standing in for cells/library.ts so the
// UI tests do not depend on datasets or models. Servers under test fork test-kernel.ts (TEST_KERNEL), which
// serves this library as desktop/kernel/kernel-process.ts serves the real one.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromArrays } from 'apache-arrow';
import { jsonCodec } from '../../cells/exec/codecs.ts';
import { stage } from '../../cells/exec/stage.ts';
import { sleep } from '../../cells/util/process.ts';

/**
 * Stands in for a prompt learner's training loop: one checkpoint per epoch in the stage's work directory,
 * so a run killed mid-way resumes where it stopped. Returns the epoch it resumed from (0 for a fresh run).
 */
async function trainWithCheckpoints(ctx: { signal: AbortSignal; progress(f: number, m?: string): void; workDir(): Promise<string> }, epochs: number, msPerEpoch: number) {
  const file = join(await ctx.workDir(), 'checkpoint.json');
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { epoch: number }, () => ({ epoch: 0 }));
  let loss = 1;
  for (let epoch = saved.epoch; epoch < epochs; epoch++) {
    await sleep(msPerEpoch, ctx.signal);
    loss = 1 / (epoch + 2);
    await writeFile(file, JSON.stringify({ epoch: epoch + 1 }));
    ctx.progress((epoch + 1) / epochs, `epoch ${epoch + 1}`);
  }
  return { epochs, resumedFrom: saved.epoch, loss };
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
  trainWithCheckpoints,
  vegaLite: (spec: unknown) => ({ kind: 'vega-lite', spec }),
};

export const buildLibrary = async (): Promise<Record<string, unknown>> => testBuiltins;

/** What tests pass as the server's `kernelEntry`. */
export const TEST_KERNEL = fileURLToPath(new URL('./test-kernel.ts', import.meta.url));
