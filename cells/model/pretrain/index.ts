// mini-CLIP pretraining as one cached, resumable stage: `pretrainMiniClip(options)` is what the notebook
// (notebooks/pretrain-mini-clip.html) calls. The stage's work directory holds the image cache and the
// checkpoints, so a run interrupted (or ended by `maxMinutes`) resumes where it stopped on the next call;
// only a finished run is cached. It writes the model to `outDir` (default data/models/mini-clip/).
import { stage } from '../../engine/stage.ts';
import { jsonCodec } from '../../engine/codecs.ts';
import { initBackend } from '../backend.ts';
import { loadLexicon } from './lexicon.ts';
import { loadPretrainData } from './data.ts';
import { DEFAULT_TRAIN, runPretraining } from './train.ts';
import type { TrainOptions, RunOptions } from './train.ts';
import { DEFAULT_MODEL_DIR, finalizeMiniClip } from './finalize.ts';

export { DEFAULT_TRAIN } from './train.ts';
export { DEFAULT_SHAPE } from './model.ts';
export { HELDOUT_TEMPLATES, TRAIN_TEMPLATES } from './captions.ts';
export { finalizeMiniClip } from './finalize.ts';

export interface PretrainMiniClipOptions extends Partial<TrainOptions> {
  /** Where the HF checkpoint and model card go (default data/models/mini-clip/). */
  outDir?: string;
  /** End this sitting after so many minutes; call again to resume (default: no limit). */
  maxMinutes?: number;
  checkpointEverySec?: number;
  validateEverySteps?: number;
  /** Evaluate on the bundled subsets only (fast) instead of the full test sets in ../shared. */
  quickEval?: boolean;
  /** Use this directory for the cache and checkpoints instead of the stage's work directory. */
  workDir?: string;
}

export interface PretrainMiniClipResult {
  outDir: string;
  metrics: Record<string, unknown>;
}

export async function pretrainMiniClip(opts: PretrainMiniClipOptions = {}): Promise<PretrainMiniClipResult> {
  const { outDir = DEFAULT_MODEL_DIR, maxMinutes, checkpointEverySec = 180, validateEverySteps = 150, quickEval = false, workDir: fixedDir, ...train } = opts;
  const o: TrainOptions = { ...DEFAULT_TRAIN, ...train, shape: { ...DEFAULT_TRAIN.shape, ...(train.shape ?? {}) }, augment: { ...DEFAULT_TRAIN.augment, ...(train.augment ?? {}) } };
  return stage(
    { name: 'pretrainMiniClip', version: 1, params: { train: o, outDir, quickEval } },
    jsonCodec<PretrainMiniClipResult>(),
    async (ctx) => {
      await initBackend('wasm');
      const workDir = fixedDir ?? (await ctx.workDir());
      const data = await loadPretrainData(workDir, { seed: o.seed, log: ctx.log });
      const run: RunOptions = { ...o, workDir, maxSittingSec: (maxMinutes ?? Infinity) * 60, checkpointEverySec, validateEverySteps };
      const trainer = await runPretraining(run, loadLexicon(), data.train, data.val, { log: ctx.log, progress: (f, m) => ctx.progress(0.95 * f, m), signal: ctx.signal });
      const step = trainer.state.step;
      trainer.dispose();
      if (step < o.totalSteps) {
        throw new Error(`pretrainMiniClip: this sitting ended at step ${step} of ${o.totalSteps} (checkpoint in ${workDir}); run the cell again to resume`);
      }
      ctx.progress(0.96, 'exporting and evaluating');
      const metrics = await finalizeMiniClip({ workDir, outDir, quick: quickEval, log: ctx.log });
      return { outDir, metrics };
    },
  );
}
