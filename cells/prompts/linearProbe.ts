// Linear probe (CLIP §3.2, CoOp's baseline): multinomial logistic regression on frozen, cached image
// features, with the L2 strength chosen on the few-shot validation split. CLIP used scikit-learn's L-BFGS
// with a search over C; here each λ is fit full-batch (the whole few-shot set is one batch) with Adam to
// near convergence (all λ at once, as matrix products: fitSweep), the best λ by validation accuracy (ties →
// stronger regularisation) is kept, and the final weights are that λ's fit on the training split, as CoOp's
// refit is.
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
   * Full-batch Adam on the L2-regularised cross-entropy for several λ at once. The λ are independent
   * problems on the same features, so their weights sit side by side as the columns of one parameter
   * matrix P [D+1, λs·C] (the last row is the bias, fed by a column of ones in X): each Adam step is then
   * one product X·P for every λ's logits and one Xᵀ·G for every λ's gradient, both on the backend's
   * matmul (OpenBLAS under Node), instead of 8 × 300 passes of scalar loops (10 s of a 21 s run, #22).
   * Adam is elementwise and every λ starts from zeros, so this is the same optimisation as fitting each
   * λ alone, in float32 instead of float64 (the tests compare it with a float64 one-λ-at-a-time fit).
   * Returns each λ's weights [D+1, C] (bias last) and its training loss at the last step.
   */
  private fitSweep(x: Float32Array, y: Int32Array, D: number, lambdas: number[]): { params: Float32Array[]; trainLoss: number[] } {
    const C = this.nClasses, N = y.length, L = lambdas.length;
    const lr = 0.05, b1 = 0.9, b2 = 0.999, iterations = this.config.iterations;
    const [X, onehot] = tf.tidy(() => [
      tf.concat([tf.tensor2d(x, [N, D]), tf.ones([N, 1])], 1),
      tf.oneHot(tf.tensor1d(y, 'int32'), C).toFloat().reshape([N, 1, C]),
    ]);
    // Weight decay per column (its λ) on the weight rows, none on the bias row.
    const decay = tf.tidy(() => tf.concat([
      tf.tensor2d(lambdas.flatMap((l) => new Array<number>(C).fill(l)), [1, L * C]).tile([D, 1]),
      tf.zeros([1, L * C]),
    ], 0));
    let P: tf.Tensor2D = tf.zeros([D + 1, L * C]), m: tf.Tensor2D = tf.zeros([D + 1, L * C]), v: tf.Tensor2D = tf.zeros([D + 1, L * C]);
    let trainLoss: number[] = [];
    try {
      for (let it = 1; it <= iterations; it++) {
        const last = it === iterations;
        const [nextP, nextM, nextV, loss] = tf.tidy(() => {
          const z = tf.matMul(X, P).reshape([N, L, C]);
          const g = tf.softmax(z).sub(onehot).div(N).reshape([N, L * C]);
          const grad = tf.matMul(X, g, true, false).add(P.mul(decay));
          const m2 = m.mul(b1).add(grad.mul(1 - b1));
          const v2 = v.mul(b2).add(grad.square().mul(1 - b2));
          const c1 = 1 - b1 ** it, c2 = 1 - b2 ** it;
          const p2 = P.sub(m2.mul(lr / c1).div(v2.div(c2).sqrt().add(1e-8)));
          // The loss of the weights this step started from (as reported before: cross-entropy + λ/2·‖W‖²).
          const lossL = last
            ? tf.logSoftmax(z).mul(onehot).sum([0, 2]).div(-N)
              .add(P.slice([0, 0], [D, L * C]).square().reshape([D, L, C]).sum([0, 2]).mul(tf.tensor1d(lambdas.map((l) => l / 2))))
            : undefined;
          return [p2, m2, v2, lossL] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor | undefined];
        });
        tf.dispose([P, m, v]);
        P = nextP; m = nextM; v = nextV;
        if (loss) { trainLoss = Array.from(loss.dataSync()); loss.dispose(); }
      }
      const all = P.dataSync();
      const params = lambdas.map((_, l) => {
        const out = new Float32Array((D + 1) * C);
        for (let r = 0; r <= D; r++) out.set(all.subarray(r * L * C + l * C, r * L * C + (l + 1) * C), r * C);
        return out;
      });
      return { params, trainLoss };
    } finally {
      tf.dispose([X, onehot, decay, P, m, v]);
    }
  }

  /** Sets the probe's weights from one λ's [D+1, C] parameters (bias last). */
  private setParams(params: Float32Array, D: number): void {
    const C = this.nClasses;
    tf.tidy(() => {
      this.w.assign(tf.tensor2d(params.subarray(0, D * C), [D, C]));
      this.b.assign(tf.tensor1d(params.subarray(D * C)));
    });
  }

  private accuracy(x: Float32Array, labels: Int32Array, D: number): number {
    const pred = tf.tidy(() => this.logits({ labels, features: tf.tensor2d(x, [labels.length, D]) }).argMax(-1).dataSync());
    let ok = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) ok++;
    return labels.length ? ok / labels.length : 0;
  }

  fit(data: FitData, signal: AbortSignal, progress: (fraction: number, message: string) => void): FitReport {
    const D = data.dim, C = this.nClasses, N = data.train.labels.length;
    // Every λ would score 0 on no images and the tie rule would pick the strongest: say so instead.
    if (data.val.labels.length === 0 && this.config.lambdas.length > 1) throw new Error('linear-probe: the task has no validation images to choose λ on; use a task with validation shots (fewShotTask) or a single λ (config.lambdas: [λ])');
    const lambdas = this.config.lambdas;
    // As many λ per sweep as keep the logits [N, λs·C] under 2^24 floats (64 MB): all 7 for a few-shot
    // task, fewer for thousands of shots × classes.
    const group = Math.max(1, Math.min(lambdas.length, Math.floor(2 ** 24 / Math.max(1, N * C))));
    const sweep: FitReport['sweep'] = [];
    const params: Float32Array[] = [];
    for (let i = 0; i < lambdas.length; i += group) {
      signal.throwIfAborted();
      const part = lambdas.slice(i, i + group);
      const fitted = this.fitSweep(data.train.features, data.train.labels, D, part);
      part.forEach((lambda, j) => {
        this.setParams(fitted.params[j], D);
        params.push(fitted.params[j]);
        sweep.push({ lambda, valAcc: this.accuracy(data.val.features, data.val.labels, D), trainLoss: fitted.trainLoss[j] });
        const s = sweep.at(-1)!;
        progress(sweep.length / lambdas.length, `λ=${lambda.toExponential(0)} val acc ${(s.valAcc * 100).toFixed(1)}%`);
      });
    }
    let best = 0;
    for (let i = 1; i < sweep.length; i++) {
      const s = sweep[i], b = sweep[best];
      if (s.valAcc > b.valAcc || (s.valAcc === b.valAcc && s.lambda > b.lambda)) best = i;
    }
    // CoOp refits on the training split with the chosen λ; the sweep already fit exactly that problem (same
    // split, same zero start, deterministic steps), so its weights are the refit's.
    this.setParams(params[best], D);
    progress(1, `chose λ=${sweep[best].lambda.toExponential(0)}`);
    return { sweep, chosen: sweep[best].lambda };
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
  // 2: every λ fit at once as matrix products (was one scalar float64 pass per λ).
  // 3: a CNN backbone's features come from the folded, direct-kernel forward (rounds differently).
  version: 3,
  create: () => new LinearProbeTrainer(),
  defaults: LINEAR_PROBE_DEFAULTS,
  describe: 'Linear probe: L2-regularised logistic regression on cached image features, λ swept on validation',
});
