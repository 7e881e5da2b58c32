// UPT (Zang et al., "Unified Vision and Language Prompt Learning"), as in the authors' released trainer:
// one unified prompt U of 2n tokens in the text width passes one post-norm transformer encoder layer
// (1-head self-attention, residual, LayerNorm, FFN width→width with ReLU, dropout 0.1, residual, LayerNorm).
// The first n output tokens are the CoOp-style text context (class token at the end); the other n go through
// Linear(text width → vision width) and become shallow visual prompts after CLS.
//
// Scale (issue #20; README "UPT's scale"): U starts at N(0, 1), the unit scale the LayerNorm'd layer works at
// (the released N(0, 0.02²) — a token-embedding scale — lets the layer's shared biases swamp every token after
// a few SGD steps, and the context tokens collapse to one vector), and the text context leaves the layer
// multiplied by the RMS of real word embeddings (the final LayerNorm emits √D per token, ~40× a word).
// `initStd: 0.02, matchTextScale: false` is the released code's scale.
//
// The released code feeds the layer a [2n, 1, D] tensor to a batch-first layer, so attention runs over
// a sequence of length 1 and every token attends only to itself: the prompts never mix. Token mixing is the
// default here (the paper's intent); `releasedQuirk: true` reproduces the released behaviour exactly
// (attention output = out_proj(v_proj(x)), softmax over one key being 1).
//
// `variant: 'mvlpt'` is MVLPT's UPT (its released `MultitaskVLPromptLearner` with the transformer projection):
// CoOp context [n, Dt] (N(0, 0.02²)) and deep visual prompts [L, n, Dv] (Xavier-uniform as VPT) are each
// projected by a Linear to `sharedWidth` (128), concatenated, pass one CLIP residual block of that width
// (pre-norm, 1 head, MLP 4× with QuickGELU), and are projected back by Linears; `dropout` is then MVLPT's
// visual-prompt dropout. MVLPT's code has the same batch/sequence swap (its block sees a length-1
// sequence), so `releasedQuirk` reproduces it too. One difference remains: MVLPT inserts the visual prompts
// after CLIP's ln_pre, the backbone hook inserts them before it (as UPT and VPT do).
import * as tf from '@tensorflow/tfjs';
import type { PromptBackbone } from '../model/index.ts';
import { cosineLogits } from './cosine-logits.ts';
import { linear, layerNorm, multiHeadAttention, quickGelu } from '../model/ops/index.ts';
import { registerTrainer } from './registry.ts';
import type { Batch, PromptState, PromptTrainer, TaskClasses } from './trainer.ts';
import { frozenPromptParts, assemblePrompts, wordEmbeddings, type FrozenPromptParts } from './text-prompt.ts';
import { normalArray, rng, uniformArray } from './random.ts';
import { mixSeed } from '../util/random.ts';
import { loadState, saveState, variableFrom } from './state.ts';

type Vars = Record<string, tf.Variable>;

/** PyTorch's defaults: Linear U(±1/√fan_in) for weight and bias; MHA in_proj Xavier-uniform, biases 0. */
function encoderLayerVars(prefix: string, d: number, rand: () => number): Vars {
  const lin = (inD: number, outD: number) => variableFrom(tf.tensor2d(uniformArray(inD * outD, 1 / Math.sqrt(inD), rand), [inD, outD]), true);
  const bias = (inD: number, outD: number) => variableFrom(tf.tensor1d(uniformArray(outD, 1 / Math.sqrt(inD), rand)), true);
  const xavier = () => variableFrom(tf.tensor2d(uniformArray(d * d, Math.sqrt(6 / (d + 3 * d)), rand), [d, d]), true);
  const zeros = () => variableFrom(tf.zeros([d]), true);
  return {
    [`${prefix}.q`]: xavier(), [`${prefix}.qb`]: zeros(),
    [`${prefix}.k`]: xavier(), [`${prefix}.kb`]: zeros(),
    [`${prefix}.v`]: xavier(), [`${prefix}.vb`]: zeros(),
    [`${prefix}.o`]: lin(d, d), [`${prefix}.ob`]: zeros(),
    [`${prefix}.ln1g`]: variableFrom(tf.ones([d]), true), [`${prefix}.ln1b`]: zeros(),
    [`${prefix}.ff1`]: lin(d, d), [`${prefix}.ff1b`]: bias(d, d),
    [`${prefix}.ff2`]: lin(d, d), [`${prefix}.ff2b`]: bias(d, d),
    [`${prefix}.ln2g`]: variableFrom(tf.ones([d]), true), [`${prefix}.ln2b`]: zeros(),
  };
}

