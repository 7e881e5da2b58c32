// The kernel process: the server forks this file (desktop/server/kernel.ts) and the notebook's cells run
// here, with the cache and the compute backend, never in the server. A cell that blocks this process's
// event loop (`while (true) {}`) blocks only the kernel: the server keeps answering, and stops and
// replaces the kernel when the cell does not obey Cancel. The cells see cells/library.ts, imported
// statically so the layering check sees this dependency; the protocol is served by serve-kernel.ts.
// (The server's calls that arrive while the library loads wait in the IPC channel: Node delivers them
// once serveKernel() listens.)
import { buildLibrary } from '../../cells/library.ts';
import { serveKernel } from './serve-kernel.ts';

serveKernel(buildLibrary);
