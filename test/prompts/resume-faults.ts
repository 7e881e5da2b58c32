// One sitting of a trainer under the kill -9 harness, with its events logged and, when asked, a SIGKILL
// to itself at exactly the n-th event. Used by the child process (train-child.ts) and, for uninterrupted
// reference runs, in-process by the harness.
//
// Events: `step` (a training step or probe fit finished) and the five moments of a checkpoint write, seen
// through node:fs/promises (patched here; the patch reaches every module's named imports through
// syncBuiltinESMExports): `open` (the temp file exists, empty), `torn` (the bytes are being written: a kill
// here writes only a given share of them first, leaving a torn temp file), `written` (before fsync),
// `synced` (before the rename) and `renamed` (the new checkpoint is in place; the event's label is the
// progress that checkpoint records). Each event is appended to the event log with writeSync before any
// kill, so the log survives the kill.
import fsp from 'node:fs/promises';
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import type { TrainerSpec } from './resume-trainers.ts';

export interface SittingOptions {
  /** Event log (appended: one `index \t kind \t label \t ms-since-ready` line per event). */
  events: string;
  /** Index (in this sitting) of the event to die at; -1: run to the end. */
  killAt?: number;
  /** For a kill at a `torn` event: the share of the bytes written before dying (0–1). */
  tornFraction?: number;
  onReady?(): void;
  /** The first event of the sitting (timer kills count from it). */
  onFirstEvent?(): void;
  onInfo?(facts: Record<string, unknown>): void;
}

interface Sitting {
  spec: TrainerSpec;
  root: string;
  opts: SittingOptions;
  fd: number;
  index: number;
  t0: number;
}

let current: Sitting | undefined;

function die(s: Sitting): never {
  closeSync(s.fd);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL to oneself is delivered before kill(2) returns; block in case the kernel is slow to act.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  throw new Error('SIGKILL did not arrive');
}

/** Logs an event of the current sitting; true when it is the one to die at (the caller dies after its own action). */
function event(s: Sitting, kind: string, label = ''): boolean {
  const i = s.index++;
  if (i === 0) s.opts.onFirstEvent?.();
  writeSync(s.fd, `${i}\t${kind}\t${label}\t${(performance.now() - s.t0).toFixed(1)}\n`);
  return i === (s.opts.killAt ?? -1);
}

const isTemp = (s: Sitting, p: unknown) => typeof p === 'string' && basename(p).startsWith(`.${s.spec.checkpoint}.`) && p.endsWith('.tmp');

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  const realOpen = fsp.open;
  const realRename = fsp.rename;
  fsp.open = (async (path: Parameters<typeof fsp.open>[0], ...rest: unknown[]) => {
    const fh = await (realOpen as (...a: unknown[]) => Promise<fsp.FileHandle>)(path, ...rest);
    const s = current;
    if (!s || !isTemp(s, path)) return fh;
    if (event(s, 'open')) die(s);
    const writeFile = fh.writeFile.bind(fh);
    const sync = fh.sync.bind(fh);
    fh.writeFile = (async (data: Uint8Array) => {
      if (event(s, 'torn')) {
        const bytes = data instanceof Uint8Array ? data : new TextEncoder().encode(String(data));
        const n = Math.floor(bytes.byteLength * (s.opts.tornFraction ?? 0.5));
        await fh.write(bytes.subarray(0, n), 0, n, 0);
        die(s);
      }
      await writeFile(data);
      if (event(s, 'written')) die(s);
    }) as typeof fh.writeFile;
    fh.sync = async () => {
      await sync();
      if (event(s, 'synced')) die(s);
    };
    return fh;
  }) as typeof fsp.open;
  fsp.rename = (async (from: Parameters<typeof fsp.rename>[0], to: Parameters<typeof fsp.rename>[1]) => {
    await realRename(from, to);
    const s = current;
    if (s && isTemp(s, from) && basename(String(to)) === s.spec.checkpoint) {
      if (event(s, 'renamed', (await s.spec.progressOf(s.root)) ?? '')) die(s);
    }
  }) as typeof fsp.rename;
  syncBuiltinESMExports();
}

/** Runs `spec` on `root` to the end (or to the kill) and returns its result file. One sitting at a time. */
export async function runSitting(spec: TrainerSpec, root: string, opts: SittingOptions): Promise<Uint8Array> {
  if (current) throw new Error('runSitting: one sitting at a time');
  install();
  const s: Sitting = { spec, root, opts, fd: openSync(opts.events, 'a'), index: 0, t0: performance.now() };
  current = s;
  try {
    return await spec.run({
      root,
      ready: () => {
        s.t0 = performance.now();
        opts.onReady?.();
      },
      step: (label) => {
        if (event(s, 'step', label)) die(s);
      },
      info: (facts) => opts.onInfo?.(facts),
    });
  } finally {
    current = undefined;
    closeSync(s.fd);
  }
}