function dropout(x: tf.Tensor, rate: number, training: boolean, seed: number): tf.Tensor {
  return training && rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
}

/** nn.TransformerEncoderLayer(d, nhead=1, dim_feedforward=d, activation=relu, norm_first=False) on x [T, d]. */
function postNormLayer(x: tf.Tensor2D, v: Vars, p: string, rate: number, quirk: boolean, training: boolean, seed: number): tf.Tensor2D {
  const [T, d] = x.shape;
  const g = (k: string) => v[`${p}.${k}`] as unknown as tf.Tensor;
  const attn = quirk
    ? linear(linear(x, g('v') as tf.Tensor2D, g('vb') as tf.Tensor1D), g('o') as tf.Tensor2D, g('ob') as tf.Tensor1D)
    : multiHeadAttention(x.reshape([1, T, d]), {
      qKernel: g('q') as tf.Tensor2D, qBias: g('qb') as tf.Tensor1D, kKernel: g('k') as tf.Tensor2D, kBias: g('kb') as tf.Tensor1D,
      vKernel: g('v') as tf.Tensor2D, vBias: g('vb') as tf.Tensor1D, oKernel: g('o') as tf.Tensor2D, oBias: g('ob') as tf.Tensor1D,
    }, 1).reshape([T, d]);
  const h = layerNorm(x.add(dropout(attn, rate, training, mixSeed(seed, 1))), g('ln1g') as tf.Tensor1D, g('ln1b') as tf.Tensor1D, 1e-5);
  const ff = linear(dropout(tf.relu(linear(h, g('ff1') as tf.Tensor2D, g('ff1b') as tf.Tensor1D)), rate, training, mixSeed(seed, 2)), g('ff2') as tf.Tensor2D, g('ff2b') as tf.Tensor1D);
  return layerNorm(h.add(dropout(ff, rate, training, mixSeed(seed, 3))), g('ln2g') as tf.Tensor1D, g('ln2b') as tf.Tensor1D, 1e-5) as tf.Tensor2D;
}

/** CLIP's ResidualAttentionBlock (pre-norm, QuickGELU MLP of 4× width) on x [T, d], as MVLPT's projection uses it. */
function clipBlockVars(prefix: string, d: number, rand: () => number): Vars {
  const base = encoderLayerVars(prefix, d, rand);
  const lin = (inD: number, outD: number) => variableFrom(tf.tensor2d(uniformArray(inD * outD, 1 / Math.sqrt(inD), rand), [inD, outD]), true);
  const bias = (inD: number, outD: number) => variableFrom(tf.tensor1d(uniformArray(outD, 1 / Math.sqrt(inD), rand)), true);
  // Replace the d→d feed-forward of the post-norm layer by CLIP's d→4d→d MLP.
  tf.dispose([base[`${prefix}.ff1`], base[`${prefix}.ff1b`], base[`${prefix}.ff2`], base[`${prefix}.ff2b`]]);
  return { ...base, [`${prefix}.ff1`]: lin(d, 4 * d), [`${prefix}.ff1b`]: bias(d, 4 * d), [`${prefix}.ff2`]: lin(4 * d, d), [`${prefix}.ff2b`]: bias(4 * d, d) };
}

function preNormBlock(x: tf.Tensor2D, v: Vars, p: string, quirk: boolean): tf.Tensor2D {
  const [T, d] = x.shape;
  const g = (k: string) => v[`${p}.${k}`] as unknown as tf.Tensor;
  const h1 = layerNorm(x, g('ln1g') as tf.Tensor1D, g('ln1b') as tf.Tensor1D, 1e-5) as tf.Tensor2D;
  const attn = quirk
    ? linear(linear(h1, g('v') as tf.Tensor2D, g('vb') as tf.Tensor1D), g('o') as tf.Tensor2D, g('ob') as tf.Tensor1D)
    : multiHeadAttention(h1.reshape([1, T, d]), {
      qKernel: g('q') as tf.Tensor2D, qBias: g('qb') as tf.Tensor1D, kKernel: g('k') as tf.Tensor2D, kBias: g('kb') as tf.Tensor1D,
      vKernel: g('v') as tf.Tensor2D, vBias: g('vb') as tf.Tensor1D, oKernel: g('o') as tf.Tensor2D, oBias: g('ob') as tf.Tensor1D,
    }, 1).reshape([T, d]);
  const h = x.add(attn);
  const h2 = layerNorm(h, g('ln2g') as tf.Tensor1D, g('ln2b') as tf.Tensor1D, 1e-5);
  return h.add(linear(quickGelu(linear(h2, g('ff1') as tf.Tensor2D, g('ff1b') as tf.Tensor1D)), g('ff2') as tf.Tensor2D, g('ff2b') as tf.Tensor1D)) as tf.Tensor2D;
}

