// CLIP's two towers (text transformer, ViT), projections and temperature, in TensorFlow.js, computing what
// HF `transformers.CLIPModel` computes (pre-LN blocks, causal text attention, EOT pooling, CLS pooling).
// Weights are held as tf.Variables in the layout the compute blocks want (Linear kernels [in, out], patch
// kernel [C·P·P, D]); weight-spec.ts maps them to and from Hugging Face layout, build.ts creates a model,
// hf-export.ts writes one back out.
//
// All math goes through `./ops/index.ts` so it stays on each backend's fast kernels and trains.
// Hooks for prompt learning: `textForward({embeds})` takes token embeddings (CoOp context spliced in, see
// cells/prompts/text-prompt.ts) and `visionForward(pixels, {prompts})` takes VPT prompt tokens (shallow and deep).
import * as tf from '@tensorflow/tfjs';
import {
  linear, layerNorm, multiHeadAttention, patchEmbed, embeddingLookup, embeddingTrainable, l2Normalize, activation, causalMask,
  repeatBatch, addSame, insertPrompts,
} from './ops/index.ts';
import type { AttentionWeights } from './ops/index.ts';
import type { CLIPConfig, TowerConfig } from './config.ts';
import type { TensorToWrite } from '../util/safetensors.ts';
import { defaultTokenizer } from './tokenizer.ts';
import type { CLIPTokenizer } from './tokenizer.ts';
import { CLIPWeightError } from './weight-spec.ts';
import { exportHF, saveCheckpoint, weightsFingerprint } from './hf-export.ts';

interface EncoderLayer {
  ln1g: tf.Tensor1D; ln1b: tf.Tensor1D;
  attn: AttentionWeights;
  ln2g: tf.Tensor1D; ln2b: tf.Tensor1D;
  fc1k: tf.Tensor2D; fc1b: tf.Tensor1D;
  fc2k: tf.Tensor2D; fc2b: tf.Tensor1D;
}

/** Token ids for the text tower: row-major [n, contextLength]; `TokenizedBatch` from the tokenizer fits. */
export interface TokenIds {
  ids: Int32Array;
  n: number;
  contextLength: number;
  /** Pooling positions; derived from the ids (first end token) when absent. */
  eotIndex?: Int32Array;
  /** HF attention mask (1 = real token); only used with `fullLength` (it changes nothing at or before EOT). */
  attentionMask?: Int32Array;
}

/** Token embeddings [B, T, D] (before position embeddings) with their pooling positions: the prompt-learning input. */
export interface TokenEmbeds {
  embeds: tf.Tensor3D;
  eotIndex: ArrayLike<number>;
}

export interface TextForwardOptions {
  /**
   * Run all positions instead of stopping at the batch's last end token. Positions after an end token never
   * reach the pooled output (causal mask), so the default cut changes no pooled value; full length is only
   * needed when the caller wants `lastHidden` for every position.
   */
  fullLength?: boolean;
  /** Also return the final-LN hidden states [B, T, D] (T = cut or full length). */
  hidden?: boolean;
}

export interface TextOutput {
  /** Final-LN hidden states, only when asked for. */
  lastHidden?: tf.Tensor3D;
  /** Final-LN output at the end token [B, D]. */
  pooled: tf.Tensor2D;
  /** text_projection(pooled), unnormalized [B, P]. */
  embeds: tf.Tensor2D;
}

/**
 * Visual prompts (VPT). `shallow`: P tokens inserted after CLS at the input (after position embeddings,
 * before the pre-LayerNorm), [P, D] shared or [B, P, D]. `deep[i]`, if given, replaces those P tokens before
 * encoder layer i+1 (VPT-deep: layer 0 uses `shallow`); fewer entries than layers-1 leave later layers alone.
 */
export interface VisionPrompts {
  shallow: tf.Tensor;
  deep?: tf.Tensor[];
}

export interface VisionForwardOptions {
  prompts?: VisionPrompts;
  /**
   * Called with the input of every encoder layer (0-based `layer`; hidden [B, 1+P+N, D]: CLS, prompt tokens,
   * patch tokens) and may return a replacement of the same shape: where Pro-tuning's prompt blocks enter.
   */
  beforeLayer?: (layer: number, hidden: tf.Tensor3D) => tf.Tensor3D;
  /** Also return the encoder output [B, 1+P+N, D] (before post-LN, as HF's last_hidden_state). */
  hidden?: boolean;
}

