// Worker module for the data-parallel test: a small MLP classifier built from the compute ops.
import * as tf from '@tensorflow/tfjs';
import { linear, quickGelu, softmaxCrossEntropy } from '../../cells/model/ops/index.ts';
import { lossAndGradsOf, type Batch, type TrainerSetup } from '../../bench/support/data-parallel/index.ts';

export interface MlpConfig { inDim: number; hidden: number; classes: number; seed: number; lr: number; failOnRows?: number; flatAdam?: boolean }

let vars: tf.Variable[] = [];
let cfg: MlpConfig;

export function buildMlp(c: MlpConfig): tf.Variable[] {
  let s = c.seed;
  const v = (shape: number[], std: number, _name: string) => tf.variable(tf.randomNormal(shape, 0, std, 'float32', s++), true);
  return [v([c.inDim, c.hidden], c.inDim ** -0.5, 'w1'), v([c.hidden], 0.1, 'b1'), v([c.hidden, c.classes], c.hidden ** -0.5, 'w2')];
}

export function mlpLoss(w: tf.Variable[], x: tf.Tensor, y: tf.Tensor1D): tf.Scalar {
  const h = quickGelu(linear(x, w[0] as unknown as tf.Tensor2D, w[1] as unknown as tf.Tensor1D));
  return softmaxCrossEntropy(linear(h, w[2] as unknown as tf.Tensor2D) as tf.Tensor2D, y);
}

export function setup(c: MlpConfig): TrainerSetup {
  cfg = c;
  vars = buildMlp(c);
  return { variables: vars, optimizer: c.flatAdam ? { learningRate: c.lr } : tf.train.adam(c.lr) };
}

export function lossAndGrads(batch: Batch) {
  if (cfg.failOnRows !== undefined && batch.x.shape[0] === cfg.failOnRows) throw new Error('deliberate failure');
  const x = tf.tensor(batch.x.data, batch.x.shape);
  const y = tf.tensor1d(batch.y.data as Int32Array, 'int32');
  const out = lossAndGradsOf(vars, () => mlpLoss(vars, x, y));
  tf.dispose([x, y]);
  return out;
}

/** Inference over a shard (for DataParallel.map): row sums of the hidden features. */
export async function features(x: { data: Float32Array; shape: number[] }): Promise<Float32Array> {
  const out = tf.tidy(() => quickGelu(linear(tf.tensor(x.data, x.shape), vars[0] as unknown as tf.Tensor2D, vars[1] as unknown as tf.Tensor1D)).sum(1));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}
