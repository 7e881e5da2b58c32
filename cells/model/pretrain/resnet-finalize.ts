// The end of ResNet pretraining: write the checkpoint in its Hugging Face-style layout, load it back through
// the ordinary loader (so the numbers are those of the shipped files), evaluate on the CIFAR-10 test set
// (never seen in training), and write metrics.json, the training curve (SVG + PNG) and the model card.
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../util/atomic.ts';
import { vegaLite, renderSvg, svgToPng } from '../../plots/vegalite.ts';
import { currentBackend } from '../backend.ts';
import { saveResNet } from '../resnet/load.ts';
import { load } from '../load.ts';
import type { ResNetModel } from '../resnet/model.ts';
import { resNetAccuracy, type ResNetRunOptions, type ResNetTrainer, type ResNetTrainState } from './resnet-train.ts';
import { loadCifarTestImages, type LabelledImages, type ResNetPretrainData } from './resnet-data.ts';
import { IMAGE_SIZE } from './data.ts';
import { normalizePixels } from '../resnet/preprocess.ts';

export const DEFAULT_RESNET_DIR = fileURLToPath(new URL('../../../data/models/resnet-cifar10/', import.meta.url));

export interface ResNetMetrics {
  model: string;
  fingerprint: string;
  parameters: number;
  sizeBytes: number;
  testAccuracy: number;
  testImages: number;
  perClassTestAccuracy: Record<string, number>;
  finalValAccuracy: number;
  bestValAccuracy: number;
  bestValStep: number;
  stepsTrained: number;
  epochs: number;
  imagesSeen: number;
  trainImages: number;
  valImages: number;
  poolHeldOut: number;
  wallSec: number;
  backend: string;
  machine: string;
  options: Omit<ResNetRunOptions, 'workDir' | 'maxSittingSec' | 'checkpointEverySec'>;
  history: Array<{ step: number; loss: number }>;
  val: ResNetTrainState['val'];
  command: string;
}

function perClass(model: ResNetModel, set: LabelledImages, names: string[]): Record<string, number> {
  const hit = new Array(names.length).fill(0), n = new Array(names.length).fill(0);
  const per = IMAGE_SIZE * IMAGE_SIZE * 3;
  for (let a = 0; a < set.count; a += 250) {
    const b = Math.min(set.count, a + 250);
    const pred = tf.tidy(() => tf.argMax(model.forward(normalizePixels(model.config, set.pixels.subarray(a * per, b * per), b - a)).logits, 1));
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < p.length; i++) {
      const y = set.labels[a + i];
      n[y]++;
      if (p[i] === y) hit[y]++;
    }
  }
  return Object.fromEntries(names.map((c, i) => [c, n[i] ? hit[i] / n[i] : NaN]));
}

async function writeCurve(state: ResNetTrainState, outDir: string, batchSize: number): Promise<void> {
  const h = state.history;
  const rows: Array<Record<string, number | string>> = [];
  for (let i = 0; i < h.length; i += Math.max(1, Math.floor(h.length / 600))) {
    const w = h.slice(Math.max(0, i - 49), i + 1);
    rows.push({ images: h[i].step * batchSize, value: h[i].loss, series: 'loss (per step)' });
    rows.push({ images: h[i].step * batchSize, value: w.reduce((a, p) => a + p.loss, 0) / w.length, series: 'loss (50-step mean)' });
  }
  const val = state.val.map((v) => ({ images: v.step * batchSize, acc: 100 * v.accuracy }));
  const chart = vegaLite({
    title: 'ResNet pretraining on CIFAR-10',
    vconcat: [
      {
        width: 520, height: 200, data: { values: rows }, mark: { type: 'line', strokeWidth: 1 },
        encoding: {
          x: { field: 'images', type: 'quantitative', title: 'images seen' },
          y: { field: 'value', type: 'quantitative', title: 'cross-entropy', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['loss (per step)', 'loss (50-step mean)'], range: ['#9ecae1', '#08519c'] }, legend: { orient: 'top' } },
        },
      },
      {
        width: 520, height: 140, data: { values: val }, mark: { type: 'line', point: true, color: '#d62728' },
        encoding: {
          x: { field: 'images', type: 'quantitative', title: 'images seen', axis: { format: ',d' } },
          y: { field: 'acc', type: 'quantitative', title: 'validation top-1 (%)', scale: { domain: [0, 100] } },
        },
      },
    ],
  });
  const svg = await renderSvg(chart);
  await writeFileAtomic(join(outDir, 'training-curve.svg'), svg);
  await writeFileAtomic(join(outDir, 'training-curve.png'), svgToPng(svg, 1.5));
}

