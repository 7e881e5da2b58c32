// The optimiser state every prompt training loop shares (train.ts for the image learners, taidpt.ts for
// text-trained prompts): PyTorch's SGD with momentum and weight decay over a set of variables, and the
// per-epoch checkpoint that stores the variables *and* their momentum, so a killed run resumes exactly.
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../util/safetensors.ts';
import type { OptimConfig } from './optim.ts';
import { variableFrom } from './state.ts';

/** One epoch of a training curve. */
export interface CurvePoint {
  epoch: number;
  lr: number;
  loss: number;
  acc: number;
  ms: number;
}

export class MomentumSGD {
  private readonly momentum: tf.Variable[];

  constructor(private readonly vars: tf.Variable[]) {
    this.momentum = vars.map((v) => variableFrom(tf.zerosLike(v), false));
  }

  /** PyTorch SGD: g ← g + wd·θ; m ← μ·m + g; θ ← θ − lr·m. */
  step(grads: tf.NamedTensorMap, optim: OptimConfig, lr: number): void {
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const g = grads[v.name];
        if (!g) return; // a variable the loss does not reach this step (e.g. unused deep layer)
        const gw = optim.weightDecay ? g.add(v.mul(optim.weightDecay)) : g;
        const m = this.momentum[i].mul(optim.momentum).add(gw);
        this.momentum[i].assign(m);
        v.assign(v.sub(m.mul(lr)));
      });
    });
  }

  /** Restores variables and momentum from `path` if it exists: the last finished epoch (0-based) and the curve so far. */
  async restore(path: string | undefined): Promise<{ epoch: number; curve: CurvePoint[] } | null> {
    if (!path || !existsSync(path)) return null;
    const file = await readSafetensors(path);
    this.vars.forEach((v, i) => assignFrom(v, file.get(`prompt.v${i}`).data as Float32Array, path));
    this.momentum.forEach((m, i) => assignFrom(m, file.get(`momentum.v${i}`).data as Float32Array, path));
    return { epoch: Number(file.metadata.epoch), curve: JSON.parse(file.metadata.curve) as CurvePoint[] };
  }

  /** Writes variables, momentum, the finished epoch and the curve (safetensors, atomically). */
  async save(path: string, epoch: number, curve: CurvePoint[], format: string): Promise<void> {
    const tensors: Record<string, TensorToWrite> = {};
    this.vars.forEach((v, i) => (tensors[`prompt.v${i}`] = { shape: v.shape.slice(), data: v.dataSync() as Float32Array }));
    this.momentum.forEach((m, i) => (tensors[`momentum.v${i}`] = { shape: m.shape.slice(), data: m.dataSync() as Float32Array }));
    await writeSafetensors(path, tensors, { epoch: String(epoch), curve: JSON.stringify(curve), format });
  }

  dispose(): void {
    tf.dispose(this.momentum);
  }
}

function assignFrom(v: tf.Variable, data: Float32Array, file: string): void {
  if (data.length !== v.size) throw new Error(`${file}: checkpoint tensor has ${data.length} values, the prompt variable ${v.size}; delete the file to start over`);
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}
