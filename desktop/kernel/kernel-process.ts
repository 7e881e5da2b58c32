// The kernel process: the server forks this file (desktop/server/kernel.ts) and the notebook's cells run
// here, with the cache and the compute backend, never in the server. A cell that blocks this process's
// event loop (`while (true) {}`) blocks only the kernel: the server keeps answering, and stops and
// replaces the kernel when the cell does not obey Cancel. Messages are desktop/protocol.ts's; the first
// one is `init`. The kernel exits when the server goes away (its IPC channel closes).
import { pathToFileURL } from 'node:url';
import { Cache } from '../../cells/exec/cache.ts';
import type { FromKernel, KernelCalls, KernelRequest } from '../protocol.ts';
import { CallError, NotebookKernel } from './notebook-kernel.ts';

if (!process.send) {
  process.stderr.write('desktop/kernel/kernel-process.ts is started by the Promptscope server (it needs an IPC channel)\n');
  process.exit(2);
}

const send = (message: FromKernel) => process.send!(message);
let kernel: NotebookKernel | null = null;

async function loadLibrary(path: string): Promise<Record<string, unknown>> {
  const mod = (await import(pathToFileURL(path).href)) as { buildLibrary?: () => Promise<Record<string, unknown>> | Record<string, unknown> };
  if (typeof mod.buildLibrary !== 'function') throw new Error(`${path} exports no buildLibrary() function`);
  return mod.buildLibrary();
}

function need(): NotebookKernel {
  if (!kernel) throw new CallError('the kernel has not been initialised', 409);
  return kernel;
}

type Handlers = { [K in keyof KernelCalls]: (args: KernelCalls[K]['args']) => KernelCalls[K]['result'] | Promise<KernelCalls[K]['result']> };

const handlers: Handlers = {
  async init(args) {
    if (kernel) throw new CallError('the kernel is already initialised', 409);
    const builtins = await loadLibrary(args.library);
    kernel = new NotebookKernel({ notebook: args.notebook, cache: new Cache(args.cacheDir), builtins, settings: args.settings, held: args.held, send, run: args.run, name: args.name });
    return kernel.snapshot();
  },
  edit: ({ id, value }) => need().edit(id, value),
  add: ({ mode, value, after, output }) => need().add(mode, value, after, output),
  remove: ({ id }) => need().remove(id),
  run: ({ id }) => (need().run(id), null),
  runAll: () => (need().runAll(), null),
  cancel: ({ id }) => ({ cancelled: need().cancel(id) }),
  interrupt: () => ({ cancelled: need().interrupt() }),
  input: ({ name, value }) => (need().input(name, value), null),
  runSettings: (run) => (need().setRunSettings(run), null),
  rows: ({ handle, offset, limit }) => need().rows(handle, offset, limit),
  idle: async () => (await need().idle(), null),
  value: ({ name }) => need().value(name),
  ping: () => null,
};

process.on('message', (raw) => {
  const m = raw as KernelRequest;
  if (m?.type !== 'request') return;
  const handler = handlers[m.call] as (args: unknown) => unknown;
  Promise.resolve()
    .then(() => handler(m.args))
    .then(
      (result) => send({ type: 'reply', seq: m.seq, ok: true, result: result ?? null }),
      (err: unknown) => {
        const status = err instanceof CallError ? err.status : 500;
        send({ type: 'reply', seq: m.seq, ok: false, error: (err as Error)?.message ?? String(err), status });
      },
    );
  // Notebook edits change the cells the server shows; send them as an event too, so an edit that
  // arrives after the server stopped waiting for its reply still reaches the UI.
  if (m.call === 'edit' || m.call === 'add' || m.call === 'remove') queueMicrotask(() => kernel && send({ type: 'notebook', snapshot: kernel.snapshot() }));
});

process.on('disconnect', () => {
  kernel?.dispose();
  process.exit(0);
});
