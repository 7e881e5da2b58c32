// The `promptscope` command: parses arguments, dispatches to a subcommand, and turns errors into a
// message that says what to do and an exit code.
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Cache, defaultCacheDir } from '../cells/exec/cache.ts';
import { NotebookError } from '../cells/engine/errors.ts';
import { NotebookFormatError } from '../cells/engine/notebook.ts';
import { TrustStore } from '../cells/engine/trust.ts';
import { CliError } from './errors.ts';
import { defaultWorkers } from '../cells/exec/executor.ts';
import type { ExecutorChoice } from './run.ts';
// run, serve and model load the cell library, the server or the model code: each is imported only when
// its command runs, so `promptscope --help` or `cache ls` does not pay for tfjs and the whole library.

const HELP = `promptscope — a reactive notebook for prompt tuning of CLIP-style models

Usage: promptscope <command> [options]

Commands:
  run NOTEBOOK        run a notebook headless and write its outputs
  serve [NOTEBOOK]    serve the notebook UI on http://127.0.0.1 (token required)
  trust NOTEBOOK      mark a notebook as trusted so its code may run
  cache ls|du|gc|clear  inspect or clean the feature/training cache
  model ls|pull|verify  manage CLIP checkpoints

Global options:
  --cache DIR         cache directory (default: $PROMPTSCOPE_CACHE or ${defaultCacheDir()})
  -h, --help          help for a command: promptscope run --help
`;

const RUN_HELP = `Usage: promptscope run NOTEBOOK [options]

Runs every cell of NOTEBOOK (an Observable Notebooks 2.0 .html file) without a UI. Progress bars go to
stderr. Cached stages (datasets, features, training) are reused from earlier runs.

Options:
  --set NAME=VALUE    override an input of the notebook (repeatable); VALUE is JSON or text,
                      e.g. --set shots=8 --set 'tasks=["mnist","gtsrb"]'
  --out DIR           write named outputs: tables .csv/.arrow, charts .svg/.png, metrics.json,
                      manifest.json (model and dataset fingerprints, cell statuses, timings)
  --backend B         webgpu | wasm | cpu (default: the fastest available)
  --cache DIR         cache directory
  --trust             trust this notebook (records its hash) and run it
  --timeout SECONDS   fail any cell that runs longer: an awaiting cell is cancelled and the rest of
                      the notebook runs; one stuck in synchronous code stops the run (exit status 1)
  --workers N         independent trainings (a protocol's methods, datasets and seeds) run N at once,
                      each in a worker process (default: one per core up to 4, here ${defaultWorkers()}; 0 or 1: one at a
                      time in the main process); the trained prompts are the same either way

Running on a Slurm cluster (the cache directory must be on a filesystem every node sees):
  --executor E        local (default) | slurm: each heavy stage that misses the cache (training,
                      feature extraction, cached() code) becomes a Slurm job; the rest runs here
  --partition P       sbatch --partition
  --gres G            sbatch --gres, e.g. gpu:1
  --cpus-per-task N   sbatch --cpus-per-task
  --max-jobs N        jobs in the queue at once (default 4); independent study cells run in parallel
  --sbatch-arg ARG    any other sbatch argument (repeatable), e.g. --sbatch-arg=--time=02:00:00

Exit status: 0 when every cell succeeded and every output was written, 1 when a cell failed or an
output could not be written (both are named), 2 on usage errors.
`;

const CACHE_HELP = `Usage: promptscope cache <ls|du|gc|clear> [--cache DIR] [--max-size SIZE]

  ls      list entries (stage, size, created)
  du      total size
  gc      remove least-recently-used entries until the cache fits --max-size (default 10GB), and what
          killed processes left behind; safe while other runs use the cache
  clear   remove everything
`;

const WORKER_USAGE = `Usage: promptscope worker JOBDIR

Internal: what a Slurm job runs (promptscope run --executor slurm submits it). Computes the one stage
JOBDIR/job.json names into the shared cache and writes JOBDIR/result.json.
`;

