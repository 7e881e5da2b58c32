// `cli/pretrain.ts --model resnet`: ResNet pretraining as a long background command. Resumable: run the same
// command again after an interruption. Exports to --out (default data/models/resnet-cifar10) when done.
import { initBackend, currentBackend } from '../cells/model/backend.ts';
import { trainAndExportResNet } from '../cells/model/pretrain/resnet.ts';
import { DEFAULT_RESNET_TRAIN } from '../cells/model/pretrain/resnet-train.ts';

export async function runResNetCommand(argv: string[]): Promise<void> {
  const arg = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
  };
  const num = (name: string, def: number): number => {
    const v = Number(arg(name, String(def)));
    if (!Number.isFinite(v)) throw new Error(`--${name} must be a number, got "${arg(name, '')}"`);
    return v;
  };
  // One positive integer per stage, and as many depths as widths (the stages' block counts and channels).
  const ints = (name: string, def: number[]): number[] => {
    const raw = arg(name, def.join(','));
    const v = raw.split(',').map(Number);
    if (!v.length || v.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`--${name} must be positive integers separated by commas (one per stage), got "${raw}"`);
    return v;
  };
  const d = DEFAULT_RESNET_TRAIN;
  const depths = ints('depths', d.shape.depths);
  const widths = ints('widths', d.shape.hidden_sizes);
  if (depths.length !== widths.length) throw new Error(`--depths has ${depths.length} stages but --widths has ${widths.length}; give one of each per stage`);
  await initBackend('wasm');
  const log = (s: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
  const opts = {
    seed: num('seed', d.seed), epochs: num('epochs', d.epochs), lr: num('lr', d.lr), batchSize: num('batch', d.batchSize),
    warmupSteps: num('warmup', d.warmupSteps),
    shape: { ...d.shape, depths, hidden_sizes: widths, embedding_size: num('stem', d.shape.embedding_size) },
    maxMinutes: num('minutes', 600), checkpointEverySec: num('ckpt', 120), validateEverySteps: num('val', 200),
    outDir: arg('out', '') || undefined,
    testImages: argv.includes('--test-images') ? num('test-images', 10000) : undefined,
    command: `nice -n 10 env PROMPTSCOPE_BLAS_THREADS=1 node --import tsx cli/pretrain.ts ${argv.join(' ')}`,
  };
  log(`backend ${currentBackend()}; options ${JSON.stringify(opts)}`);
  const result = await trainAndExportResNet(arg('work', 'out/pretrain-resnet'), opts, { log });
  log(`done: CIFAR-10 test accuracy ${(100 * result.metrics.testAccuracy).toFixed(2)}%, written to ${result.outDir}`);
}
