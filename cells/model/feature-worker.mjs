// Worker entry for parallel feature extraction: makes TypeScript importable in this thread (tsx), then
// starts the encoder loop. Plain .mjs because a worker's first module loads before any loader hook exists.
import { register } from 'tsx/esm/api';

register();
await import('./feature-worker.ts');
