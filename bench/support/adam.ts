// Adam / AdamW over one flat float32 vector, in plain JavaScript. tfjs's Adam launches ~12 kernels per
// variable per step; for a CLIP tower (60–200 variables, a 49408-row token table) that launch overhead and
// the extra passes cost more than the arithmetic. On wasm and cpu, gradients already live in CPU memory,
// so one fused loop over all parameters is several times faster. Same update rule as tf.train.adam
// (bias-corrected moments, epsilon outside the square root); `weightDecay` > 0 gives decoupled AdamW
// (Loshchilov & Hutter), applied before the Adam update, as PyTorch's AdamW does.
import * as tf from '@tensorflow/tfjs';
import { getAdamKernel, getVariableAdamKernel } from '../../cells/model/ops/accelerated.ts';

export interface AdamConfig {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  /** Default 1e-7, tfjs's float32 epsilon (PyTorch's default is 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay (AdamW); 0 = plain Adam. */
  weightDecay?: number;
}

/** The update itself, on flat vectors: params, m and v are updated in place. */
export class FlatAdam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  step = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(readonly size: number, readonly config: AdamConfig) {
    if (!(config.learningRate > 0)) throw new Error(`Adam: learningRate must be > 0, got ${config.learningRate}`);
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.b1 = config.beta1 ?? 0.9;
    this.b2 = config.beta2 ?? 0.999;
    this.eps = config.epsilon ?? 1e-7;
  }

  /**
   * Advances the step count and returns the update's constants, as the kernels take them:
   * [b1, b2, eps, lr, 1 - b1^t, 1 - b2^t, 1 - lr·weightDecay].
   */
  nextStep(learningRate = this.config.learningRate): Float64Array {
    this.step++;
    const { b1, b2, eps } = this;
    return Float64Array.of(b1, b2, eps, learningRate, 1 - b1 ** this.step, 1 - b2 ** this.step, 1 - learningRate * (this.config.weightDecay ?? 0));
  }

  /** One update; `learningRate` overrides the configured one (schedules). */
  update(params: Float32Array, grads: Float32Array, learningRate = this.config.learningRate): void {
    if (params.length !== this.size || grads.length !== this.size) {
      throw new Error(`Adam: expected ${this.size} parameters and gradients, got ${params.length} and ${grads.length}`);
    }
    const hyper = this.nextStep(learningRate);
    // The native loop (native/adam.c, installed with the native kernels) is the same arithmetic, bit for bit.
    const kernel = getAdamKernel();
    if (kernel) {
      kernel(params, grads, this.m, this.v, hyper);
      return;
    }
    const { m, v, b1, b2, eps } = this;
    const [c1, c2, decay] = [hyper[4], hyper[5], hyper[6]];
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const mi = (m[i] = b1 * m[i] + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * g * g);
      params[i] = params[i] * decay - (learningRate * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }
}

/**
 * FlatAdam for a list of tf.Variables. Where the native kernels are installed (wasm in Node), each
 * variable is updated in place in the backend's memory from its gradient tensor: no copies. Elsewhere it
 * keeps a CPU copy of the parameters (do not assign the variables elsewhere while training with it),
 * gathers the gradients into one vector, updates, and assigns the variables. For webgpu, where every
 * read is a GPU→CPU copy, use tf.train.adam instead.
 */
export class VariablesAdam {
  readonly adam: FlatAdam;
  readonly params: Float32Array;
  private readonly grads: Float32Array;
  private readonly offsets: number[];
  /** The CPU copy is behind the variables (the last step ran in place). */
  private paramsStale = false;

  constructor(readonly variables: tf.Variable[], config: AdamConfig) {
    this.offsets = [];
    let total = 0;
    for (const v of variables) { this.offsets.push(total); total += v.size; }
    this.adam = new FlatAdam(total, config);
    this.params = new Float32Array(total);
    this.grads = new Float32Array(total);
    variables.forEach((v, i) => this.params.set(v.dataSync() as Float32Array, this.offsets[i]));
  }

  /** Applies gradients aligned with `variables` (tensors, or an already-flat vector). */
  applyGradients(grads: tf.Tensor[] | Float32Array, learningRate?: number): void {
    if (!(grads instanceof Float32Array)) {
      if (grads.length !== this.variables.length) throw new Error(`Adam: ${grads.length} gradients for ${this.variables.length} variables`);
      grads.forEach((g, i) => {
        const v = this.variables[i];
        if (g.size !== v.size) throw new Error(`Adam: the gradient of ${v.name} has shape [${g.shape}], the variable [${v.shape}]`);
      });
    }
    const inPlace = getVariableAdamKernel();
    if (inPlace && !(grads instanceof Float32Array)) {
      const hyper = this.adam.nextStep(learningRate);
      const { m, v } = this.adam;
      const ok = this.variables.map((variable, i) => {
        const [from, to] = [this.offsets[i], this.offsets[i] + variable.size];
        return inPlace(variable, grads[i], m.subarray(from, to), v.subarray(from, to), hyper);
      });
      if (ok.every(Boolean)) {
        this.paramsStale = true;
        return;
      }
      if (ok.some(Boolean)) throw new Error('Adam: some variables could not be updated in place; their backend changed mid-step');
      this.adam.step--; // nothing was updated: take the copying path for this step
    }
    if (this.paramsStale) {
      this.variables.forEach((v, i) => this.params.set(v.dataSync() as Float32Array, this.offsets[i]));
      this.paramsStale = false;
    }
    if (grads instanceof Float32Array) this.grads.set(grads);
    else grads.forEach((g, i) => this.grads.set(g.dataSync() as Float32Array, this.offsets[i]));
    this.adam.update(this.params, this.grads, learningRate);
    this.variables.forEach((v, i) => {
      const t = tf.tensor(this.params.subarray(this.offsets[i], this.offsets[i] + v.size), v.shape, 'float32');
      v.assign(t);
      t.dispose();
    });
  }
}
