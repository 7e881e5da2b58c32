// ResNet pretraining as one cached, resumable stage (`pretrainResNet(options)`, what
// notebooks/pretrain-resnet.html calls) and as a command for long background runs (cli/pretrain.ts
// --model resnet). The work directory holds the image cache and the checkpoint, so an interrupted run (or
// one that ended a sitting after `maxMinutes`) resumes where it stopped; only a finished run is cached.
// When training ends the model goes to `outDir` (default data/models/resnet-cifar10/) with its card.
import { resolve } from 'node:path';
import { stage, jsonCodec } from '../../exec/index.ts';
import { initBackend } from '../backend.ts';
import { loadResNetPretrainData, channelStats } from './resnet-data.ts';
import { DEFAULT_RESNET_TRAIN, runResNetPretraining, type ResNetRunOptions, type ResNetTrainOptions } from './resnet-train.ts';
import { DEFAULT_RESNET_DIR, finalizeResNet, type ResNetMetrics } from './resnet-finalize.ts';

export interface PretrainResNetOptions extends Partial<ResNetTrainOptions> {
  /** Where config.json, model.safetensors, metrics.json and the model card go (default data/models/resnet-cifar10/). */
  outDir?: string;
  /** End this sitting after so many minutes; call again to resume (default: no limit). */
  maxMinutes?: number;
  checkpointEverySec?: number;
  validateEverySteps?: number;
  /** Use this directory for the image cache and the checkpoint instead of the stage's work directory. */
  workDir?: string;
  /** Evaluate on N CIFAR-10 test images only, the same number of each class (a quick setting); default all 10,000. */
  testImages?: number;
  /** The command that reproduces the run, for the model card. */
  command?: string;
}

export interface PretrainResNetResult {
  outDir: string;
  metrics: ResNetMetrics;
}

/** Options with the recipe's defaults filled in. */
export function resNetTrainOptions(o: Partial<ResNetTrainOptions>): ResNetTrainOptions {
  return {
    ...DEFAULT_RESNET_TRAIN, ...o,
    shape: { ...DEFAULT_RESNET_TRAIN.shape, ...(o.shape ?? {}) }, augment: { ...DEFAULT_RESNET_TRAIN.augment, ...(o.augment ?? {}) },
  };
}

/** Trains (or resumes) in `workDir` and exports when done; throws when a sitting ends before the last step. */
export async function trainAndExportResNet(workDir: string, opts: PretrainResNetOptions, cb: { log: (s: string) => void; progress?: (f: number, m: string) => void; signal?: AbortSignal }): Promise<PretrainResNetResult> {
  const { outDir = DEFAULT_RESNET_DIR, maxMinutes, checkpointEverySec = 120, validateEverySteps = 200, workDir: _w, testImages, command, ...train } = opts;
  const o = resNetTrainOptions(train);
  const data = await loadResNetPretrainData(workDir, { seed: o.seed, log: cb.log });
  const stats = channelStats(data.train);
  cb.log(`train ${data.train.count} CIFAR-10 images, validation ${data.val.count}; few-shot pool held out: ${data.poolSize}; mean ${stats.mean} std ${stats.std}`);
  const run: ResNetRunOptions = {
    ...o, workDir, maxSittingSec: (maxMinutes ?? Infinity) * 60, checkpointEverySec, validateEverySteps,
    imageMean: stats.mean, imageStd: stats.std, classNames: data.classNames,
  };
  const trainer = await runResNetPretraining(run, data.train, data.val, { log: cb.log, progress: (f, m) => cb.progress?.(0.95 * f, m), signal: cb.signal });
  try {
    if (trainer.state.step < trainer.state.totalSteps) {
      throw new Error(`pretrainResNet: this sitting ended at step ${trainer.state.step} of ${trainer.state.totalSteps} (checkpoint in ${workDir}); run again to resume`);
    }
    cb.progress?.(0.96, 'evaluating on the CIFAR-10 test set and exporting');
    const metrics = await finalizeResNet({ trainer, options: run, data, outDir, testImages, command, log: cb.log });
    return { outDir, metrics };
  } finally {
    trainer.dispose();
  }
}

export async function pretrainResNet(opts: PretrainResNetOptions = {}): Promise<PretrainResNetResult> {
  // The key holds what shapes the result: the recipe with its defaults filled in (so `{epochs: 14}` and `{}`
  // are one run), validation and test settings. How a sitting runs (its time limit, checkpoint interval,
  // folder, the command recorded on the card) is not in it, so changing those resumes the same run.
  const { maxMinutes: _m, checkpointEverySec: _c, workDir: _w, command: _cmd, outDir: _o, validateEverySteps = 200, testImages, ...train } = opts;
  // The output folder joins the key as an absolute path: a relative one names a different folder from
  // another working directory, and a hit must mean the files are where the result says.
  const outDir = resolve(opts.outDir ?? DEFAULT_RESNET_DIR);
  return stage(
    { name: 'pretrainResNet', version: 3, heavy: true, params: { outDir, validateEverySteps, testImages: testImages ?? null, train: resNetTrainOptions(train) } },
    jsonCodec<PretrainResNetResult>(),
    async (ctx) => {
      await initBackend('wasm');
      const workDir = opts.workDir ?? (await ctx.workDir());
      return trainAndExportResNet(workDir, { ...opts, outDir }, { log: ctx.log, progress: ctx.progress, signal: ctx.signal });
    },
  );
}
