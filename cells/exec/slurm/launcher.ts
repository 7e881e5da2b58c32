// How a Slurm job starts the same Promptscope as the process that submits it: this Node (or Electron
// run as Node, in the desktop app) with this checkout's bin/promptscope.js, from this working directory.
// The compute nodes must see these paths (a shared home or software directory, as on most clusters).
import { fileURLToPath } from 'node:url';
import type { Launcher } from './executor.ts';

export function thisPromptscope(): Launcher {
  return {
    node: process.execPath,
    entry: fileURLToPath(new URL('../../../bin/promptscope.js', import.meta.url)),
    cwd: process.cwd(),
    // Electron's binary is a Node only when told so; the job's environment does not come from here.
    ...(process.versions.electron ? { env: { ELECTRON_RUN_AS_NODE: '1' } } : {}),
  };
}
