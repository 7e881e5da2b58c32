// The trainers the kill -9 harness (resume-harness.ts) drives, each with a tiny configuration: how a
// child process runs it (train-child.ts calls `run`), which file is its resume checkpoint, and how far a
// checkpoint on disk has got. Heavy modules are imported inside `run`, so the parent (the test or the
// bench) stays light.
//
// `run` writes the run's final result as a safetensors file: the learned tensors as stored (their bytes)
// and, as JSON metadata, every metric an uninterrupted run reproduces (losses, accuracies, learning rates,
// step counts, the linear probe's sweep, pretraining history and validation). Wall-clock fields are left
// out; everything else is compared byte for byte.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, serializeSafetensors, type TensorToWrite } from '../../cells/util/safetensors.ts';
import { syntheticImageSet } from '../support/synthetic-images.ts';
import { resnetPretrain } from '../pretrain/resnet-resume-trainer.ts';

export interface ChildIO {
  /** Directory the run keeps its state in (a cache directory, or pretraining's work directory). */
  root: string;
  /** Called once the inputs are ready and training is about to start (timer kills count from here). */
  ready(): void;
  /** One training step (or probe fit) finished; `label` names it the same way in every run. */
  step(label: string): void;
  /** Extra facts about this sitting (not compared): e.g. the epoch the run resumed after. */
  info(facts: Record<string, unknown>): void;
}

export interface TrainerSpec {
  name: string;
  /** Basename of the file the trainer resumes from. */
  checkpoint: string;
  /** Trains to the end (resuming from `root` when there is a checkpoint) and returns the result file. */
  run(io: ChildIO): Promise<Uint8Array>;
  /** The progress a checkpoint under `root` records (epoch, step), or undefined when there is none. */
  progressOf(root: string): Promise<string | undefined>;
  /** Where checkpoint files live under `root` (for the temp-file census). */
  checkpointDirs(root: string): string[];
}

/** Directories holding a stage's work directory (…/v1/work/<key>) under a cache root. */
function workDirs(cacheDir: string): string[] {
  const work = join(cacheDir, 'v1', 'work');
  if (!existsSync(work)) return [];
  return readdirSync(work).map((d) => join(work, d));
}

async function promptCheckpointEpoch(cacheDir: string): Promise<string | undefined> {
  for (const dir of workDirs(cacheDir)) {
    const f = join(dir, 'checkpoint.safetensors');
    if (existsSync(f)) return `epoch ${(await readSafetensors(f)).metadata.epoch}`;
  }
  return undefined;
}

interface TrainedLike {
  state: Record<string, { shape: number[]; data: Float32Array }>;
  curve: { epoch: number; lr: number; loss: number; acc: number }[];
  steps: number;
  epochs: number;
  method: string;
  config: Record<string, unknown>;
  classNames: string[];
  taskKey: string;
  resumedAfterEpoch: number;
  sweep?: unknown;
}

/** A TrainedPrompt as a result file: prompt tensors + the metrics an uninterrupted run reproduces. */
function promptResult(p: TrainedLike): Uint8Array {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [k, t] of Object.entries(p.state)) tensors[`state.${k}`] = { shape: t.shape, data: t.data };
  const metrics = {
    method: p.method, config: p.config, epochs: p.epochs, steps: p.steps, classNames: p.classNames, taskKey: p.taskKey,
    curve: p.curve.map((c) => ({ epoch: c.epoch, lr: c.lr, loss: c.loss, acc: c.acc })),
    sweep: p.sweep ?? null,
  };
  return serializeSafetensors(tensors, { metrics: JSON.stringify(metrics) });
}

/**
 * One sitting of a cached prompt-training stage in a private cache under `io.root`: training steps (and the
 * linear probe's fits) reported from the stage's progress, `ready` called by `train` once its inputs are
 * built, and the trained prompt returned as a result file.
 */
