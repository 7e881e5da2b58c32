// mini-CLIP pretraining as one cached, resumable stage: `pretrainMiniClip(options)` is what the notebook
// (notebooks/pretrain-mini-clip.html) calls. The stage's work directory holds the image cache and the
// checkpoints, so a run interrupted (or ended by `maxMinutes`) resumes where it stopped on the next call;
// only a finished run is cached. It writes the model to `outDir` (default data/models/mini-clip/).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stage } from '../../exec/index.ts';
import { jsonCodec } from '../../exec/index.ts';
import { initBackend } from '../backend.ts';
import { loadLexicon } from './lexicon.ts';
import { loadPretrainData } from './data.ts';
import { DEFAULT_TRAIN, runPretraining } from './train.ts';
import type { TrainOptions, RunOptions } from './train.ts';
import { DEFAULT_MODEL_DIR, finalizeMiniClip } from './finalize.ts';

export { DEFAULT_TRAIN } from './train.ts';
export { DEFAULT_SHAPE } from './mini-clip-model.ts';
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
  /**
   * A second phase (warm restart) from the end of the first: its own warmup and cosine. The shipped
   * mini-CLIP used { totalSteps: 750, lr: 6e-4, warmupSteps: 30 } after a 900-step first phase.
   */
  restart?: { totalSteps: number; lr: number; warmupSteps: number };
}

export interface PretrainMiniClipResult {
  outDir: string;
  metrics: Record<string, unknown>;
}

export async function pretrainMiniClip(opts: PretrainMiniClipOptions = {}): Promise<PretrainMiniClipResult> {
  const { outDir = DEFAULT_MODEL_DIR, maxMinutes, checkpointEverySec = 180, validateEverySteps = 150, quickEval = false, workDir: fixedDir, restart, ...train } = opts;
  const o: TrainOptions = { ...DEFAULT_TRAIN, ...train, shape: { ...DEFAULT_TRAIN.shape, ...(train.shape ?? {}) }, augment: { ...DEFAULT_TRAIN.augment, ...(train.augment ?? {}) } };
  return stage(
    { name: 'pretrainMiniClip', version: 1, heavy: true, params: { train: o, restart: restart ?? null, outDir, quickEval } },
    jsonCodec<PretrainMiniClipResult>(),
    async (ctx) => {
      await initBackend('wasm');
      const workDir = fixedDir ?? (await ctx.workDir());
      const data = await loadPretrainData(workDir, { seed: o.seed, log: ctx.log });
      const lex = loadLexicon();
      const share = restart ? 0.6 : 0.95;
      const phase = async (p: TrainOptions, dir: string, from: number, span: number): Promise<void> => {
        mkdirSync(dir, { recursive: true });
        const run: RunOptions = { ...p, workDir: dir, maxSittingSec: (maxMinutes ?? Infinity) * 60, checkpointEverySec, validateEverySteps };
        const trainer = await runPretraining(run, lex, data.train, data.val, { log: ctx.log, progress: (f, m) => ctx.progress(from + span * f, m), signal: ctx.signal });
        const step = trainer.state.step;
        trainer.dispose();
        if (step < p.totalSteps) {
          throw new Error(`pretrainMiniClip: this sitting ended at step ${step} of ${p.totalSteps} (checkpoint in ${dir}); run the cell again to resume`);
        }
      };
      let lastDir = workDir;
      if (!restart) await phase(o, workDir, 0, share);
      else {
        const dir1 = join(workDir, 'phase1');
        await phase(o, dir1, 0, share);
        const init = join(dir1, 'last.safetensors');
        const sha256 = createHash('sha256').update(readFileSync(init)).digest('hex');
        lastDir = join(workDir, 'phase2');
        await phase({ ...o, ...restart, initFrom: { path: init, sha256 } }, lastDir, share, 0.95 - share);
      }
      ctx.progress(0.96, 'exporting and evaluating');
      const metrics = await finalizeMiniClip({ workDir: lastDir, dataDir: workDir, outDir, quick: quickEval, log: ctx.log });
      return { outDir, metrics };
    },
  );
}
