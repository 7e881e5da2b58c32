// Command-line entry for a long background run (resumable):
//   node --import tsx cli/pretrain.ts --work <dir> [--minutes 90] [--steps 900] [--patch 8] [--batch 128] [--seed 0] [--lr 1e-3] [--warmup 80] [--init <checkpoint of an earlier phase>]
//   node --import tsx cli/pretrain.ts --model resnet --work <dir> [--epochs 14] [--minutes 600] [--seed 0] [--lr 0.1] [--batch 128] [--out data/models/resnet-cifar10]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { initBackend } from '../cells/model/backend.ts';
import { loadLexicon } from '../cells/model/pretrain/lexicon.ts';
import { loadPretrainData } from '../cells/model/pretrain/data.ts';
import { DEFAULT_TRAIN, runPretraining } from '../cells/model/pretrain/train.ts';
import type { RunOptions } from '../cells/model/pretrain/train.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

/** --init <checkpoint>: a second phase from an earlier run's checkpoint (hash pinned in the fingerprint). */
function initFromArg(): { path: string; sha256: string } | undefined {
  const p = arg('init', '');
  if (!p) return undefined;
  return { path: resolve(p), sha256: createHash('sha256').update(readFileSync(p)).digest('hex') };
}

if (arg('model', 'mini-clip') === 'resnet') {
  const { runResNetCommand } = await import('./pretrain-resnet.ts');
  await runResNetCommand(process.argv.slice(2));
  process.exit(0);
}

const backend = await initBackend((arg('backend', 'wasm')) as 'wasm');
const workDir = arg('work', 'out/pretrain-mini-clip');
const seed = Number(arg('seed', '0'));
const o: RunOptions = {
  ...DEFAULT_TRAIN,
  seed,
  shape: { ...DEFAULT_TRAIN.shape, patchSize: Number(arg('patch', String(DEFAULT_TRAIN.shape.patchSize))), visionLayers: Number(arg('vlayers', String(DEFAULT_TRAIN.shape.visionLayers))) },
  batchSize: Number(arg('batch', String(DEFAULT_TRAIN.batchSize))),
  totalSteps: Number(arg('steps', String(DEFAULT_TRAIN.totalSteps))),
  warmupSteps: Number(arg('warmup', String(DEFAULT_TRAIN.warmupSteps))),
  lr: Number(arg('lr', String(DEFAULT_TRAIN.lr))),
  workDir,
  initFrom: initFromArg(),
  maxSittingSec: 60 * Number(arg('minutes', '600')),
  checkpointEverySec: Number(arg('ckpt', '180')),
  validateEverySteps: Number(arg('val', '200')),
};
const log = (s: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
log(`backend ${backend}; options ${JSON.stringify(o)}`);
const data = await loadPretrainData(workDir, { seed, log });
log(`train ${data.train.count} images, val ${data.val.count}, few-shot pools held out: CIFAR-10 ${data.poolSizes.cifar10}, Fashion-MNIST ${data.poolSizes.fashion}`);
const trainer = await runPretraining(o, loadLexicon(), data.train, data.val, { log });
log(`stopped at step ${trainer.state.step}; best val step ${trainer.state.bestStep} (${(100 * trainer.state.bestScore).toFixed(1)}% mean)`);