/** RMS per dimension of the token embeddings of CoOp's initialisation words, the words a text context stands for. */
function wordScale(model: PromptBackbone): number {
  return tf.tidy(() => {
    const w = wordEmbeddings(model, 'a photo of a');
    return Math.sqrt(w.square().mean().dataSync()[0]);
  });
}

/** UPT (Zang et al., 2022) as in the authors' released trainer, plus MVLPT's UPT variant. */
export interface UPTConfig {
  /** n: text context tokens = visual prompt tokens; the unified prompt has 2n tokens. */
  n: number;
  dropout: number;
  /**
   * false (default, the paper's intent): the transformer layer's self-attention mixes the 2n prompt tokens.
   * true: the released code's behaviour — its attention runs over a length-1 sequence (batch and sequence
   * axes swapped), so each token only attends to itself and the prompts never mix.
   */
  releasedQuirk: boolean;
  /**
   * 'upt': unified prompt in the text width → layer → first n to text, last n → Linear(text→vision) → shallow
   * visual prompts. 'mvlpt': MVLPT's variant — text prompts [n, Dt] and deep visual prompts [L, n, Dv] are
   * projected to `sharedWidth`, pass one 1-head CLIP residual block of that width together, and are projected
   * back; there `dropout` is MVLPT's visual-prompt dropout (its default 0).
   */
  variant: 'upt' | 'mvlpt';
  sharedWidth: number;
  /** 'upt' only: std of the unified prompt's N(0, σ²) initialisation (the released code: 0.02). */
  initStd: number;
  /** 'upt' only: scale the text context to the per-token norm of real word embeddings (released code: false). */
  matchTextScale: boolean;
}
export const UPT_DEFAULTS: UPTConfig = { n: 4, dropout: 0.1, releasedQuirk: false, variant: 'upt', sharedWidth: 128, initStd: 1, matchTextScale: true };
/** MVLPT's UPT configuration (deep visual prompts through a shared 128-wide layer). */
export const MVLPT_UPT_DEFAULTS: UPTConfig = { n: 4, dropout: 0, releasedQuirk: false, variant: 'mvlpt', sharedWidth: 128, initStd: 0.02, matchTextScale: false };

export class UPTTrainer implements PromptTrainer<UPTConfig> {
  readonly method = 'upt';
  readonly input = 'pixels' as const;
  private model!: PromptBackbone;
  private config!: UPTConfig;
  private vars: Vars = {};
  private parts?: FrozenPromptParts;
  private textScale = 1;

  init(model: PromptBackbone, task: TaskClasses, config: UPTConfig, seed: number, from?: PromptState): void {
    this.model = model;
    this.config = config;
    const n = config.n;
    if (!(n >= 1)) throw new Error('upt: n must be at least 1');
    const Dt = model.config.text.hiddenSize, Dv = model.config.vision.hiddenSize;
    const rand = rng(seed);
    const lin = (inD: number, outD: number) => variableFrom(tf.tensor2d(uniformArray(inD * outD, 1 / Math.sqrt(inD), rand), [inD, outD]), true);
    const bias = (inD: number, outD: number) => variableFrom(tf.tensor1d(uniformArray(outD, 1 / Math.sqrt(inD), rand)), true);
    if (config.variant === 'upt') {
      this.vars = {
        unified: variableFrom(tf.tensor2d(normalArray(2 * n * Dt, config.initStd, rand), [2 * n, Dt]), true),
        ...encoderLayerVars('layer', Dt, rand),
        toVision: lin(Dt, Dv), toVisionB: bias(Dt, Dv),
      };
    } else {
      const W = config.sharedWidth, L = model.config.vision.numLayers, vc = model.config.vision;
      // VPT's Xavier-uniform bound over (patch fan-in, prompt width), as MVLPT initialises its visual prompts.
      const xav = Math.sqrt(6 / (vc.numChannels * vc.patchSize * vc.patchSize + Dv));
      this.vars = {
        text: variableFrom(tf.tensor2d(normalArray(n * Dt, 0.02, rand), [n, Dt]), true),
        vision: variableFrom(tf.tensor2d(uniformArray(L * n * Dv, xav, rand), [L * n, Dv]), true),
        textIn: lin(Dt, W), textInB: bias(Dt, W), visionIn: lin(Dv, W), visionInB: bias(Dv, W),
        ...clipBlockVars('layer', W, rand),
        textOut: lin(W, Dt), textOutB: bias(W, Dt), visionOut: lin(W, Dv), visionOutB: bias(W, Dv),
      };
    }
    if (from) this.load(from);
    this.textScale = config.variant === 'upt' && config.matchTextScale ? wordScale(model) : 1;
    this.bindTask(task);
  }