async function promptSitting(io: ChildIO, train: (ready: () => void) => Promise<TrainedLike>): Promise<Uint8Array> {
  const { testCell } = await import('./helpers.ts');
  let fits = 0;
  const cell = testCell(io.root);
  cell.ctx.progress = (u) => {
    const m = /epoch (\d+)\/\d+ step (\d+)\//.exec(u.message ?? '');
    if (m) io.step(`${m[1]}.${m[2]}`);
    else if (u.message?.startsWith('trainPrompt: λ=')) io.step(`fit ${++fits}`);
  };
  const trained = await cell.run(() => train(() => io.ready()));
  io.info({ resumedAfterEpoch: trained.resumedAfterEpoch, workDirsLeft: workDirs(io.root).length });
  return promptResult(trained);
}

/** Single-task prompt training (trainPrompt's stage, in a private cache) on fixture-tiny + MNIST. */
function promptSpec(name: string, method: string, config: Record<string, unknown>, epochs: number, batchSize: number, optim: Record<string, unknown> = {}): TrainerSpec {
  return {
    name,
    checkpoint: 'checkpoint.safetensors',
    progressOf: promptCheckpointEpoch,
    checkpointDirs: workDirs,
    async run(io) {
      const { initBackend } = await import('../../cells/model/backend.ts');
      const { fewShotTask } = await import('../../cells/prompts/task.ts');
      const { trainPrompt } = await import('../../cells/prompts/train.ts');
      const { fixtureModel, mnistSmall } = await import('./helpers.ts');
      await initBackend('wasm');
      const model = await fixtureModel();
      const source = await mnistSmall();
      return promptSitting(io, async (ready) => {
        const task = await fewShotTask(model, source, { shots: 2, seed: 4, poolPerClass: 6, testPerClass: 4 });
        ready();
        return trainPrompt(model, task, { method, config, epochs, optim: { batchSize, lr: 0.01, ...optim } });
      });
    },
  };
}

/**
 * Visual reprogramming with resnet-cifar10 as the source (its own 10-label head) and the semantic mapping,
 * the class names matched under mini-CLIP's text encoder: the CNN path (folded BatchNorm, direct convolution
 * kernels on the tape) and the name encoder's features, which a resumed sitting computes again.
 */
const resnetSemantic: TrainerSpec = {
  name: 'visual-reprogramming-resnet-semantic',
  checkpoint: 'checkpoint.safetensors',
  progressOf: promptCheckpointEpoch,
  checkpointDirs: workDirs,
  async run(io) {
    const { initBackend } = await import('../../cells/model/backend.ts');
    const { backboneOf, load } = await import('../../cells/model/index.ts');
    const { bundledSource, fewShotTask } = await import('../../cells/prompts/task.ts');
    const { trainPrompt } = await import('../../cells/prompts/train.ts');
    await initBackend('wasm');
    const model = await backboneOf(await load('resnet-cifar10', { type: 'resnet' }));
    const source = await bundledSource('cifar10');
    return promptSitting(io, async (ready) => {
      const task = await fewShotTask(model, source, { shots: 2, seed: 5, poolPerClass: 6, testPerClass: 4 });
      ready();
      return trainPrompt(model, task, {
        method: 'visual-reprogramming', epochs: 8,
        config: { design: 'padding', mapping: 'semantic', sourceLabels: 'model', nameEncoder: 'mini-clip' },
        optim: { batchSize: 10, lr: 1, warmupEpochs: 0 },
      });
    });
  },
};

/** MVLPT joint training on two MNIST tasks (digits 0–4, 5–9), pooled batches with per-task masks. */
const multitask: TrainerSpec = {
  name: 'multitask',
  checkpoint: 'checkpoint.safetensors',
  progressOf: promptCheckpointEpoch,
  checkpointDirs: workDirs,
  async run(io) {
    const { initBackend } = await import('../../cells/model/backend.ts');
    const { makeTask } = await import('../../cells/studies/tasks.ts');
    const { multitaskPrompt } = await import('../../cells/studies/multitask.ts');
    const { fixtureModel, mnistSmall } = await import('./helpers.ts');
    await initBackend('wasm');
    const model = await fixtureModel();
    const mnist = (await mnistSmall()).train;
    const low = makeTask(mnist, { name: 'digits 0-4', classes: [0, 1, 2, 3, 4], poolPerClass: 6 });
    const high = makeTask(mnist, { name: 'digits 5-9', classes: [5, 6, 7, 8, 9], poolPerClass: 6 });
    return promptSitting(io, (ready) => {
      ready();
      return multitaskPrompt(model, [low, high], { method: 'upt', config: { n: 2 }, epochs: 5, optim: { batchSize: 4, lr: 0.01 } }, { shots: 2, seed: 3, testPerClass: 4 });
    });
  },
};

