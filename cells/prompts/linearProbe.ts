// Linear probe (CLIP §3.2, CoOp's baseline): multinomial logistic regression on frozen, cached image
// features, with the L2 strength chosen on the few-shot validation split. CLIP used scikit-learn's L-BFGS
// with a search over C; here each λ is fit full-batch (the whole few-shot set is one batch) with Adam to
// near convergence, the best λ by validation accuracy (ties → stronger regularisation) is kept, and the
// final weights are refit on the training split with it, as CoOp does.
import * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from './backbone.ts';
import { linear, softmaxCrossEntropy } from '../model/ops/index.ts';
import { registerTrainer } from './registry.ts';
import { LINEAR_PROBE_DEFAULTS, type Batch, type FitData, type FitReport, type LinearProbeConfig, type PromptState, type PromptTrainer, type TaskClasses } from './trainer.ts';
import { loadState, saveState } from './state.ts';

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
    this.w = tf.variable(tf.zeros([model.config.projectionDim, this.nClasses]), true);
    this.b = tf.variable(tf.zeros([this.nClasses]), true);
    if (from) this.load(from);
  }

  bindTask(task: TaskClasses): void {
    if (task.classNames.length !== this.nClasses) throw new Error(`linear-probe: the probe has ${this.nClasses} classes, task "${task.name}" has ${task.classNames.length}; a probe cannot change tasks`);
  }

  variables(): tf.Variable[] {
    return [this.w, this.b];
  }

  logits(batch: Batch): tf.Tensor2D {
    if (!batch.features) throw new Error('linear-probe: batches must carry cached image features');
    return linear(batch.features, this.w as unknown as tf.Tensor2D, this.b as unknown as tf.Tensor1D) as tf.Tensor2D;
  }


  private fitOne(x: tf.Tensor2D, y: tf.Tensor1D, lambda: number): number {
    this.w.assign(tf.zerosLike(this.w));
    this.b.assign(tf.zerosLike(this.b));
    const opt = tf.train.adam(0.05);
    let last = 0;
    for (let i = 0; i < this.config.iterations; i++) {
      const cost = opt.minimize(() => tf.tidy(() => {
        const ce = softmaxCrossEntropy(linear(x, this.w as unknown as tf.Tensor2D, this.b as unknown as tf.Tensor1D) as tf.Tensor2D, y);
        return ce.add(this.w.square().sum().mul(lambda / 2)) as tf.Scalar;
      }), true, [this.w, this.b]);
      if (i === this.config.iterations - 1) last = cost!.dataSync()[0];
      cost?.dispose();
    }
    opt.dispose();
    return last;
  }

  private accuracy(x: tf.Tensor2D, labels: Int32Array): number {
    const pred = tf.tidy(() => this.logits({ labels, features: x }).argMax(-1).dataSync());
    let ok = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) ok++;
    return labels.length ? ok / labels.length : 0;
  }

  fit(data: FitData, signal: AbortSignal, progress: (fraction: number, message: string) => void): FitReport {
    const D = data.dim;
    const xTr = tf.tensor2d(data.train.features, [data.train.labels.length, D]);
    const yTr = tf.tensor1d(data.train.labels, 'int32');
    const xVa = tf.tensor2d(data.val.features, [data.val.labels.length, D]);
    const sweep: FitReport['sweep'] = [];
    try {
      const lambdas = this.config.lambdas;
      lambdas.forEach((lambda, i) => {
        signal.throwIfAborted();
        const trainLoss = this.fitOne(xTr, yTr, lambda);
        sweep.push({ lambda, valAcc: this.accuracy(xVa, data.val.labels), trainLoss });
        progress((i + 1) / (lambdas.length + 1), `λ=${lambda.toExponential(0)} val acc ${(sweep[i].valAcc * 100).toFixed(1)}%`);
      });
      let best = sweep[0];
      for (const s of sweep) if (s.valAcc > best.valAcc || (s.valAcc === best.valAcc && s.lambda > best.lambda)) best = s;
      this.fitOne(xTr, yTr, best.lambda);
      progress(1, `chose λ=${best.lambda.toExponential(0)}`);
      return { sweep, chosen: best.lambda };
    } finally {
      tf.dispose([xTr, yTr, xVa]);
    }
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
