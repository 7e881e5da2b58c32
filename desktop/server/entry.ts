// The engine process of the desktop app: Electron's main process forks this file in a utility process
// (`utilityProcess.fork`, run through tsx). It starts the server, which runs the notebook in its own
// kernel process, and reports its URL to the parent; the parent kills it to stop it (the kernel follows,
// its IPC channel closed).
//   node --import tsx desktop/server/entry.ts NOTEBOOK [--cache DIR]
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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cacheAt = args.indexOf('--cache');
  const cacheDir = cacheAt >= 0 ? args.splice(cacheAt, 2)[1] : undefined;
  if (args.length !== 1) throw new Error('usage: entry.ts NOTEBOOK [--cache DIR]');
  const server = await startServer({ notebookPath: resolve(args[0]), cache: new Cache(cacheDir) });
  report({ type: 'ready', url: server.url });
}

main().catch((err: Error) => {
  report({ type: 'error', message: err.message });
  process.exitCode = 1;
});