/**
 * TaI-DPT's text-only training (trainTaIDPT's stage, its own loop over texts with the ranking loss, in a
 * private cache) on fixture-tiny and a dozen real sentences plus templates: 4 steps per epoch.
 */
const taidpt: TrainerSpec = {
  name: 'taidpt',
  checkpoint: 'checkpoint.safetensors',
  progressOf: promptCheckpointEpoch,
  checkpointDirs: workDirs,
  async run(io) {
    const { initBackend } = await import('../../cells/model/backend.ts');
    const { load } = await import('../../cells/model/index.ts');
    const { textTrainingSet } = await import('../../cells/prompts/caption-labels.ts');
    const { CIFAR10_SYNONYMS } = await import('../../cells/prompts/tai-synonyms.ts');
    const { trainTaIDPT } = await import('../../cells/prompts/taidpt.ts');
    const { sharedPath } = await import('../support/shared.ts');
    await initBackend('wasm');
    const model = await load(sharedPath('clip/fixture-tiny'), { id: 'fixture-tiny' });
    const set = textTrainingSet([
      'transport by boat or aircraft', 'a speedy car', 'corral the horses', 'a young dog', 'a puppy chasing a kitten',
      'small slender toads', 'a large owl of North America', 'a truck equipped to carry firemen', 'a deer grazing', 'a ship at sea',
      'the act of crossing a river in a car or on a horse', 'a bird on a branch',
    ], CIFAR10_SYNONYMS, ['a photo of a {}.', 'a picture of a {}.']);
    return promptSitting(io, async (ready) => {
      ready();
      const t = await trainTaIDPT(model, set, { config: { nCtx: 4, maxTokens: 16 }, optim: { lr: 0.05, batchSize: 8 }, epochs: 4, seed: 1 });
      return { ...t, config: { ...t.config, optim: t.optim }, taskKey: t.textSetFingerprint };
    });
  },
};

/** The stored history without wall-clock fields (wallSec sums this sitting's time, not the run's). */
function timeless(state: { history: { wallSec?: number }[] } & Record<string, unknown>): unknown {
  const { wallSec: _w, history, ...rest } = state as { wallSec?: number; history: { wallSec?: number }[] };
  return { ...rest, history: history.map(({ wallSec: _h, ...h }) => h) };
}

