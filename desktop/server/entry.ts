// The engine process of the desktop app: Electron's main process forks this file in a utility process
// (`utilityProcess.fork`, run through tsx) so notebooks, tfjs and DuckDB never block the window.
// It starts the server and reports its URL to the parent; the parent kills it to stop it.
//   node --import tsx desktop/server/entry.ts NOTEBOOK [--cache DIR]
import { resolve } from 'node:path';
import { Cache } from '../../cells/exec/cache.ts';
import { buildLibrary } from '../../cells/library.ts';
import { startServer } from './server.ts';

export type EngineMessage = { type: 'ready'; url: string } | { type: 'error'; message: string };

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
  const server = await startServer({ notebookPath: resolve(args[0]), cache: new Cache(cacheDir), builtins: await buildLibrary() });
  report({ type: 'ready', url: server.url });
}

main().catch((err: Error) => {
  report({ type: 'error', message: err.message });
  process.exitCode = 1;
});
