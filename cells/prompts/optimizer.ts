// The optimiser state every prompt training loop shares (train.ts for the image learners, taidpt.ts for
// text-trained prompts): PyTorch's SGD with momentum and weight decay, or PyTorch's Adam (ILM-VP's recipe),
// over a set of variables, and the per-epoch checkpoint that stores the variables *and* the optimiser's
// moments, so a killed run resumes exactly.
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

const ADAM_BETA1 = 0.9, ADAM_BETA2 = 0.999, ADAM_EPS = 1e-8;

export class PromptOptimizer {
  /** SGD's momentum buffer, or Adam's first moment. */
  private readonly first: tf.Variable[];
  /** Adam's second moment (empty for SGD). */
  private readonly second: tf.Variable[];
  /** Adam's step count, for its bias correction (checkpointed). */
  private adamSteps = 0;
  private readonly adam: boolean;

  constructor(private readonly vars: tf.Variable[], optim: OptimConfig) {
    this.adam = optim.optimizer === 'adam';
    this.first = vars.map((v) => variableFrom(tf.zerosLike(v), false));
    this.second = this.adam ? vars.map((v) => variableFrom(tf.zerosLike(v), false)) : [];
  }

  /**
   * SGD (PyTorch): g ← g + wd·θ; m ← μ·m + g; θ ← θ − lr·m.
   * Adam (PyTorch): g ← g + wd·θ; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ ← θ − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε).
   */
  step(grads: tf.NamedTensorMap, optim: OptimConfig, lr: number): void {
    if (this.adam) this.adamSteps++;
    const t = this.adamSteps;
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const g = grads[v.name];
        if (!g) return; // a variable the loss does not reach this step (e.g. unused deep layer)
        const gw = optim.weightDecay ? g.add(v.mul(optim.weightDecay)) : g;
        if (!this.adam) {
          const m = this.first[i].mul(optim.momentum).add(gw);
          this.first[i].assign(m);
          v.assign(v.sub(m.mul(lr)));
          return;
        }
        const m = this.first[i].mul(ADAM_BETA1).add(gw.mul(1 - ADAM_BETA1));
        const s = this.second[i].mul(ADAM_BETA2).add(gw.square().mul(1 - ADAM_BETA2));
        this.first[i].assign(m);
        this.second[i].assign(s);
        const denom = s.div(1 - ADAM_BETA2 ** t).sqrt().add(ADAM_EPS);
        v.assign(v.sub(m.div(1 - ADAM_BETA1 ** t).div(denom).mul(lr)));
      });
    });
  }

  /** Restores variables and moments from `path` if it exists: the last finished epoch (0-based) and the curve so far. */
  async restore(path: string | undefined): Promise<{ epoch: number; curve: CurvePoint[] } | null> {
    if (!path || !existsSync(path)) return null;
    const file = await readSafetensors(path);
    const saved = file.metadata.optimizer ?? 'sgd';
    if (saved !== (this.adam ? 'adam' : 'sgd')) throw new Error(`${path}: the checkpoint was written by ${saved}, this run uses ${this.adam ? 'adam' : 'sgd'}; delete the file to start over`);
    this.vars.forEach((v, i) => assignFrom(v, file.get(`prompt.v${i}`).data as Float32Array, path));
    this.first.forEach((m, i) => assignFrom(m, file.get(`momentum.v${i}`).data as Float32Array, path));
    this.second.forEach((s, i) => assignFrom(s, file.get(`second.v${i}`).data as Float32Array, path));
    this.adamSteps = Number(file.metadata.adamSteps ?? 0);
    return { epoch: Number(file.metadata.epoch), curve: JSON.parse(file.metadata.curve) as CurvePoint[] };
  }

  /** Writes variables, moments, the finished epoch and the curve (safetensors, atomically). */
  async save(path: string, epoch: number, curve: CurvePoint[], format: string): Promise<void> {
    const tensors: Record<string, TensorToWrite> = {};
    const put = (prefix: string, list: tf.Variable[]) =>
      list.forEach((x, i) => (tensors[`${prefix}.v${i}`] = { shape: x.shape.slice(), data: x.dataSync() as Float32Array }));
    put('prompt', this.vars);
    put('momentum', this.first);
    put('second', this.second);
    // SGD checkpoints keep their earlier layout (no optimizer fields), so runs killed before this change resume.
    const adam: Record<string, string> = this.adam ? { optimizer: 'adam', adamSteps: String(this.adamSteps) } : {};
    await writeSafetensors(path, tensors, { epoch: String(epoch), curve: JSON.stringify(curve), format, ...adam });
  }

  dispose(): void {
    tf.dispose([...this.first, ...this.second]);
  }
}

function assignFrom(v: tf.Variable, data: Float32Array, file: string): void {
  if (data.length !== v.size) throw new Error(`${file}: checkpoint tensor has ${data.length} values, the prompt variable ${v.size}; delete the file to start over`);
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}