export interface VisionOutput {
  lastHidden?: tf.Tensor3D;
  /** post_layernorm(CLS) [B, D]. */
  pooled: tf.Tensor2D;
  /** visual_projection(pooled), unnormalized [B, P]. */
  embeds: tf.Tensor2D;
}

export class CLIPModel {
  readonly config: CLIPConfig;
  readonly id: string;
  /** sha256 over the canonical config and every weight (name, shape, float32 bytes) at load time. */
  fingerprint: string;
  /** HF tensor name → variable (in our layout). */
  readonly variables: Map<string, tf.Variable>;
  /** Tensors in the source that CLIPModel does not use (e.g. legacy position_ids buffers). */
  readonly unusedWeights: string[];
  /**
   * The checkpoint directory the weights were loaded from, if any: worker threads reload from it instead
   * of receiving a copy. (After changing weights, call refreshFingerprint(): workers check it.)
   */
  sourceDir: string | undefined;
  private readonly textLayers: EncoderLayer[];
  private readonly visionLayers: EncoderLayer[];
  private disposed = false;

  constructor(config: CLIPConfig, variables: Map<string, tf.Variable>, fingerprint: string, id: string, unused: string[] = []) {
    this.config = config;
    this.variables = variables;
    this.fingerprint = fingerprint;
    this.id = id;
    this.unusedWeights = unused;
    this.textLayers = this.layers('text_model', config.text.numLayers);
    this.visionLayers = this.layers('vision_model', config.vision.numLayers);
  }

  /** The variable for an HF tensor name (our layout). */
  v<T extends tf.Tensor = tf.Tensor>(name: string): T {
    const x = this.variables.get(name);
    if (!x) throw new CLIPWeightError(`CLIPModel ${this.id}: no weight "${name}"`);
    return x as unknown as T;
  }

  private layers(prefix: string, n: number): EncoderLayer[] {
    return Array.from({ length: n }, (_, i) => {
      const p = `${prefix}.encoder.layers.${i}`;
      const a = `${p}.self_attn`;
      return {
        ln1g: this.v(`${p}.layer_norm1.weight`), ln1b: this.v(`${p}.layer_norm1.bias`),
        attn: {
          qKernel: this.v(`${a}.q_proj.weight`), qBias: this.v(`${a}.q_proj.bias`),
          kKernel: this.v(`${a}.k_proj.weight`), kBias: this.v(`${a}.k_proj.bias`),
          vKernel: this.v(`${a}.v_proj.weight`), vBias: this.v(`${a}.v_proj.bias`),
          oKernel: this.v(`${a}.out_proj.weight`), oBias: this.v(`${a}.out_proj.bias`),
        },
        ln2g: this.v(`${p}.layer_norm2.weight`), ln2b: this.v(`${p}.layer_norm2.bias`),
        fc1k: this.v(`${p}.mlp.fc1.weight`), fc1b: this.v(`${p}.mlp.fc1.bias`),
        fc2k: this.v(`${p}.mlp.fc2.weight`), fc2b: this.v(`${p}.mlp.fc2.bias`),
      };
    });
  }

  /** Provenance key for stages (`keyOf(model)`): the weights+config fingerprint. */
  get key(): string { return `clip:${this.fingerprint}`; }
  get tokenEmbedding(): tf.Variable { return this.variables.get('text_model.embeddings.token_embedding.weight')!; }
  get logitScale(): tf.Variable { return this.variables.get('logit_scale')!; }
  get textWidth(): number { return this.config.text.hiddenSize; }
  get visionWidth(): number { return this.config.vision.hiddenSize; }
  get projectionDim(): number { return this.config.projectionDim; }