function card(m: ResNetMetrics): string {
  const o = m.options;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  return `---
license: other
library_name: promptscope
tags: [image-classification, resnet, cifar10]
datasets: [cifar10]
metrics: [accuracy]
---
# resnet-cifar10

A small CIFAR-style ResNet pretrained in Promptscope, from scratch, on the CIFAR-10 training images of
\`../shared/datasets/cifar10/train.tar\`, as the frozen CNN backbone for Pro-tuning and its baselines. Load it
with \`loadModel('resnet-cifar10')\` in a notebook, or \`load('resnet-cifar10', { type: 'resnet' })\` (cells/model/load.ts); any
checkpoint of this layout loads the same way.

| | |
|---|---|
| architecture | 3×3 stem (${o.shape.embedding_size} ch), ${o.shape.hidden_sizes.length} stages of basic blocks, widths [${o.shape.hidden_sizes.join(', ')}], blocks [${o.shape.depths.join(', ')}], BatchNorm, global average pool, linear head |
| parameters | ${m.parameters.toLocaleString('en-US')} (plus BatchNorm running statistics) |
| size | ${(m.sizeBytes / 1024).toFixed(0)} KiB (\`model.safetensors\`, float32) |
| **CIFAR-10 test accuracy** | **${pct(m.testAccuracy)}** (${m.testImages.toLocaleString('en-US')} test images, never seen in training) |
| validation accuracy | ${pct(m.finalValAccuracy)} at the end, best ${pct(m.bestValAccuracy)} at step ${m.bestValStep} (${m.valImages} held-out training images) |
| training | ${m.stepsTrained} steps of ${o.batchSize} (${m.epochs} epochs over ${m.trainImages.toLocaleString('en-US')} images), ${(m.wallSec / 60).toFixed(1)} min wall clock |
| machine | ${m.machine}, backend ${m.backend} |
| fingerprint | \`${m.fingerprint}\` |

## Data and what is held out
The CIFAR-10 subset in \`../shared\` holds 3,000 training images per class (lossy JPEGs at quality ≈ 75; see
its README). Of those, the few-shot pool that prompt learners sample their shots from (${m.poolHeldOut} images,
cells/data/splits.ts \`holdOutPool\`, 10% per class, seed ${o.seed}: the same split as mini-CLIP's pretraining,
cells/model/pretrain/data.ts \`splitPool\`) and ${m.valImages / 10} images per class for validation are held out;
the ResNet trains on the remaining ${m.trainImages.toLocaleString('en-US')}. The CIFAR-10 test set is used only for the
accuracy above.

## Recipe
- Cross-entropy; SGD, momentum ${o.momentum}, weight decay ${o.weightDecay} on convolution and head weights
  (not BatchNorm, not biases); learning rate ${o.lr} after ${o.warmupSteps} linear warmup steps, cosine decay to
  ${o.lr * o.minLrFraction}.
- Augmentation: random ${IMAGE_SIZE}×${IMAGE_SIZE} crop of the image zero-padded by ${o.augment.pad} pixels, horizontal flip ${o.augment.flip ? 'with probability ½' : 'off'}.
- Pixels normalised with the training images' per-channel mean [${o.imageMean.join(', ')}] and std [${o.imageStd.join(', ')}] (in config.json).
- Initialisation as torchvision's ResNet (He-normal fan-out convolutions, zero γ on each block's last BatchNorm), seed ${o.seed}.
- One process, one BLAS thread (\`PROMPTSCOPE_BLAS_THREADS=1\`), niced, on the shared build machine while other
  work ran: the wall time is pessimistic.

![training curve](training-curve.png)

Per-class test accuracy: ${Object.entries(m.perClassTestAccuracy).map(([c, a]) => `${c} ${pct(a)}`).join(', ')}.

## Reproduce
\`\`\`
${m.command}
\`\`\`
The run checkpoints to its work directory and resumes after an interruption when the same command runs again;
\`notebooks/pretrain-resnet.html\` runs the same recipe as a cached stage.

## Licence
Weights: trained by Promptscope, under the project's licence. Data: CIFAR-10 (Krizhevsky, Nair & Hinton, 2009)
has no formal licence; its page asks that the tech report *Learning Multiple Layers of Features from Tiny
Images* be cited.
`;
}