  bindTask(task: TaskClasses): void {
    this.parts?.dispose();
    this.parts = frozenPromptParts(this.model, task.classNames, this.config.n);
  }

  variables(): tf.Variable[] {
    // Under the released quirk the query/key projections never reach the output (softmax over one key
    // is 1), so they get no gradient; they stay in the saved state for shape parity with the released code.
    const unused = this.config.releasedQuirk ? /^layer\.(q|qb|k|kb)$/ : null;
    return Object.entries(this.vars).filter(([k]) => !unused?.test(k)).map(([, v]) => v);
  }

  /** The text context [n, Dt] and the visual prompts (shallow [n, Dv], and deep per layer for 'mvlpt'). */
  prompts(training: boolean, seed = 0): { ctx: tf.Tensor2D; shallow: tf.Tensor2D; deep: tf.Tensor2D[] } {
    const { n, dropout: rate, releasedQuirk } = this.config;
    const v = this.vars;
    if (this.config.variant === 'upt') {
      const out = postNormLayer(v.unified as tf.Tensor2D, v, 'layer', rate, releasedQuirk, training, seed);
      const Dt = out.shape[1];
      const ctx = this.textScale === 1 ? out.slice([0, 0], [n, Dt]) : out.slice([0, 0], [n, Dt]).mul(this.textScale) as tf.Tensor2D;
      const shallow = linear(out.slice([n, 0], [n, Dt]), v.toVision as tf.Tensor2D, v.toVisionB as tf.Tensor1D) as tf.Tensor2D;
      return { ctx, shallow, deep: [] };
    }
    const L = this.model.config.vision.numLayers;
    const t = linear(v.text, v.textIn as tf.Tensor2D, v.textInB as tf.Tensor1D);
    const vis = linear(v.vision, v.visionIn as tf.Tensor2D, v.visionInB as tf.Tensor1D);
    const mixed = preNormBlock(tf.concat([t, vis], 0) as tf.Tensor2D, v, 'layer', releasedQuirk);
    const W = mixed.shape[1];
    const ctx = linear(mixed.slice([0, 0], [n, W]), v.textOut as tf.Tensor2D, v.textOutB as tf.Tensor1D) as tf.Tensor2D;
    const visual = dropout(linear(mixed.slice([n, 0], [L * n, W]), v.visionOut as tf.Tensor2D, v.visionOutB as tf.Tensor1D), rate, training, mixSeed(seed, 4)) as tf.Tensor2D;
    const Dv = visual.shape[1];
    const layers = Array.from({ length: L }, (_, i) => visual.slice([i * n, 0], [n, Dv]));
    return { ctx, shallow: layers[0], deep: layers.slice(1) };
  }

  /** Class text features [C, P] (not normalised) from the text half of the prompt (no dropout). */
  textFeatures(): tf.Tensor2D {
    return tf.tidy(() => this.encodeText(this.prompts(false).ctx));
  }

  private encodeText(ctx: tf.Tensor2D): tf.Tensor2D {
    return this.model.encodeTextEmbeddings(assemblePrompts(this.parts!, ctx, 'end'), this.parts!.eot);
  }

  private forward(batch: Batch, training: boolean, seed: number): tf.Tensor2D {
    if (!batch.pixels) throw new Error('upt: batches must carry pixel_values');
    return tf.tidy(() => {
      const p = this.prompts(training, seed);
      const text = this.encodeText(p.ctx);
      const img = this.model.encodeImage(batch.pixels!, { shallow: p.shallow, deep: p.deep });
      return cosineLogits(img, text, this.model.logitScale);
    });
  }

  logits(batch: Batch, training = false, seed = 0): tf.Tensor2D {
    return this.forward(batch, training, seed);
  }

  save(): PromptState {
    return saveState(this.vars);
  }

  load(state: PromptState): void {
    loadState('upt', state, this.vars);
  }

  dispose(): void {
    this.parts?.dispose();
    tf.dispose(Object.values(this.vars));
  }
}

registerTrainer<UPTConfig>('upt', {
  create: () => new UPTTrainer(),
  defaults: UPT_DEFAULTS,
  describe: 'UPT: one unified prompt through a transformer layer, split into text context and shallow visual prompts',
});

// MVLPT's UPT as its own name, so a study can say method 'upt-mvlpt' and get MVLPT's defaults.
registerTrainer<UPTConfig>('upt-mvlpt', {
  create: () => new UPTTrainer(),
  defaults: MVLPT_UPT_DEFAULTS,
  describe: "MVLPT's UPT: text + deep visual prompts projected to 128 dims through one shared 1-head layer",
});