/** mini-CLIP pretraining (runPretraining: AdamW, validation, best/last checkpoints) on a tiny model. */
const pretrain: TrainerSpec = {
  name: 'pretrain',
  checkpoint: 'last.safetensors',
  checkpointDirs: (root) => [root],
  async progressOf(root) {
    const f = join(root, 'last.safetensors');
    if (!existsSync(f)) return undefined;
    const st = JSON.parse((await readSafetensors(f)).metadata.state) as { step: number };
    return `step ${st.step}`;
  },
  async run(io) {
    const { initBackend } = await import('../../cells/model/backend.ts');
    const { DEFAULT_TRAIN, runPretraining } = await import('../../cells/model/pretrain/train.ts');
    const { loadLexicon } = await import('../../cells/model/pretrain/lexicon.ts');
    await initBackend('wasm');
    const train = syntheticImageSet(4, 7);
    const val = syntheticImageSet(1, 8);
    const o = {
      ...DEFAULT_TRAIN,
      shape: { visionWidth: 32, visionLayers: 1, visionHeads: 2, patchSize: 8, textWidth: 32, textLayers: 1, textHeads: 2, projectionDim: 16, logitScaleInit: Math.log(10) },
      batchSize: 16, warmupSteps: 2, totalSteps: 11, lr: 3e-3, augment: { maxShift: 1, flip: true },
      // A resuming sitting gets another time limit than the first, as a user resuming with another
      // --minutes: only options that shape the trajectory may decide whether a checkpoint resumes.
      workDir: io.root, maxSittingSec: existsSync(join(io.root, 'last.safetensors')) ? 7200 : 3600, checkpointEverySec: 0, validateEverySteps: 4,
    };
    let resumedAt = -1;
    io.ready();
    const trainer = await runPretraining(o, loadLexicon(), train, val, {
      // Reported at step 1 and every 10th.
      progress: (_f, message) => {
        const m = /^step (\d+)\//.exec(message);
        if (m) io.step(`step ${m[1]}`);
      },
      log: (line) => {
        const m = /^resumed from .* at step (\d+)/.exec(line);
        if (m) resumedAt = Number(m[1]);
      },
    });
    trainer.dispose();
    const tensors: Record<string, TensorToWrite> = {};
    const metrics: Record<string, unknown> = {};
    for (const file of ['last', 'best']) {
      const f = await readSafetensors(join(io.root, `${file}.safetensors`));
      for (const n of f.names()) {
        const t = f.get(n);
        tensors[`${file}/${n}`] = { shape: t.shape, data: t.data, dtype: t.dtype as TensorToWrite['dtype'] };
      }
      // The stored options hold the sitting's own settings (work directory, time limit), not the run's.
      const { state, options, ...meta } = f.metadata;
      const { workDir: _d, maxSittingSec: _m, ...runOptions } = JSON.parse(options);
      metrics[file] = { ...meta, options: runOptions, state: timeless(JSON.parse(state)) };
    }
    const leftovers = readdirSync(io.root).filter((n) => n.endsWith('.tmp'));
    io.info({ resumedAtStep: resumedAt, tempFilesLeft: leftovers.length });
    return serializeSafetensors(tensors, { metrics: JSON.stringify(metrics) });
  },
};

export const TRAINERS: TrainerSpec[] = [
  promptSpec('coop', 'coop', { nCtx: 2 }, 6, 4),
  promptSpec('vpt', 'vpt', { tokens: 2, depth: 'deep' }, 3, 5),
  promptSpec('upt', 'upt', { n: 2 }, 5, 4),
  promptSpec('linear-probe', 'linear-probe', {}, 1, 32),
  multitask,
  pretrain,
];

/** Run by their own test files (label-mapping-resume, protuning-resume, taidpt-resume, pretrain/resnet-resume), not by resume.test.ts. */
export const EXTRA_TRAINERS: TrainerSpec[] = [
  // ILM: the label mapping is recomputed before every epoch from the prompt and checkpointed with it.
  promptSpec('visual-reprogramming-ilm', 'visual-reprogramming', {
    design: 'padding', mapping: 'iterative', sourceTemplates: ['a photo of a {}.'],
    sourceLabels: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'cat', 'dog', 'ship', 'truck'],
  }, 3, 5),
  // ILM-VP's optimiser (Adam, step decay): Adam's two moments and step count are checkpointed with the prompt.
  promptSpec('visual-reprogramming-ilm-adam', 'visual-reprogramming', {
    design: 'padding', mapping: 'iterative', sourceTemplates: ['a photo of a {}.'],
    sourceLabels: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'cat', 'dog', 'ship', 'truck'],
  }, 3, 5, { optimizer: 'adam', weightDecay: 0, warmupEpochs: 0, schedule: 'step', milestones: [0.5], gamma: 0.1 }),
  // A CNN source with the semantic mapping (names through mini-CLIP's text encoder).
  resnetSemantic,
  // Pro-tuning (blocks before every ViT layer + β + head) and full fine-tuning (a private copy of the
  // vision tower + head): test/prompts/protuning-resume.test.ts.
  promptSpec('protuning', 'protuning', {}, 3, 5),
  promptSpec('finetune', 'finetune', {}, 3, 5),
  // TaI-DPT: trained on texts with its own loop (test/prompts/taidpt-resume.test.ts).
  taidpt,
  // ResNet pretraining (the CNN backbone of Pro-tuning): test/pretrain/resnet-resume.test.ts.
  resnetPretrain,
];

export function trainerNamed(name: string): TrainerSpec {
  const t = [...TRAINERS, ...EXTRA_TRAINERS].find((x) => x.name === name);
  if (!t) throw new Error(`unknown trainer "${name}" (have: ${TRAINERS.map((x) => x.name).join(', ')})`);
  return t;
}
