// Worker entry: makes TypeScript importable in this worker thread (tsx), then starts the runtime.
// Plain .mjs because a worker's first module is loaded before any loader hook could be registered.
import { register } from 'tsx/esm/api';

register();
await import('./worker-runtime.ts');