  /** Set the trainable flag on all weights, or on those whose HF name passes `filter`. */
  setTrainable(on: boolean, filter: (name: string) => boolean = () => true): void {
    for (const [name, v] of this.variables) if (filter(name)) v.trainable = on;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => v.trainable);
  }

  private block(x: tf.Tensor, l: EncoderLayer, t: TowerConfig, mask?: 'causal' | tf.Tensor): tf.Tensor {
    const act = activation(t.hiddenAct);
    const h = addSame(x, multiHeadAttention(layerNorm(x, l.ln1g, l.ln1b, t.layerNormEps), l.attn, t.numHeads, mask));
    const m = linear(act(linear(layerNorm(h, l.ln2g, l.ln2b, t.layerNormEps), l.fc1k, l.fc1b)), l.fc2k, l.fc2b);
    return addSame(h, m);
  }

  /** Token embeddings [B, T, D] for ids (frozen gather, or a trainable lookup when the table trains). */
  embedTokens(ids: tf.Tensor2D): tf.Tensor3D {
    const v = this.tokenEmbedding;
    const table = v as unknown as tf.Tensor2D;
    return (v.trainable ? embeddingTrainable(table, ids) : embeddingLookup(table, ids)) as tf.Tensor3D;
  }

  /**
   * Text tower. Input: token ids (tokenizer output) or token embeddings with pooling positions.
   * The caller owns (and disposes) the returned tensors.
   */
  textForward(input: TokenIds | TokenEmbeds, opts: TextForwardOptions = {}): TextOutput {
    this.assertAlive();
    const tc = this.config.text;
    let eot: ArrayLike<number>;
    let B: number;
    let Tfull: number;
    if ('ids' in input) {
      B = input.n;
      Tfull = input.contextLength;
      if (input.ids.length !== B * Tfull) throw new Error(`textForward: ids has ${input.ids.length} values, expected n·contextLength = ${B}·${Tfull}`);
      const V = tc.vocabSize;
      for (let i = 0; i < input.ids.length; i++) {
        const id = input.ids[i];
        // gather would silently return zeros (wasm) for an id outside the table
        if (!(id >= 0 && id < V)) throw new Error(`textForward: token id ${id} at row ${Math.floor(i / Tfull)}, position ${i % Tfull} is outside the vocabulary 0..${V - 1}`);
      }
      eot = input.eotIndex ?? findEot(input.ids, B, Tfull, tc.eosTokenId);
    } else {
      [B, Tfull] = input.embeds.shape;
      eot = input.eotIndex;
      if (input.embeds.shape[2] !== tc.hiddenSize) throw new Error(`textForward: embeds width ${input.embeds.shape[2]} ≠ text hidden size ${tc.hiddenSize}`);
    }
    if (eot.length !== B) throw new Error(`textForward: ${eot.length} pooling positions for a batch of ${B}`);
    if (Tfull > tc.maxPositions) throw new Error(`textForward: sequence length ${Tfull} exceeds max_position_embeddings ${tc.maxPositions}`);
    let maxEot = 0;
    for (let i = 0; i < B; i++) {
      if (!(eot[i] >= 0 && eot[i] < Tfull)) throw new Error(`textForward: pooling position ${eot[i]} of row ${i} is outside 0..${Tfull - 1}`);
      maxEot = Math.max(maxEot, eot[i]);
    }
    // The speed-up: with a causal mask, positions after the last end token cannot affect any pooled value.
    const T = opts.fullLength ? Tfull : maxEot + 1;
    return tf.tidy(() => {
      let tokens: tf.Tensor3D;
      let padMask: tf.Tensor | undefined;
      if ('ids' in input) {
        const ids = tf.tensor2d(sliceRows(input.ids, B, Tfull, T), [B, T], 'int32');
        tokens = this.embedTokens(ids);
        if (opts.fullLength && input.attentionMask) {
          // HF adds a padding mask to the causal one; keys that are padding get a large negative score.
          const m = tf.tensor(sliceRows(input.attentionMask, B, Tfull, T), [B, 1, 1, T], 'float32');
          padMask = tf.sub(1, m).mul(-1e9);
        }
      } else {
        tokens = T === Tfull ? input.embeds : input.embeds.slice([0, 0, 0], [B, T, tc.hiddenSize]);
      }
      const pos = this.v<tf.Tensor2D>('text_model.embeddings.position_embedding.weight').slice([0, 0], [T, tc.hiddenSize]);
      let x: tf.Tensor = tokens.add(pos);
      const mask: 'causal' | tf.Tensor = padMask ? causalMask(T).add(padMask) : 'causal';
      for (const l of this.textLayers) x = this.block(x, l, tc, mask);
      const last = layerNorm(x, this.v('text_model.final_layer_norm.weight'), this.v('text_model.final_layer_norm.bias'), tc.layerNormEps) as tf.Tensor3D;
      const pooled = selectRows(last, eot);
      const embeds = linear(pooled, this.v('text_projection.weight')) as tf.Tensor2D;
      return opts.hidden ? { lastHidden: last, pooled, embeds } : { pooled, embeds };
    });
  }

  /** Projected text features [B, P] for texts (tokenized with the bundled tokenizer) or ids; L2-normalized if asked. */
  encodeText(input: string[] | TokenIds | TokenEmbeds, opts: { normalize?: boolean; tokenizer?: CLIPTokenizer } = {}): tf.Tensor2D {
    const inp = Array.isArray(input) ? (opts.tokenizer ?? defaultTokenizer()).tokenize(input, { contextLength: this.config.text.maxPositions }) : input;
    return tf.tidy(() => {
      const out = this.textForward(inp);
      return (opts.normalize ? l2Normalize(out.embeds) : out.embeds) as tf.Tensor2D;
    });
  }

  /** Vision tower on CLIP-preprocessed pixels [B, C, H, W] (NCHW, like HF pixel_values). */
  visionForward(pixels: tf.Tensor4D, opts: VisionForwardOptions = {}): VisionOutput {
    this.assertAlive();
    const vc = this.config.vision;
    const [B, C, H, W] = pixels.shape;
    if (C !== vc.numChannels || H !== vc.imageSize || W !== vc.imageSize) {
      throw new Error(`visionForward: pixels are [${pixels.shape}] but the model expects [B, ${vc.numChannels}, ${vc.imageSize}, ${vc.imageSize}]`);
    }
    const D = vc.hiddenSize;
    const prompts = opts.prompts;
    if (prompts?.deep && prompts.deep.length > vc.numLayers - 1) {
      throw new Error(`visionForward: ${prompts.deep.length} deep prompt sets for ${vc.numLayers} layers (at most ${vc.numLayers - 1}: layer 0 uses the shallow prompts)`);
    }
    return tf.tidy(() => {
      const patches = patchEmbed(pixels, this.v('vision_model.embeddings.patch_embedding.weight'), vc.patchSize);
      const cls = repeatBatch(this.v<tf.Tensor1D>('vision_model.embeddings.class_embedding').reshape([1, 1, D]), B);
      let x: tf.Tensor = tf.concat([cls, patches], 1).add(this.v('vision_model.embeddings.position_embedding.weight'));
      let P = 0;
      if (prompts) {
        P = promptCount(prompts.shallow, B, D, 'shallow');
        x = withPrompts(x, prompts.shallow, B, D, 'shallow', 0);
      }
      x = layerNorm(x, this.v('vision_model.pre_layrnorm.weight'), this.v('vision_model.pre_layrnorm.bias'), vc.layerNormEps);
      this.visionLayers.forEach((l, i) => {
        const deep = i > 0 ? prompts?.deep?.[i - 1] : undefined;
        if (deep) {
          const n = promptCount(deep, B, D, `deep[${i - 1}]`);
          if (n !== P) throw new Error(`visionForward: deep[${i - 1}] has ${n} tokens, shallow has ${P}`);
          x = withPrompts(x, deep, B, D, `deep[${i - 1}]`, P);
        }
        if (opts.beforeLayer) {
          const replaced = opts.beforeLayer(i, x as tf.Tensor3D);
          if (!replaced || replaced.rank !== 3 || replaced.shape.some((d, k) => d !== x.shape[k])) {
            throw new Error(`visionForward: beforeLayer(${i}) must return a tensor of shape [${x.shape}], got ${replaced ? `[${replaced.shape}]` : replaced}`);
          }
          x = replaced;
        }
        x = this.block(x, l, vc);
      });
      const last = x as tf.Tensor3D;
      const cls0 = last.slice([0, 0, 0], [B, 1, D]).reshape([B, D]);
      const pooled = layerNorm(cls0, this.v('vision_model.post_layernorm.weight'), this.v('vision_model.post_layernorm.bias'), vc.layerNormEps) as tf.Tensor2D;
      const embeds = linear(pooled, this.v('visual_projection.weight')) as tf.Tensor2D;
      return opts.hidden ? { lastHidden: last, pooled, embeds } : { pooled, embeds };
    });
  }

  /** Projected image features [B, P]; L2-normalized if asked. */
  encodeImage(pixels: tf.Tensor4D, opts: { normalize?: boolean; prompts?: VisionPrompts; beforeLayer?: VisionForwardOptions['beforeLayer'] } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const out = this.visionForward(pixels, { prompts: opts.prompts, beforeLayer: opts.beforeLayer });
      return (opts.normalize ? l2Normalize(out.embeds) : out.embeds) as tf.Tensor2D;
    });
  }

  /** exp(logit_scale) · cos(image, text): [images, texts]. Inputs may be unnormalized. */
  logitsPerImage(imageEmbeds: tf.Tensor2D, textEmbeds: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const i = l2Normalize(imageEmbeds) as tf.Tensor2D;
      const t = l2Normalize(textEmbeds) as tf.Tensor2D;
      // explicit transpose + plain matmul: the fast 2-D kernel on wasm
      return tf.matMul(i, t.transpose()).mul(this.logitScale.exp()) as tf.Tensor2D;
    });
  }

  /** Weights back in HF layout (for writing a checkpoint, e.g. mini-CLIP). */
  exportHF(dtype: 'F32' | 'F16' = 'F32'): Promise<Record<string, TensorToWrite>> {
    return exportHF(this, dtype);
  }

  /** Write `config.json` + `model.safetensors` (HF layout) into `dir`, atomically per file. */
  save(dir: string, opts: { dtype?: 'F32' | 'F16' } = {}): Promise<void> {
    return saveCheckpoint(this, dir, opts);
  }

  /** Recompute the fingerprint from the current weights (after training). */
  async refreshFingerprint(): Promise<string> {
    this.fingerprint = await weightsFingerprint(this);
    return this.fingerprint;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.variables.values()) v.dispose();
    this.disposed = true;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error(`CLIPModel ${this.id} was disposed`);
  }
}

