// The CIFAR ResNet's forward pass on tfjs (NHWC), built from checked weights. BatchNorm runs on its running
// statistics unless `training`, folded into the convolution before it (`folded`); a training pass
// normalises with the batch's statistics (biased variance, as PyTorch) and moves the running ones by the
// config's momentum (unbiased variance, as PyTorch), outside the gradient. `beforeStage` is where
// Pro-tuning's prompt blocks enter.
import * as tf from '@tensorflow/tfjs';
import type { ResNetConfig } from './config.ts';
import { columnSums } from '../ops/index.ts';
import { classNamesOf } from './config.ts';
import {
  blockPlan, resNetFingerprint, resNetTensorSpecs, toCheckpointLayout, fromCheckpointLayout, ResNetWeightError,
  type BlockPlan, type ResNetTensorSpec,
} from './weights.ts';

export interface ResNetForwardOptions {
  /** Batch statistics in BatchNorm (and running statistics updated) instead of the running ones. */
  training?: boolean;
  /** With `training`: leave the running statistics as they are (default: update them). */
  freezeStatistics?: boolean;
  /** May return a replacement for the input of stage `stage` (0-based), e.g. x + β·PromptBlock(x). */
  beforeStage?: (stage: number, x: tf.Tensor4D) => tf.Tensor4D;
}

export interface ResNetOutput {
  /** Globally average-pooled features of the last stage [B, hidden_sizes.at(-1)]. */
  pooled: tf.Tensor2D;
  logits: tf.Tensor2D;
}

/** A weight tensor in checkpoint layout, as a safetensors file or a test provides it. */
export interface ResNetRawTensor {
  shape: number[];
  data: Float32Array;
}

export interface ResNetModel {
  readonly config: ResNetConfig;
  /** The bundled name or folder it was loaded from. */
  readonly id: string;
  /** sha256 of config + every weight (weights.ts); refreshFingerprint() after changing weights. */
  readonly fingerprint: string;
  /** Channels at the input of each stage. */
  readonly stageChannels: number[];
  /** Every checkpoint tensor by its checkpoint name, in tfjs layout. Frozen unless setTrainable. */
  readonly variables: Map<string, tf.Variable>;
  readonly classNames: string[];
  /** Weights (not BatchNorm running statistics, never) trainable or frozen; `filter` picks by name. */
  setTrainable(on: boolean, filter?: (name: string) => boolean): void;
  /** pixels: [B, H, W, 3] float32 already normalised with the config's mean/std (preprocessResNet). */
  forward(pixels: tf.Tensor4D, opts?: ResNetForwardOptions): ResNetOutput;
  /** The weights in checkpoint layout (for safetensors), in spec order. */
  exportWeights(): Array<{ name: string; shape: number[]; data: Float32Array }>;
  refreshFingerprint(): string;
  dispose(): void;
}

/**
 * Version of how the forward computes (not what): bump it when a change to the arithmetic can move results
 * by float rounding. 2: eval-mode BatchNorm folded into the convolutions, which run on conv-direct.c.
 * It joins the weights' fingerprint in `resNetCacheIdentity`, the identity every cache key on a ResNet's
 * outputs uses, so a cache filled by an older forward is never served for the new one — without each stage
 * that runs the network having to remember a version bump.
 */
export const RESNET_FORWARD_VERSION = 2;

/** The weights' fingerprint and the forward's version: what a cache key on this network's outputs depends on. */
export function resNetCacheIdentity(model: ResNetModel): string {
  return `${model.fingerprint}/forward-${RESNET_FORWARD_VERSION}`;
}

/** tfjs padding for a k×k convolution: (k − 1)/2 on every side, PyTorch's geometry (see conv). */
function padOf(k: number): 'valid' | [[number, number], [number, number], [number, number], [number, number]] {
  const p = (k - 1) / 2;
  return p === 0 ? 'valid' : [[0, 0], [p, p], [p, p], [0, 0]];
}

class CifarResNet implements ResNetModel {
  readonly variables = new Map<string, tf.Variable>();
  readonly stageChannels: number[];
  readonly classNames: string[];
  fingerprint = '';
  private readonly specs: ResNetTensorSpec[];
  private readonly plan: BlockPlan[][];
  /** Folded (filter, bias) of frozen conv + BatchNorm pairs by filter name, with the dataIds they came from. */
  private readonly folds = new Map<string, { w: tf.Tensor4D; b: tf.Tensor1D; ids: object[] }>();

