// `promptscope serve`: the notebook UI over HTTP on loopback, guarded by a random token.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { Cache } from '../cells/exec/cache.ts';
import { startServer } from '../desktop/server/server.ts';
import { runSettings } from '../desktop/server/validate.ts';
import { CliError } from './errors.ts';

export const SERVE_HELP = `Usage: promptscope serve [NOTEBOOK] [--port P] [--host H] [--cache DIR]

Serves the notebook UI at http://127.0.0.1:P/?token=… (the URL is printed). Every request needs the
token. A notebook you have not trusted opens read-only until you press "Trust".
The cells run in a kernel process: the URL is printed before any cell runs, Interrupt stops a cell that
is stuck (restarting the kernel if it must), Restart replaces the kernel; finished stages are cached.
Binds 127.0.0.1 unless --host says otherwise; to reach a remote machine, tunnel instead:
  ssh -L 8888:127.0.0.1:8888 gpu-box   (run serve --port 8888 there), then open the printed URL here.

  NOTEBOOK   the .html notebook to open (default: notebooks/quickstart.html); a new path starts an
             empty notebook saved there
  --port P   port (default 8888; 0 picks a free one)
  --host H   interface to bind (default 127.0.0.1)

Where heavy stages run at first (the UI's "Run:" settings change it): --executor local|slurm, and for
slurm --partition P, --gres G (e.g. gpu:1), --max-jobs N, as for promptscope run.
`;

/** `kernelEntry`: the bundled kernel bin/promptscope.js found fresh (else the kernel's TypeScript through tsx). */
export async function serveCommand(args: string[], kernelEntry?: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string' }, host: { type: 'string' }, cache: { type: 'string' },
      executor: { type: 'string' }, partition: { type: 'string' }, gres: { type: 'string' }, 'max-jobs': { type: 'string' },
    },
  });
  // The same checks as the UI's settings panel, so a flag the panel would refuse fails here too.
  let run;
  try {
    run = runSettings({
      executor: values.executor ?? 'local', partition: values.partition, gres: values.gres,
      maxJobs: values['max-jobs'] === undefined ? undefined : Number(values['max-jobs']),
    });
  } catch (err) {
    throw new CliError(`serve: ${(err as Error).message.replace(/^run settings: /, '')}`);
  }
  if (run.executor === 'local' && (values.partition || values.gres || values['max-jobs'])) throw new CliError('--partition, --gres and --max-jobs apply to --executor slurm only');
  const notebookPath = resolve(positionals[0] ?? new URL('../notebooks/quickstart.html', import.meta.url).pathname);
  const port = Number(values.port ?? 8888);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not "${values.port}"`);
  const server = await startServer({ notebookPath, cache: new Cache(values.cache), host: values.host, port, run, kernelEntry });
  if (server.host !== '127.0.0.1' && server.host !== 'localhost' && server.host !== '::1') {
    process.stderr.write(`warning: listening on ${server.host}: anyone who can reach it and has the token can run code here\n`);
  }
  process.stdout.write(`Promptscope is serving ${notebookPath}\nOpen: ${server.url}\n(Ctrl-C to stop)\n`);
  await new Promise<void>((done) => {
    const stop = () => void server.close().then(done);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
