// An image-trained multi-label prompt (a DualCoOp-lite): the comparison point and fusion partner of TaI-DPT
// (taidpt.ts). Where TaI-DPT trains its two prompts on texts, this trains the same two shared contexts, global
// and local, on labelled multi-label IMAGES (2×2 mosaics of a pool of real images, cells/data/mosaic.ts): the
// image embedding against the global prompt, the patch features (softmax over locations at temperature τ)
// against the local one, the same ranking loss on each, the same loop (fitDualPrompts). It is "lite" against
// DualCoOp (Sun et al., 2022): no positive/negative prompt pair and no learned per-class spatial weighting —
// one prompt per branch, so the only thing that differs from TaI-DPT is what the prompts were trained on.
//
// The pool must not share source images with the evaluation set: the notebook and bench/taidpt.ts draw it
// from CIFAR-10's *train* split (../shared/datasets/cifar10/train.tar), the evaluation mosaics from the bundled
// *test* subset; test/prompts/multilabel-image.test.ts checks no tile's pixels occur in both.
import { join } from 'node:path';
import { stage, valueCodec, type StageContext } from '../exec/index.ts';
import { backboneOf, currentBackend, type CLIPModel } from '../model/index.ts';
import type { MultiLabelImageSet } from '../data/mosaic.ts';
import type { OptimConfig } from './optim.ts';
import type { CurvePoint } from './optimizer.ts';
import type { PromptState } from './trainer.ts';
import { registerMultiLabelMethod } from './registry.ts';
import { fitDualPrompts, mosaicFeatures, resolveDualPromptRun, TaIDPTPrompts, type DenseImageSet } from './taidpt.ts';

export interface ImagePromptConfig {
  /** Context tokens per prompt (global and local each). */
  nCtx: number;
  /** Std of the N(0, σ²) initialisation. */
  initStd: number;
  /** Softmax temperature over image locations, in training and at test time (TaI-DPT's test-time τ). */
  tau: number;
  /** Weight of the local score in the final one: (1 − w)·global + w·local (test time only). */
  localWeight: number;
}
/**
 * localWeight 0 (its global prompt alone, CoOp-style, at test time): chosen on validation mosaics of CIFAR-10
 * train images disjoint from the pool and from the test set (`EVAL=val node --import tsx bench/taidpt.ts`), where
 * on mini-CLIP its local branch scored at chance (36.1 mAP, chance 34.3) and dragged the merged score below its
 * global one (43.8 vs 46.4; one-seed probe, 60 epochs at lr 2e-3). Both prompts are still trained; set localWeight 0.5 for the paper's merge.
 */
export const IMAGE_PROMPT_DEFAULTS: ImagePromptConfig = { nCtx: 16, initStd: 0.02, tau: 40, localWeight: 0 };
/**
 * CoOp's few-shot recipe scaled to a small pool: SGD momentum 0.9, wd 5e-4, batch 32 images, 1 warm-up epoch at
 * 1e-5 then cosine (batch 512 as for texts would leave a 200-mosaic pool one step an epoch). lr 1e-3, chosen on
 * the validation mosaics: at CoOp's 2e-3 one seed in three collapsed to chance (36.4 mAP), at 1e-3 all three
 * land at 46.1–46.4 (1e-2 and 3e-2: 41.5 and 36.0 on seed 1).
 */
export const IMAGE_PROMPT_OPTIM: OptimConfig = { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4, batchSize: 32, warmupEpochs: 1, warmupLr: 1e-5, dropLast: false };

export interface ImagePromptOptions {
  config?: Partial<ImagePromptConfig>;
  optim?: Partial<OptimConfig>;
  /** Default 20. */
  epochs?: number;
  seed?: number;
}