  constructor(readonly config: ResNetConfig, readonly id: string, weights: Map<string, ResNetRawTensor>) {
    this.specs = resNetTensorSpecs(config);
    this.plan = blockPlan(config);
    this.stageChannels = this.plan.map((blocks) => blocks[0].inChannels);
    this.classNames = classNamesOf(config);
    const expected = new Set(this.specs.map((s) => s.name));
    // torch's state_dict also holds BatchNorm's num_batches_tracked counters; they do not affect the output.
    const extra = [...weights.keys()].filter((n) => !expected.has(n) && !n.endsWith('.num_batches_tracked'));
    if (extra.length) {
      throw new ResNetWeightError(`unexpected tensor "${extra[0]}"${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}: the checkpoint does not match config.json (embedding_size ${config.embedding_size}, hidden_sizes [${config.hidden_sizes}], depths [${config.depths}])`);
    }
    for (const spec of this.specs) {
      const w = weights.get(spec.name);
      if (!w) throw new ResNetWeightError(`missing tensor "${spec.name}" (shape [${spec.shape}]); the checkpoint does not match config.json`);
      if (w.shape.length !== spec.shape.length || w.shape.some((d, i) => d !== spec.shape[i])) {
        throw new ResNetWeightError(`tensor "${spec.name}" has shape [${w.shape}], but config.json implies [${spec.shape}]`);
      }
      if (w.data.length !== spec.shape.reduce((p, d) => p * d, 1)) throw new ResNetWeightError(`tensor "${spec.name}": ${w.data.length} values for shape [${spec.shape}]`);
      let bad = -1;
      for (let i = 0; i < w.data.length && bad < 0; i++) if (!Number.isFinite(w.data[i])) bad = i;
      if (bad >= 0) throw new ResNetWeightError(`tensor "${spec.name}" holds a non-finite value (${w.data[bad]}) at index ${bad}`);
      if (spec.name.endsWith('running_var') && w.data.some((v) => v < 0)) throw new ResNetWeightError(`tensor "${spec.name}" holds a negative variance`);
      const t = fromCheckpointLayout(w.data, spec);
      this.variables.set(spec.name, tf.variable(t, false));
      t.dispose();
    }
    this.refreshFingerprint();
  }

  setTrainable(on: boolean, filter: (name: string) => boolean = () => true): void {
    for (const spec of this.specs) {
      if (spec.buffer || !filter(spec.name)) continue;
      this.variables.get(spec.name)!.trainable = on;
    }
  }

  private v(name: string): tf.Variable {
    return this.variables.get(name)!;
  }