/** First end token per row; if a row has none, its argmax (OpenAI's rule; HF's legacy rule). */
export function findEot(ids: Int32Array, n: number, L: number, eos: number): Int32Array {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let at = -1;
    let best = 0;
    for (let i = 0; i < L; i++) {
      const id = ids[r * L + i];
      if (id === eos) { at = i; break; }
      if (id > ids[r * L + best]) best = i;
    }
    out[r] = at >= 0 ? at : best;
  }
  return out;
}

function sliceRows<A extends Int32Array>(a: A, n: number, L: number, T: number): Int32Array {
  if (T === L) return a;
  const out = new Int32Array(n * T);
  for (let r = 0; r < n; r++) out.set(a.subarray(r * L, r * L + T), r * T);
  return out;
}

/** x[b, idx[b], :] as [B, D], via a one-hot weighted sum: differentiable on every backend (gather is not on wasm). */
function selectRows(x: tf.Tensor3D, idx: ArrayLike<number>): tf.Tensor2D {
  const [B, T] = x.shape;
  const sel = new Float32Array(B * T);
  for (let b = 0; b < B; b++) sel[b * T + idx[b]] = 1;
  return x.mul(tf.tensor3d(sel, [B, T, 1])).sum(1) as tf.Tensor2D;
}

/** Prompt tokens in p ([P, D] shared by the batch, or [B, P, D]); throws for any other shape. */
function promptCount(p: tf.Tensor, B: number, D: number, what: string): number {
  if (p.rank === 2 && p.shape[1] === D) return p.shape[0]!;
  if (p.rank === 3 && p.shape[0] === B && p.shape[2] === D) return p.shape[1]!;
  throw new Error(`visionForward: ${what} prompts are [${p.shape}], expected [P, ${D}] or [${B}, P, ${D}]`);
}