export async function finalizeResNet(args: {
  trainer: ResNetTrainer; options: ResNetRunOptions; data: ResNetPretrainData; outDir: string;
  testImages?: number; command?: string; log: (s: string) => void;
}): Promise<ResNetMetrics> {
  const { trainer, options: o, data, outDir, log } = args;
  await saveResNet(trainer.model, outDir);
  // Evaluate what was written, through the ordinary loader.
  const model = await load(outDir, { type: 'resnet' });
  try {
    if (model.fingerprint !== trainer.model.refreshFingerprint()) throw new Error(`finalizeResNet: ${outDir} does not reload to the trained weights`);
    log('decoding the CIFAR-10 test set…');
    const set = (await loadCifarTestImages(undefined, args.testImages)).images;
    const limit = set.count;
    const testAccuracy = resNetAccuracy(model, set);
    log(`CIFAR-10 test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${limit} images`);
    const st = trainer.state;
    const { workDir: _w, maxSittingSec: _s, checkpointEverySec: _c, ...shaping } = o;
    const parameters = [...model.variables.entries()].filter(([n]) => !/running_(mean|var)$/.test(n)).reduce((a, [, v]) => a + v.size, 0);
    const metrics: ResNetMetrics = {
      model: 'resnet-cifar10', fingerprint: model.fingerprint, parameters,
      sizeBytes: statSync(join(outDir, 'model.safetensors')).size,
      testAccuracy, testImages: limit, perClassTestAccuracy: perClass(model, set, data.classNames),
      finalValAccuracy: st.val.at(-1)?.accuracy ?? NaN, bestValAccuracy: st.bestAccuracy, bestValStep: st.bestStep,
      stepsTrained: st.step, epochs: o.epochs, imagesSeen: st.step * o.batchSize, trainImages: data.train.count, valImages: data.val.count,
      poolHeldOut: data.poolSize, wallSec: Math.round(st.wallSec),
      backend: currentBackend(), machine: `${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores visible, ${(totalmem() / 2 ** 30).toFixed(0)} GiB)`,
      options: shaping,
      history: st.history.map((p) => ({ step: p.step, loss: Math.round(p.loss * 1e4) / 1e4 })),
      val: st.val,
      command: args.command ?? `nice -n 10 env PROMPTSCOPE_BLAS_THREADS=1 node --import tsx cli/pretrain.ts --model resnet --work /tmp/resnet-ckpt --epochs ${o.epochs} --seed ${o.seed}`,
    };
    await writeFileAtomic(join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 1) + '\n');
    await writeCurve(st, outDir, o.batchSize);
    await writeFileAtomic(join(outDir, 'README.md'), card(metrics));
    log(`wrote ${outDir}`);
    return metrics;
  } finally {
    model.dispose();
  }
}
