// The CIFAR ResNet's forward pass on tfjs (NHWC), built from checked weights. BatchNorm runs on its running
// statistics unless `training`; a training pass normalises with the batch's statistics (biased variance,
// as PyTorch) and moves the running ones by the config's momentum (unbiased variance, as PyTorch), outside
// the gradient. `beforeStage` is where Pro-tuning's prompt blocks enter.
import * as tf from '@tensorflow/tfjs';
import type { ResNetConfig } from './config.ts';
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

class CifarResNet implements ResNetModel {
  readonly variables = new Map<string, tf.Variable>();
  readonly stageChannels: number[];
  readonly classNames: string[];
  fingerprint = '';
  private readonly specs: ResNetTensorSpec[];
  private readonly plan: BlockPlan[][];

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

  private batchNorm(x: tf.Tensor4D, prefix: string, opts: ResNetForwardOptions): tf.Tensor4D {
    const gamma = this.v(`${prefix}.weight`), beta = this.v(`${prefix}.bias`);
    const runMean = this.v(`${prefix}.running_mean`), runVar = this.v(`${prefix}.running_var`);
    const eps = this.config.batch_norm_eps;
    if (!opts.training) {
      // y = x·scale + shift with scale = γ/√(var+ε), shift = β − mean·scale: two passes over x, not five.
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runVar, eps)));
      return tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(runMean, scale)));
    }
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
    const k = w.shape[0];
    const p = (k - 1) / 2;
    return tf.conv2d(x, w, stride, p === 0 ? 'valid' : [[0, 0], [p, p], [p, p], [0, 0]]);
  }

  private block(x: tf.Tensor4D, b: BlockPlan, opts: ResNetForwardOptions): tf.Tensor4D {
    let h = tf.relu(this.batchNorm(this.conv(x, `${b.prefix}.conv1.weight`, b.stride), `${b.prefix}.bn1`, opts));
    h = this.batchNorm(this.conv(h, `${b.prefix}.conv2.weight`, 1), `${b.prefix}.bn2`, opts);
    const shortcut = b.projection ? this.batchNorm(this.conv(x, `${b.prefix}.shortcut.conv.weight`, b.stride), `${b.prefix}.shortcut.bn`, opts) : x;
    return tf.relu(tf.add(h, shortcut)) as tf.Tensor4D;
  }

  forward(pixels: tf.Tensor4D, opts: ResNetForwardOptions = {}): ResNetOutput {
    if (pixels.rank !== 4 || pixels.shape[3] !== this.config.num_channels) {
      throw new Error(`ResNet.forward: pixels must be [batch, height, width, ${this.config.num_channels}], got [${pixels.shape}]; use preprocessResNet`);
    }
    if (opts.training && pixels.shape[0] < 2) throw new Error('ResNet.forward: a training pass needs a batch of at least 2 (BatchNorm uses batch statistics)');
    return tf.tidy(() => {
      let x = tf.relu(this.batchNorm(this.conv(pixels, 'stem.conv.weight', 1), 'stem.bn', opts));
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
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/** Checks every tensor against the config (the error names the tensor) and makes the model. */
export function buildResNet(config: ResNetConfig, weights: Map<string, ResNetRawTensor>, id = 'resnet'): ResNetModel {
  return new CifarResNet(config, id, weights);
}
