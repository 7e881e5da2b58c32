// Entry of a worker thread or worker process that runs one of the project's TypeScript modules (a file URL:
// `workerData.module` in a thread, the first argument in a process): makes TypeScript importable here
// through tsx, then imports it. Plain .mjs because a worker's first module loads before any loader hook
// exists, also when the main thread runs the bundle.
import { isMainThread, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(isMainThread ? process.argv[2] : workerData.module);