export interface TrainedImagePrompt {
  method: 'image-multilabel';
  config: ImagePromptConfig;
  optim: OptimConfig;
  epochs: number;
  seed: number;
  classNames: string[];
  modelFingerprint: string;
  /** The training pool's fingerprint (mosaicSet's: source, seed, tiles and pixels). */
  poolFingerprint: string;
  images: number;
  state: PromptState;
  curve: CurvePoint[];
  backend: string;
  resumedAfterEpoch: number;
  steps: number;
  msPerStep: number;
}

/**
 * Stage: the two prompts trained on a labelled mosaic pool; keyed by the pool's fingerprint, the training
 * config, optimiser, epochs, seed and model. `localWeight` (and any fusion weight) is test-time only and
 * left out of the key.
 */
export async function trainImageMultiLabel(model: CLIPModel, pool: MultiLabelImageSet, opts: ImagePromptOptions = {}): Promise<TrainedImagePrompt> {
  const r = resolveDualPromptRun('image multi-label prompt', IMAGE_PROMPT_DEFAULTS, IMAGE_PROMPT_OPTIM, opts);
  // The pool's image features are their own cached stage, read before (not inside) the training stage.
  const feats = await mosaicFeatures(model, pool);
  const { localWeight: _localWeight, ...trainingConfig } = r.config;
  const trained = await stage(
    {
      // 2: fitDualPrompts' step takes the local cosines class-major (taidpt.ts; the same up to rounding).
      name: 'trainImageMultiLabel', version: 2, heavy: true,
      params: { config: trainingConfig, optim: r.optim, epochs: r.epochs, seed: r.seed },
      inputs: [model.fingerprint, pool.fingerprint],
      pins: [{ kind: 'model', name: model.id, fingerprint: model.fingerprint }],
    },
    valueCodec<TrainedImagePrompt>(),
    async (ctx) => runImageMultiLabel(model, pool, feats, r, ctx, join(await ctx.workDir(), 'checkpoint.safetensors')),
  );
  return { ...trained, config: r.config };
}

/** The training run itself (the stage's body; exported for tests that drive it without the cache). */
export async function runImageMultiLabel(
  model: CLIPModel, pool: MultiLabelImageSet, feats: DenseImageSet, r: { config: ImagePromptConfig; optim: OptimConfig; epochs: number; seed: number },
  ctx: Pick<StageContext, 'signal' | 'progress' | 'log'>, checkpoint?: string,
): Promise<TrainedImagePrompt> {
  const { config, optim, epochs, seed } = r;
  const label = `trainImageMultiLabel(${pool.classNames.length} classes, ${pool.count} images, seed ${seed})`;
  if (pool.count === 0) throw new Error(`${label}: the pool has no images`);
  if (feats.n !== pool.count) throw new Error(`${label}: ${feats.n} image features for ${pool.count} pool images; compute them with mosaicFeatures(model, pool)`);
  const backbone = await backboneOf(model);
  const prompts = new TaIDPTPrompts(backbone, pool.classNames, config, seed);
  try {
    const fit = await fitDualPrompts(prompts, {
      n: feats.n, L: feats.L, P: feats.P, C: pool.classNames.length, global: feats.global, local: feats.patches, mask: null, labels: pool.labels,
    }, config.tau, { optim, epochs, seed }, ctx, { label, checkpoint, format: 'promptscope-image-multilabel-checkpoint' });
    return {
      method: 'image-multilabel', config, optim, epochs, seed, classNames: pool.classNames.slice(), modelFingerprint: model.fingerprint,
      poolFingerprint: pool.fingerprint, images: pool.count, state: prompts.save(), backend: currentBackend(), ...fit,
    };
  } finally {
    prompts.dispose();
  }
}

registerMultiLabelMethod<MultiLabelImageSet, ImagePromptOptions, TrainedImagePrompt>('image-multilabel', {
  trainsOn: 'images',
  describe: 'image-trained multi-label prompt (DualCoOp-lite): a global and a local prompt trained on labelled multi-label images',
  train: trainImageMultiLabel,
});
