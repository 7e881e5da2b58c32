// ResNet pretraining (runResNetPretraining, cells/model/pretrain/resnet-train.ts) as a trainer of the kill -9
// harness (test/prompts/resume-harness.ts; registered in resume-trainers.ts so that train-child.ts finds it):
// a tiny CIFAR ResNet on synthetic images (test/support/synthetic-images.ts, nothing from ../shared), SGD
// with momentum and weight decay, warmup + cosine, crop-and-flip augmentation, validation every 4 steps, and
// a checkpoint after every step (checkpointEverySec 0), so every step's end is a checkpoint boundary the
// harness can see and kill at, and the timeline is the same in every run.
//
// The result file: the final checkpoint's tensors (weights, BatchNorm running statistics, momentum buffers)
// and the in-memory model's weights as the sitting returns them, byte for byte; as metadata, the
// checkpoint's fingerprint and the training state (loss and learning rate of every step, validation
// accuracies, best step) without its wall-clock fields.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, serializeSafetensors, type TensorToWrite } from '../../cells/util/safetensors.ts';
import type { ResNetHistoryPoint, ResNetRunOptions, ResNetTrainState } from '../../cells/model/pretrain/resnet-train.ts';
import { syntheticImageSet } from '../support/synthetic-images.ts';
import type { TrainerSpec } from '../prompts/resume-trainers.ts';

export const RESNET_CHECKPOINT = 'last.safetensors';

/** The tiny run: 40 training images, batch 8 → 5 steps an epoch, 2 epochs = 10 steps. */
export const RESNET_RESUME_STEPS = 10;

/** The step a checkpoint under `root` records, or undefined when there is none (throws when it is unreadable). */
export async function resNetCheckpointStep(root: string): Promise<number | undefined> {
  const f = join(root, RESNET_CHECKPOINT);
  if (!existsSync(f)) return undefined;
  return (JSON.parse((await readSafetensors(f)).metadata.state) as ResNetTrainState).step;
}

export const resnetPretrain: TrainerSpec = {
  name: 'resnet-pretrain',
  checkpoint: RESNET_CHECKPOINT,
  checkpointDirs: (root) => [root],
  async progressOf(root) {
    const step = await resNetCheckpointStep(root);
    return step === undefined ? undefined : `step ${step}`;
  },
  async run(io) {
    const { initBackend } = await import('../../cells/model/backend.ts');
    const { DEFAULT_RESNET_TRAIN, runResNetPretraining } = await import('../../cells/model/pretrain/resnet-train.ts');
    await initBackend('wasm');
    const train = syntheticImageSet(2, 7);
    const val = syntheticImageSet(1, 8);
    const o: ResNetRunOptions = {
      ...DEFAULT_RESNET_TRAIN,
      seed: 3,
      shape: { embedding_size: 4, hidden_sizes: [4, 8], depths: [1, 1] },
      batchSize: 8, epochs: 2, lr: 0.05, warmupSteps: 2, minLrFraction: 0.01, momentum: 0.9, weightDecay: 5e-4,
      augment: { pad: 2, flip: true },
      // A resuming sitting gets another time limit than the first, as a user resuming with another
      // --minutes: only options that shape the trajectory may decide whether a checkpoint resumes.
      workDir: io.root, maxSittingSec: existsSync(join(io.root, RESNET_CHECKPOINT)) ? 7200 : 3600,
      checkpointEverySec: 0, validateEverySteps: 4,
      imageMean: [0.5, 0.45, 0.4], imageStd: [0.25, 0.25, 0.25],
      classNames: Array.from({ length: 20 }, (_, i) => `class ${i}`),
    };
    let resumedAt = -1;
    io.ready();
    const trainer = await runResNetPretraining(o, train, val, {
      log: (line) => {
        const m = /^resumed from .* at step (\d+)/.exec(line);
        if (m) resumedAt = Number(m[1]);
      },
    });
    const tensors: Record<string, TensorToWrite> = {};
    try {
      for (const w of trainer.model.exportWeights()) tensors[`final/${w.name}`] = { shape: w.shape, data: w.data };
    } finally {
      trainer.dispose();
    }
    const f = await readSafetensors(join(io.root, RESNET_CHECKPOINT));
    for (const n of f.names()) {
      const t = f.get(n);
      tensors[`checkpoint/${n}`] = { shape: t.shape, data: t.data, dtype: t.dtype as TensorToWrite['dtype'] };
    }
    // wallSec (of the run and of every history point) sums sittings' wall time: not reproducible.
    const { wallSec: _w, history, ...state } = JSON.parse(f.metadata.state) as ResNetTrainState;
    const metrics = { fingerprint: f.metadata.fingerprint, state: { ...state, history: history.map(({ wallSec: _h, ...h }: ResNetHistoryPoint) => h) } };
    const leftovers = readdirSync(io.root).filter((n) => n.endsWith('.tmp'));
    io.info({ resumedAtStep: resumedAt, tempFilesLeft: leftovers.length, stepsDone: state.step });
    return serializeSafetensors(tensors, { metrics: JSON.stringify(metrics) });
  },
};
