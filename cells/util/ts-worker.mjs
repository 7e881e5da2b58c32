// Entry of a worker thread that runs one of the project's TypeScript modules (`workerData.module`, a file
// URL): makes TypeScript importable in this thread through tsx, then imports it. Plain .mjs because a
// worker's first module loads before any loader hook exists, also when the main thread runs the bundle.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
