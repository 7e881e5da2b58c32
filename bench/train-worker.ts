// Worker module for bench/train.ts's data-parallel rows: one tower (or a frozen tower + prompt tokens)
// per worker, built from the same seed in every worker.
import * as tf from '@tensorflow/tfjs';
import { lossAndGradsOf, type Batch, type TrainerSetup } from './support/data-parallel/index.ts';
import { towers, initParams, loss, encode, opsByName, type Params, type TowerConfig } from './tower.ts';

export interface BenchWorkerConfig { tower: string; formulation: 'fast' | 'plain'; promptTokens?: number }

let c: TowerConfig;
let p: Params;
let prompts: tf.Variable | undefined;
let trainables: tf.Variable[];
let ops = opsByName.fast;

export function setup(cfg: BenchWorkerConfig): TrainerSetup {
  c = towers[cfg.tower];
  ops = opsByName[cfg.formulation];
  p = initParams(c, 7, !cfg.promptTokens);
  if (cfg.promptTokens) {
    prompts = tf.variable(tf.randomNormal([cfg.promptTokens, c.width], 0, 0.02, 'float32', 5), true, 'prompts');
    trainables = [prompts];
  } else {
    trainables = Object.values(p);
  }
  // The fused JavaScript Adam on the averaged flat gradient (same rule as tf.train.adam).
  return { variables: trainables, optimizer: cfg.formulation === 'fast' ? { learningRate: 1e-4 } : tf.train.adam(1e-4) };
}

function inputOf(batch: Batch): tf.Tensor {
  return tf.tensor(batch.input.data, batch.input.shape, c.kind === 'vision' ? 'float32' : 'int32');
}

export function lossAndGrads(batch: Batch) {
  const input = inputOf(batch);
  const labels = tf.tensor1d(batch.labels.data as Int32Array, 'int32');
  const out = lossAndGradsOf(trainables, () => loss(ops, c, p, input, labels, prompts as tf.Tensor2D | undefined));
  tf.dispose([input, labels]);
  return out;
}

/** Frozen-feature extraction of a shard: the final-LN states of the pooled token, [rows, width]. */
export async function extract(batch: Batch): Promise<Float32Array> {
  const out = tf.tidy(() => {
    const h = encode(ops, c, p, inputOf(batch));
    return h.slice([0, 0, 0], [h.shape[0]!, 1, c.width]);
  });
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}
