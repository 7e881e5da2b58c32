// The kernel the desktop tests fork (TEST_KERNEL): the product's kernel loop with the small library of
// builtins.ts instead of cells/library.ts, so a kernel starts in a fraction of the real one's time.
import { serveKernel } from '../../desktop/kernel/serve-kernel.ts';
import { buildLibrary } from './builtins.ts';

serveKernel(buildLibrary);
