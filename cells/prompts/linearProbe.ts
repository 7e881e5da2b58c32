// Linear probe (CLIP §3.2, CoOp's baseline): multinomial logistic regression on frozen, cached image
// features, with the L2 strength chosen on the few-shot validation split. CLIP used scikit-learn's L-BFGS
// with a search over C; here each λ is fit full-batch (the whole few-shot set is one batch) with Adam to
// near convergence (plain JS: tiny problems), the best λ by validation accuracy (ties → stronger regularisation) is kept, and the
// final weights are refit on the training split with it, as CoOp does.
import * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from '../model/index.ts';
import { linear } from '../model/ops/index.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, FitData, FitReport, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { loadState, saveState, variableFrom } from './state.ts';

/** Linear probe (CLIP §3.2 / CoOp): L2-regularised multinomial logistic regression on frozen features. */
export interface LinearProbeConfig {
  /** Regularisation strengths λ swept on the validation split (weight decay on W, CLIP's 1/C). */
  lambdas: number[];
  iterations: number;
}
export const LINEAR_PROBE_DEFAULTS: LinearProbeConfig = {
  lambdas: [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1],
  iterations: 300,
};

export class LinearProbeTrainer implements PromptTrainer<LinearProbeConfig> {
  readonly method = 'linear-probe';
  readonly input = 'features' as const;
  private config!: LinearProbeConfig;
  private w!: tf.Variable;
  private b!: tf.Variable;
  private nClasses = 0;

  init(model: PromptBackbone, task: TaskClasses, config: LinearProbeConfig, _seed: number, from?: PromptState): void {
    this.config = config;
    this.nClasses = task.classNames.length;
    // Zero init: the problem is convex, so the start only matters for speed, and zeros make it seed-free.
    this.w = variableFrom(tf.zeros([model.config.projectionDim, this.nClasses]), true);
    this.b = variableFrom(tf.zeros([this.nClasses]), true);
    if (from) this.load(from);
  }

  bindTask(task: TaskClasses): void {
    if (task.classNames.length !== this.nClasses) throw new Error(`linear-probe: the probe has ${this.nClasses} classes, task "${task.name}" has ${task.classNames.length}; a probe cannot change tasks`);
  }

  variables(): tf.Variable[] {
    return [this.w, this.b];
  }

  logits(batch: Batch, _training = false, _seed = 0): tf.Tensor2D {
    if (!batch.features) throw new Error('linear-probe: batches must carry cached image features');
    return linear(batch.features, this.w as unknown as tf.Tensor2D, this.b as unknown as tf.Tensor1D) as tf.Tensor2D;
  }


  /**
   * Full-batch Adam on the L2-regularised cross-entropy, in plain float64 JS: a few-shot probe is at
   * most a few thousand rows × P × C, where per-op dispatch in tfjs would cost far more than the math.
   * Returns the final training loss; leaves the weights in `this.w`/`this.b`.
   */
  private fitOne(x: Float32Array, y: Int32Array, D: number, lambda: number): number {
    const C = this.nClasses, N = y.length;
    const W = new Float64Array(D * C), b = new Float64Array(C);
    const gW = new Float64Array(D * C), gb = new Float64Array(C);
    const m = new Float64Array(D * C + C), v = new Float64Array(D * C + C);
    const z = new Float64Array(C);
    const lr = 0.05, b1 = 0.9, b2 = 0.999;
    let loss = 0;
    for (let it = 1; it <= this.config.iterations; it++) {
      gW.fill(0);
      gb.fill(0);
      loss = 0;
      for (let i = 0; i < N; i++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) {
          let s = b[c];
          for (let d = 0; d < D; d++) s += x[i * D + d] * W[d * C + c];
          z[c] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let c = 0; c < C; c++) sum += (z[c] = Math.exp(z[c] - max));
        loss -= Math.log(z[y[i]] / sum) / N;
        for (let c = 0; c < C; c++) {
          const g = (z[c] / sum - (c === y[i] ? 1 : 0)) / N;
          gb[c] += g;
          for (let d = 0; d < D; d++) gW[d * C + c] += g * x[i * D + d];
        }
      }
      for (let k = 0; k < D * C; k++) {
        loss += (lambda / 2) * W[k] * W[k];
        gW[k] += lambda * W[k];
      }
      const c1 = 1 - b1 ** it, c2 = 1 - b2 ** it;
      const step = (arr: Float64Array, g: Float64Array, off: number) => {
        for (let k = 0; k < arr.length; k++) {
          m[off + k] = b1 * m[off + k] + (1 - b1) * g[k];
          v[off + k] = b2 * v[off + k] + (1 - b2) * g[k] * g[k];
          arr[k] -= (lr * (m[off + k] / c1)) / (Math.sqrt(v[off + k] / c2) + 1e-8);
        }
      };
      step(W, gW, 0);
      step(b, gb, D * C);
    }
    const wt = tf.tensor2d(Float32Array.from(W), [D, C]), bt = tf.tensor1d(Float32Array.from(b));
    this.w.assign(wt);
    this.b.assign(bt);
    tf.dispose([wt, bt]);
    return loss;
  }

  private accuracy(x: Float32Array, labels: Int32Array, D: number): number {
    const pred = tf.tidy(() => this.logits({ labels, features: tf.tensor2d(x, [labels.length, D]) }).argMax(-1).dataSync());
    let ok = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) ok++;
    return labels.length ? ok / labels.length : 0;
  }

  fit(data: FitData, signal: AbortSignal, progress: (fraction: number, message: string) => void): FitReport {
    const D = data.dim;
    // Every λ would score 0 on no images and the tie rule would pick the strongest: say so instead.
    if (data.val.labels.length === 0 && this.config.lambdas.length > 1) throw new Error('linear-probe: the task has no validation images to choose λ on; use a task with validation shots (fewShotTask) or a single λ (config.lambdas: [λ])');
    const sweep: FitReport['sweep'] = [];
    const lambdas = this.config.lambdas;
    lambdas.forEach((lambda, i) => {
      signal.throwIfAborted();
      const trainLoss = this.fitOne(data.train.features, data.train.labels, D, lambda);
      sweep.push({ lambda, valAcc: this.accuracy(data.val.features, data.val.labels, D), trainLoss });
      progress((i + 1) / (lambdas.length + 1), `λ=${lambda.toExponential(0)} val acc ${(sweep[i].valAcc * 100).toFixed(1)}%`);
    });
    let best = sweep[0];
    for (const s of sweep) if (s.valAcc > best.valAcc || (s.valAcc === best.valAcc && s.lambda > best.lambda)) best = s;
    this.fitOne(data.train.features, data.train.labels, D, best.lambda);
    progress(1, `chose λ=${best.lambda.toExponential(0)}`);
    return { sweep, chosen: best.lambda };
  }

  save(): PromptState {
    return saveState({ w: this.w, b: this.b });
  }

  load(state: PromptState): void {
    loadState('linear-probe', state, { w: this.w, b: this.b });
  }

  dispose(): void {
    tf.dispose([this.w, this.b]);
  }
}

registerTrainer<LinearProbeConfig>('linear-probe', {
  create: () => new LinearProbeTrainer(),
  defaults: LINEAR_PROBE_DEFAULTS,
  describe: 'Linear probe: L2-regularised logistic regression on cached image features, λ swept on validation',
});
