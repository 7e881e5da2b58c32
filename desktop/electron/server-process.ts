// Starts the notebook server process (bin/engine.mjs running desktop/server/entry.ts: the server, which
// runs the cells in a kernel process of its own) outside the UI thread, in Electron's utility process, and
// waits for it to report its URL (an EngineMessage, desktop/protocol.ts). The window then loads the UI from
// that server, exactly as a browser does with `promptscope serve`.
import { join } from 'node:path';
import type { EngineMessage } from '../protocol.ts';
import { engineOrigin } from './security.ts';
import type { EngineProcessLike } from './types.ts';

export type ForkFn = (modulePath: string, args: string[], options: { cwd: string; execArgv: string[]; serviceName: string; stdio: 'inherit' }) => EngineProcessLike;

export interface Engine {
  url: string;
  origin: string;
  stop(): void;
  /** Called if the engine exits on its own after it was ready (a crash, out of memory) — not after stop(). */
  onUnexpectedExit(listener: (code: number | null) => void): void;
}

export interface EngineOptions {
  /** The repository / app root (holds node_modules and desktop/). */
  root: string;
  notebookPath: string;
  cacheDir?: string;
  timeoutMs?: number;
}

export function engineCommand(opts: EngineOptions): { modulePath: string; args: string[]; execArgv: string[]; cwd: string } {
  return {
    // Plain JavaScript that runs the prebuilt engine and kernel while the bundle is fresh, as `promptscope
    // serve` does (one rule, bin/bundle.mjs chooseBundle), and registers tsx itself otherwise: no loader flag.
    modulePath: join(opts.root, 'bin', 'engine.mjs'),
    args: [opts.notebookPath, ...(opts.cacheDir ? ['--cache', opts.cacheDir] : [])],
    execArgv: [],
    cwd: opts.root,
  };
}

export function startEngine(fork: ForkFn, opts: EngineOptions): Promise<Engine> {
  const cmd = engineCommand(opts);
  const child = fork(cmd.modulePath, cmd.args, { cwd: cmd.cwd, execArgv: cmd.execArgv, serviceName: 'Promptscope engine', stdio: 'inherit' });
  return new Promise<Engine>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, engine?: Engine) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        child.kill();
        reject(err);
      } else resolve(engine!);
    };
    const timer = setTimeout(() => finish(new Error(`the engine did not start within ${(opts.timeoutMs ?? 60_000) / 1000} s`)), opts.timeoutMs ?? 60_000);
    let stopped = false;
    const exitListeners: ((code: number | null) => void)[] = [];
    child.on('message', (message) => {
      // Checked field by field: an EngineMessage, but it comes from another process.
      const m = message as { [K in 'type' | 'url' | 'message']?: unknown } | null;
      if (m?.type !== undefined && !(['ready', 'error'] satisfies EngineMessage['type'][] as unknown[]).includes(m.type)) return;
      if (m?.type === 'ready' && typeof m.url === 'string') {
        try {
          finish(null, {
            url: m.url,
            origin: engineOrigin(m.url),
            stop: () => {
              stopped = true;
              child.kill();
            },
            onUnexpectedExit: (listener) => void exitListeners.push(listener),
          });
        } catch (err) {
          finish(err as Error);
        }
      } else if (m?.type === 'error') {
        finish(new Error(`the engine failed to start: ${String(m.message)}`));
      }
    });
    child.on('exit', (code) => {
      if (settled && !stopped) for (const l of exitListeners) l(code);
      finish(new Error(`the engine exited (code ${code}) before it was ready`));
    });
  });
}