  /** Training-mode BatchNorm (batch statistics); eval mode is folded into the convolution (folded). */
  private batchNorm(x: tf.Tensor4D, prefix: string, opts: ResNetForwardOptions): tf.Tensor4D {
    const gamma = this.v(`${prefix}.weight`), beta = this.v(`${prefix}.bias`);
    const runMean = this.v(`${prefix}.running_mean`), runVar = this.v(`${prefix}.running_var`);
    const eps = this.config.batch_norm_eps;
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    if (!opts.freezeStatistics) {
      const n = x.shape[0] * x.shape[1] * x.shape[2];
      const m = this.config.batch_norm_momentum;
      // Variable.assign is not recorded on the gradient tape: the update stays outside the gradient.
      tf.tidy(() => {
        const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
        runMean.assign(tf.add(tf.mul(runMean, 1 - m), tf.mul(mean, m)));
        runVar.assign(tf.add(tf.mul(runVar, 1 - m), tf.mul(unbiased, m)));
      });
    }
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(tf.sub(x, mean), scale), beta);
  }

  private conv(x: tf.Tensor4D, name: string, stride: number): tf.Tensor4D {
    const w = this.v(name) as unknown as tf.Tensor4D;
    // 'same' for 3×3 (pad 1 on each side at stride 1; at stride 2 on even sizes tfjs pads 0 top/left and
    // 1 bottom/right, where PyTorch pads 1 everywhere): explicit padding keeps torch's geometry.
    return tf.conv2d(x, w, stride, padOf(w.shape[0]));
  }

  /**
   * A convolution and the eval-mode BatchNorm after it as one convolution with a bias:
   * BN(conv(x, w)) = conv(x, w·s) + (β − μ·s), s = γ/√(σ² + ε) per output channel (the filter's last axis).
   * Exact in real arithmetic; in float32 it moves outputs by rounding only (test/model/resnet.test.ts).
   * When none of the five tensors trains (a frozen backbone) the folded pair is computed once and kept
   * until one of them is replaced (Variable.assign gives a variable a new dataId). When some train
   * (fine-tuning) the fold runs in the caller's scope, so the gradient reaches w, γ and β through it:
   * a few filter-sized ops instead of per-pixel multiply and add passes and their gradients.
   */
  private folded(conv: string, bn: string): { w: tf.Tensor4D; b: tf.Tensor1D } {
    const vars = [conv, `${bn}.weight`, `${bn}.bias`, `${bn}.running_mean`, `${bn}.running_var`].map((n) => this.v(n));
    const [w, gamma, beta, mean, variance] = vars;
    const fold = () => {
      const s = tf.mul(gamma, tf.rsqrt(tf.add(variance, this.config.batch_norm_eps)));
      return { w: tf.mul(w, s) as tf.Tensor4D, b: tf.sub(beta, tf.mul(mean, s)) as tf.Tensor1D };
    };
    if (vars.some((v) => v.trainable)) return fold();
    const hit = this.folds.get(conv);
    if (hit && hit.ids.every((id, i) => id === vars[i].dataId)) return hit;
    if (hit) tf.dispose([hit.w, hit.b]);
    const f = tf.tidy(fold);
    tf.keep(f.w);
    tf.keep(f.b);
    this.folds.set(conv, { ...f, ids: vars.map((v) => v.dataId) });
    return f;
  }

  /**
   * conv + eval-mode BatchNorm (+ ReLU), always one FusedConv2D forward (bias and ReLU inside the kernel:
   * conv-direct.c's on the native kernels, XNNPACK's otherwise). On a gradient tape through frozenConv or
   * trainedConv, because tfjs's fused op there either runs unfused (ReLU: conv, add and relu nodes) or, with
   * a linear activation, computes the input's and the filter's gradients whether or not they are needed.
   */
  private convBN(x: tf.Tensor4D, conv: string, bn: string, stride: number, relu: boolean, extraBias?: tf.Tensor1D): tf.Tensor4D {
    const f = this.folded(conv, bn);
    const bias = extraBias ? (tf.add(f.b, extraBias) as tf.Tensor1D) : f.b;
    const pad = padOf(f.w.shape[0]);
    if (tf.engine().state.gradientDepth === 0) {
      return tf.fused.conv2d({ x, filter: f.w, strides: stride, pad, bias, activation: relu ? 'relu' : 'linear' });
    }
    if (this.folds.get(conv)?.w === f.w) return frozenConv(x, f.w, bias, stride, pad, relu);
    return trainedConv(x, f.w, bias, stride, pad, relu, conv !== 'stem.conv.weight');
  }

  private block(x: tf.Tensor4D, b: BlockPlan, opts: ResNetForwardOptions): tf.Tensor4D {
    if (opts.training) {
      let h = tf.relu(this.batchNorm(this.conv(x, `${b.prefix}.conv1.weight`, b.stride), `${b.prefix}.bn1`, opts));
      h = this.batchNorm(this.conv(h, `${b.prefix}.conv2.weight`, 1), `${b.prefix}.bn2`, opts);
      const shortcut = b.projection ? this.batchNorm(this.conv(x, `${b.prefix}.shortcut.conv.weight`, b.stride), `${b.prefix}.shortcut.bn`, opts) : x;
      return tf.relu(tf.add(h, shortcut)) as tf.Tensor4D;
    }
    const h = this.convBN(x, `${b.prefix}.conv1.weight`, `${b.prefix}.bn1`, b.stride, true);
    if (!b.projection) return tf.relu(tf.add(this.convBN(h, `${b.prefix}.conv2.weight`, `${b.prefix}.bn2`, 1, false), x)) as tf.Tensor4D;
    // The projection's bias joins conv2's: relu(conv2(h) + b₂ + b_s + conv_s(x)), one bias pass fewer.
    const s = this.folded(`${b.prefix}.shortcut.conv.weight`, `${b.prefix}.shortcut.bn`);
    const shortcut = tf.conv2d(x, s.w, b.stride, padOf(s.w.shape[0]));
    return tf.relu(tf.add(this.convBN(h, `${b.prefix}.conv2.weight`, `${b.prefix}.bn2`, 1, false, s.b), shortcut)) as tf.Tensor4D;
  }

  forward(pixels: tf.Tensor4D, opts: ResNetForwardOptions = {}): ResNetOutput {
    if (pixels.rank !== 4 || pixels.shape[3] !== this.config.num_channels) {
      throw new Error(`ResNet.forward: pixels must be [batch, height, width, ${this.config.num_channels}], got [${pixels.shape}]; use preprocessResNet`);
    }
    if (opts.training && pixels.shape[0] < 2) throw new Error('ResNet.forward: a training pass needs a batch of at least 2 (BatchNorm uses batch statistics)');
    return tf.tidy(() => {
      let x = opts.training
        ? tf.relu(this.batchNorm(this.conv(pixels, 'stem.conv.weight', 1), 'stem.bn', opts))
        : this.convBN(pixels, 'stem.conv.weight', 'stem.bn', 1, true);
      this.plan.forEach((blocks, s) => {
        if (opts.beforeStage) {
          const replaced = opts.beforeStage(s, x);
          if (!replaced || replaced.rank !== 4 || replaced.shape.some((d, i) => d !== x.shape[i])) {
            throw new Error(`ResNet.forward: beforeStage(${s}) must return a tensor of shape [${x.shape}], got ${replaced ? `[${replaced.shape}]` : replaced}`);
          }
          x = replaced;
        }
        for (const b of blocks) x = this.block(x, b, opts);
      });
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
      const logits = tf.add(tf.matMul(pooled, this.v('classifier.weight')), this.v('classifier.bias')) as tf.Tensor2D;
      return { pooled, logits };
    });
  }

  exportWeights(): Array<{ name: string; shape: number[]; data: Float32Array }> {
    return this.specs.map((spec) => {
      const t = toCheckpointLayout(this.v(spec.name), spec);
      const data = t.dataSync() as Float32Array;
      t.dispose();
      return { name: spec.name, shape: spec.shape, data: Float32Array.from(data) };
    });
  }

  refreshFingerprint(): string {
    this.fingerprint = resNetFingerprint(this.config, this.exportWeights());
    return this.fingerprint;
  }

  dispose(): void {
    for (const f of this.folds.values()) tf.dispose([f.w, f.b]);
    this.folds.clear();
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/**
 * act(conv(x, w) + b) with a frozen filter and bias, on a gradient tape (Pro-tuning, the PGD attack): one
 * FusedConv2D forward and, backward, the input's gradient only, ReLU's mask applied as step(y)·dy. tfjs's own
 * ops would record conv, bias add and ReLU as three nodes (ReLU's gradient adds a cast), and its fused op
 * computes the filter's gradient too.
 */
function frozenConv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, stride: number, pad: ReturnType<typeof padOf>, relu: boolean): tf.Tensor4D {
  const attrs = { strides: stride, pad, dataFormat: 'NHWC', dilations: 1, activation: relu ? 'relu' : 'linear' };
  const op = tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    // Inside customGrad nothing is recorded; the kernel runs directly (tf.fused.conv2d would unfuse on a tape).
    const y = tf.engine().runKernel('FusedConv2D', { x: xi, filter: w, bias: b }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save(relu ? [y] : []);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = relu ? tf.mul(dy, tf.step(saved[0])) : dy;
        return [tf.conv2dTranspose(g as tf.Tensor4D, w, x.shape, stride, pad as 'valid')];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor4D;
}

/**
 * act(conv(x, w) + b) with a trainable (folded) filter and bias, on a gradient tape (fine-tuning): one
 * FusedConv2D forward; backward, the filter's gradient, the bias's by column sums and, unless `inputGrad` is
 * false (the stem, whose input is the pixels), the input's.
 */
function trainedConv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, stride: number, pad: ReturnType<typeof padOf>, relu: boolean, inputGrad: boolean): tf.Tensor4D {
  const attrs = { strides: stride, pad, dataFormat: 'NHWC', dilations: 1, activation: relu ? 'relu' : 'linear' };
  const forward = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel('FusedConv2D', { x: xi, filter: wi, bias: bi }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    // Saved: the forward's intermediate tensors are disposed before the backward pass runs.
    save([y, xi, wi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [ys, xs, ws]: tf.Tensor[]) => {
        const g = (relu ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor4D;
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy: g }, { strides: stride, pad, dataFormat: 'NHWC', dilations: 1, filterShape: w.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const db = columnSums(g.reshape([-1, w.shape[3]]));
        return inputGrad ? [tf.conv2dTranspose(g, ws as tf.Tensor4D, x.shape, stride, pad as 'valid'), dw, db] : [dw, db];
      },
    };
  };
  if (inputGrad) return (tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]) as (...t: tf.Tensor[]) => tf.Tensor)(x, w, b) as tf.Tensor4D;
  const op = tf.customGrad(((wi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => forward(x, wi, bi, save)) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as (...t: tf.Tensor[]) => tf.Tensor)(w, b) as tf.Tensor4D;
}

/** Checks every tensor against the config (the error names the tensor) and makes the model. */
export function buildResNet(config: ResNetConfig, weights: Map<string, ResNetRawTensor>, id = 'resnet'): ResNetModel {
  return new CifarResNet(config, id, weights);
}
