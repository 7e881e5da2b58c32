// The kernel's side of the protocol: answers the server's calls (desktop/protocol.ts) over the IPC channel
// with one NotebookKernel whose cells see `buildLibrary()`'s names. The product entry is kernel-process.ts
// (the full cell library, imported statically); tests fork an entry that serves a small library instead
// (test/desktop/test-kernel.ts). The first call is `init`. The kernel exits when the server goes away (its
// IPC channel closes).
import { Cache } from '../../cells/exec/cache.ts';
import type { FromKernel, KernelCalls, KernelRequest } from '../protocol.ts';
import { CallError, NotebookKernel } from './notebook-kernel.ts';

export type BuildLibrary = () => Promise<Record<string, unknown>> | Record<string, unknown>;

export function serveKernel(buildLibrary: BuildLibrary): void {
  if (!process.send) {
    process.stderr.write(`${process.argv[1]} is a kernel: the Promptscope server starts it (it needs an IPC channel)\n`);
    process.exit(2);
  }

  const send = (message: FromKernel) => process.send!(message);
  let kernel: NotebookKernel | null = null;

  function need(): NotebookKernel {
    if (!kernel) throw new CallError('the kernel has not been initialised', 409);
    return kernel;
  }

  type Handlers = { [K in keyof KernelCalls]: (args: KernelCalls[K]['args']) => KernelCalls[K]['result'] | Promise<KernelCalls[K]['result']> };

  const handlers: Handlers = {
    async init(args) {
      if (kernel) throw new CallError('the kernel is already initialised', 409);
      const builtins = await buildLibrary();
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

  // The server went away (closed, crashed): cancel this kernel's cluster jobs, waiting at most 10 s for
  // scancel, then end.
  process.on('disconnect', () => {
    const done = () => process.exit(0);
    setTimeout(done, 10_000).unref();
    (kernel ? kernel.shutdown() : Promise.resolve()).then(done, done);
  });
}