/** x with prompts p after [CLS] (replacing `replace` tokens): shared [P, D] prompts as one kernel chain where it applies. */
function withPrompts(x: tf.Tensor, p: tf.Tensor, B: number, D: number, what: string, replace: number): tf.Tensor {
  return (p.rank === 2 ? insertPrompts(x, p, replace) : null) ?? insertAfterCls(x, batchPrompts(p, B, D, what), replace);
}

function batchPrompts(p: tf.Tensor, B: number, D: number, what: string): tf.Tensor3D {
  if (p.rank === 2 && p.shape[1] === D) return repeatBatch(p.reshape([1, p.shape[0], D]), B) as tf.Tensor3D;
  if (p.rank === 3 && p.shape[0] === B && p.shape[2] === D) return p as tf.Tensor3D;
  throw new Error(`visionForward: ${what} prompts are [${p.shape}], expected [P, ${D}] or [${B}, P, ${D}]`);
}

/** [CLS] + prompts + x[:, 1+replace:] — inserts (replace = 0) or replaces (replace = P) the prompt tokens. */
function insertAfterCls(x: tf.Tensor, prompts: tf.Tensor3D, replace: number): tf.Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const cls = x.slice([0, 0, 0], [B, 1, D]);
  const rest = x.slice([0, 1 + replace, 0], [B, T - 1 - replace, D]);
  return tf.concat([cls, prompts, rest], 1);
}
