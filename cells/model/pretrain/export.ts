// From a pretraining checkpoint to the shipped model: data/models/mini-clip/{config.json, model.safetensors}
// in Hugging Face CLIPModel layout (float16 storage, logit_scale float32), plus the loss-curve plot.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../util/safetensors.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { vegaLite, renderSvg, svgToPng } from '../../plots/vegalite.ts';
import { PretrainModel, miniClipConfig } from './mini-clip-model.ts';
import type { PriorPhases, TrainOptions, TrainState } from './train.ts';

export interface LoadedCheckpoint {
  model: PretrainModel;
  options: TrainOptions;
  state: TrainState;
  backend: string;
}

/** Rebuild the model of a checkpoint (parameters only; no optimizer, no data). */
export async function loadCheckpointModel(path: string): Promise<LoadedCheckpoint> {
  const f = await readSafetensors(path);
  const meta = f.metadata ?? {};
  if (!meta.options || !meta.state) throw new Error(`${path}: not a mini-CLIP pretraining checkpoint (no options/state metadata)`);
  const options = JSON.parse(meta.options) as TrainOptions;
  const state = JSON.parse(meta.state) as TrainState;
  const vocabIds = f.get('vocab_ids').data as Int32Array;
  const model = new PretrainModel(miniClipConfig(options.shape), vocabIds, options.seed);
  for (const [name, v] of model.params()) v.assign(tf.tensor(f.get(`param/${name}`).data as Float32Array, v.shape));
  const full = model.clip.tokenEmbedding;
  full.assign(tf.tensor(f.get('token_table').data as Float32Array, full.shape));
  return { model, options, state, backend: meta.backend ?? 'unknown' };
}

/** Write config.json + model.safetensors (atomic per file). Returns the safetensors size in bytes. */
export async function exportModel(model: PretrainModel, outDir: string, dtype: 'F16' | 'F32' = 'F16'): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const { config, tensors } = await model.exportHF(dtype);
  await writeSafetensors(join(outDir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeFileAtomic(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const { statSync } = await import('node:fs');
  return statSync(join(outDir, 'model.safetensors')).size;
}

/** Loss curve (per-step loss and a 25-step moving average) and the temperature, as SVG and PNG. */
export async function writeLossCurve(state: PriorPhases, outDir: string, batchSize: number): Promise<void> {
  const rows: Record<string, number | string>[] = [];
  const h = state.history;
  for (let i = 0; i < h.length; i++) {
    const w = h.slice(Math.max(0, i - 24), i + 1);
    const avg = w.reduce((a, p) => a + p.loss, 0) / w.length;
    rows.push({ images: h[i].imagesSeen, value: h[i].loss, series: 'loss (per step)' });
    rows.push({ images: h[i].imagesSeen, value: avg, series: 'loss (25-step mean)' });
  }
  const val = state.val.flatMap((v) => [
    { images: v.step * batchSize, acc: 100 * v.cifar10, set: 'CIFAR-10 (val, held-out templates)' },
    { images: v.step * batchSize, acc: 100 * v.fashion, set: 'Fashion-MNIST (val, held-out templates)' },
  ]);
  const chart = vegaLite({
    title: 'mini-CLIP pretraining',
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      {
        width: 520, height: 200, data: { values: rows }, mark: { type: 'line', strokeWidth: 1 },
        encoding: {
          x: { field: 'images', type: 'quantitative', title: 'images seen' },
          y: { field: 'value', type: 'quantitative', title: 'contrastive loss', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['loss (per step)', 'loss (25-step mean)'], range: ['#9ecae1', '#08519c'] }, legend: { orient: 'top', labelLimit: 300 } },
        },
      },
      {
        width: 520, height: 140, data: { values: val }, mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'images', type: 'quantitative', title: 'images seen', axis: { format: ',d' } },
          y: { field: 'acc', type: 'quantitative', title: 'zero-shot top-1 (%)', scale: { domain: [0, 100] } },
          color: { field: 'set', type: 'nominal', title: null, scale: { range: ['#d62728', '#2ca02c'] }, legend: { orient: 'top', labelLimit: 300 } },
        },
      },
    ],
  });
  const svg = await renderSvg(chart);
  await writeFileAtomic(join(outDir, 'loss-curve.svg'), svg);
  await writeFileAtomic(join(outDir, 'loss-curve.png'), svgToPng(svg, 1.5));
}
