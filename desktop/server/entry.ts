// The engine process of the desktop app: bin/engine.mjs (which Electron's main process forks in a utility
// process) imports this file, bundled or through tsx, and calls runEngine. It starts the server, which runs
// the notebook in its own kernel process, and reports its URL to the parent; the parent kills it to stop
// it (the kernel follows, its IPC channel closed).
import { resolve } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import type { EngineMessage } from '../protocol.ts';
import { startServer } from './server.ts';

interface ParentPort {
  postMessage(message: EngineMessage): void;
}

function report(message: EngineMessage): void {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) parentPort.postMessage(message);
  else if (process.send) process.send(message);
  else process.stdout.write(`${JSON.stringify(message)}\n`);
}

export interface EngineOptions {
  /** The prebuilt kernel (when the engine itself runs from the bundle), else the kernel's TypeScript through tsx. */
  kernelEntry?: string;
}

/** `args`: NOTEBOOK [--cache DIR]. Reports ready (with the URL) or the error that kept the server from starting. */
export async function runEngine(args: string[], options: EngineOptions = {}): Promise<void> {
  try {
    const rest = [...args];
    const cacheAt = rest.indexOf('--cache');
    const cacheDir = cacheAt >= 0 ? rest.splice(cacheAt, 2)[1] : undefined;
    if (rest.length !== 1) throw new Error('usage: engine.mjs NOTEBOOK [--cache DIR]');
    const server = await startServer({ notebookPath: resolve(rest[0]), cache: new Cache(cacheDir), kernelEntry: options.kernelEntry });
    report({ type: 'ready', url: server.url });
  } catch (err) {
    report({ type: 'error', message: (err as Error).message });
    process.exitCode = 1;
  }
}