function intOption(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} must be a whole number${min === 1 ? ' above 0' : ` of ${min} or more`}, not "${v}"`);
  return n;
}

function executorChoice(values: Record<string, string | boolean | string[] | undefined>): ExecutorChoice | undefined {
  const kind = (values.executor as string | undefined) ?? 'local';
  const slurmOnly = ['partition', 'gres', 'cpus-per-task', 'max-jobs', 'sbatch-arg'].filter((k) => values[k] !== undefined);
  if (kind === 'local') {
    if (slurmOnly.length) throw new CliError(`--${slurmOnly[0]} applies to --executor slurm only`);
    return { kind: 'local', workers: intOption('workers', values.workers as string | undefined, 0) };
  }
  if (kind !== 'slurm') throw new CliError(`--executor must be local or slurm, not "${kind}"`);
  if (values.workers !== undefined) throw new CliError('--workers applies to --executor local only (on a cluster: --max-jobs)');
  return {
    kind: 'slurm',
    partition: values.partition as string | undefined,
    gres: values.gres as string | undefined,
    cpusPerTask: intOption('cpus-per-task', values['cpus-per-task'] as string | undefined),
    maxJobs: intOption('max-jobs', values['max-jobs'] as string | undefined),
    sbatchArgs: values['sbatch-arg'] as string[] | undefined,
    // How often the driver polls Slurm (tests shorten it); anything but a positive number keeps the default.
    pollMs: Number(process.env.PROMPTSCOPE_SLURM_POLL_MS) > 0 ? Number(process.env.PROMPTSCOPE_SLURM_POLL_MS) : undefined,
  };
}

function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw new CliError(`cannot read size "${s}" (e.g. 500MB, 10GB)`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

function human(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) (bytes /= 1024), i++;
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

async function cacheCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { cache: { type: 'string' }, 'max-size': { type: 'string' } } });
  const cache = new Cache(values.cache);
  const sub = positionals[0];
  if (sub === 'ls') {
    const entries = await cache.list();
    for (const e of entries) console.log(`${e.key.slice(0, 16)}  ${e.stage.padEnd(24)} ${human(e.bytes).padStart(10)}  ${e.created}`);
    console.log(`${entries.length} entries in ${cache.root}`);
  } else if (sub === 'du') {
    const entries = await cache.list();
    console.log(`${human(entries.reduce((a, e) => a + e.bytes, 0))}\t${entries.length} entries\t${cache.root}`);
  } else if (sub === 'gc') {
    const { removed, freed, swept } = await cache.gc(parseSize(values['max-size'] ?? '10GB'));
    console.log(`removed ${removed} entries, freed ${human(freed)}${swept ? `; swept ${swept} leftovers of killed processes` : ''}`);
  } else if (sub === 'clear') {
    await cache.clear();
    console.log(`cleared ${cache.root}`);
  } else {
    process.stderr.write(CACHE_HELP);
    return 2;
  }
  return 0;
}

/** `kernelEntry`: the bundled serve kernel, from bin/promptscope.js when it runs the bundle. */
export async function main(argv: string[], opts: { kernelEntry?: string } = {}): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(HELP);
      return command ? 0 : 2;
    }
    switch (command) {
      case 'run': {
        if (wantsHelp(rest)) return process.stdout.write(RUN_HELP), 0;
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            set: { type: 'string', multiple: true }, out: { type: 'string' }, backend: { type: 'string' }, cache: { type: 'string' }, trust: { type: 'boolean' }, timeout: { type: 'string' },
            executor: { type: 'string' }, workers: { type: 'string' }, partition: { type: 'string' }, gres: { type: 'string' }, 'cpus-per-task': { type: 'string' }, 'max-jobs': { type: 'string' }, 'sbatch-arg': { type: 'string', multiple: true },
          },
        });
        if (positionals.length !== 1) throw new CliError(`run takes one notebook file\n\n${RUN_HELP}`);
        if (values.backend && !['webgpu', 'wasm', 'cpu'].includes(values.backend)) throw new CliError(`--backend must be webgpu, wasm or cpu, not "${values.backend}"`);
        const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
        if (timeout !== undefined && !(timeout > 0)) throw new CliError(`--timeout must be a number of seconds above 0, not "${values.timeout}"`);
        const { runNotebook } = await import('./run.ts');
        return await runNotebook({ notebook: positionals[0], set: values.set ?? [], out: values.out, backend: values.backend, cache: values.cache, trust: values.trust, timeout, executor: executorChoice(values) });
      }
      case 'worker': {
        if (wantsHelp(rest) || rest.length !== 1) return process.stdout.write(WORKER_USAGE), rest.length === 1 ? 0 : 2;
        const { runWorker } = await import('./worker.ts');
        // The job ends with its stage, even if cells that are not its work are still running.
        process.exit(await runWorker(resolve(rest[0])));
      }
      case 'trust': {
        if (wantsHelp(rest) || rest.length !== 1) return process.stdout.write('Usage: promptscope trust NOTEBOOK\n'), rest.length === 1 ? 0 : 2;
        const text = await readFile(rest[0], 'utf8');
        await new TrustStore().trust(text, resolve(rest[0]));
        console.log(`trusted ${rest[0]}`);
        return 0;
      }
      case 'cache':
        if (wantsHelp(rest)) return process.stdout.write(CACHE_HELP), 0;
        return await cacheCommand(rest);
      case 'model': {
        const { modelCommand, MODEL_HELP } = await import('./model-command.ts');
        if (wantsHelp(rest)) return process.stdout.write(MODEL_HELP), 0;
        return await modelCommand(rest);
      }
      case 'serve': {
        const { serveCommand, SERVE_HELP } = await import('./serve.ts');
        if (wantsHelp(rest)) return process.stdout.write(SERVE_HELP), 0;
        return await serveCommand(rest, opts.kernelEntry);
      }
      default:
        process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof CliError || err instanceof NotebookError || err instanceof NotebookFormatError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${(err as Error).message}\nSee: promptscope ${command} --help\n`);
      return 2;
    }
    throw err;
  }
}
