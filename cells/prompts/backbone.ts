// The frozen CLIP that prompt learners train against, seen through the three hooks prompt tuning needs:
//   - text from token *embeddings* (so learned context vectors can be spliced in, CoOp layout), pooled at EOT;
//   - images with extra prompt tokens after the class token (VPT-shallow/deep, UPT's visual half);
//   - the plain frozen features for the caches.
// `PromptBackbone` is the whole contract. `loadBackbone` loads a Hugging Face CLIPModel folder with the
// CLIP helper's `loadCLIP` and adapts it with `asBackbone` (cells/model/backbone.ts), so features, zero-shot
// and prompt training all run on the same towers and share the model fingerprint.
import * as tf from '@tensorflow/tfjs';
import { linear, l2Normalize } from '../model/ops/index.ts';
import type { CLIPConfig } from '../model/config.ts';
import { loadCLIP, type CLIPModel } from '../model/clip.ts';
import { asBackbone } from '../model/backbone.ts';

/** Visual prompt tokens to insert after the class token: shallow at the input, deep replaces them per layer. */
export interface VisualPrompts {
  /** [n, Dv] shared by the batch, or [B, n, Dv]. Inserted after CLS, after the positional embedding, before pre-LN. */
  shallow?: tf.Tensor;
  /**
   * Per-layer prompt tokens for layers 1..L-1 ([n, Dv] each; VPT-deep). Entry i replaces the n prompt tokens
   * at the input of layer i+1. Requires `shallow` (layer 0's prompts) with the same n.
   */
  deep?: tf.Tensor[];
}

export interface PromptBackbone {
  readonly config: CLIPConfig;
  /** Content fingerprint of the weights and config: part of every cache key that depends on the model. */
  readonly fingerprint: string;
  readonly name: string;
  /** exp(logit_scale) as stored in the checkpoint. */
  readonly logitScale: number;
  /** Frozen token embeddings for ids [n, T] → [n, T, Dt]. */
  tokenEmbeddings(ids: Int32Array, n: number, t: number): tf.Tensor3D;
  /**
   * Text tower from embeddings [n, T, Dt] (positional embedding added here), pooled at `eot` → projected
   * features [n, P] (not normalised). T may be shorter than the context length: the causal mask makes the
   * pooled output independent of positions after EOT, so callers crop to max(eot)+1.
   */
  encodeTextEmbeddings(embeds: tf.Tensor3D, eot: Int32Array): tf.Tensor2D;
  /** Vision tower on pixel_values [B, 3, S, S] with optional prompts → projected features [B, P] (not normalised). */
  encodeImage(pixels: tf.Tensor4D, prompts?: VisualPrompts): tf.Tensor2D;
  /** Every frozen weight, for the bit-identical-after-training checks. */
  weights(): Map<string, tf.Tensor>;
  /** Counts encoder calls (text, image) so tests can prove a cached path never runs a tower. */
  readonly calls: { text: number; image: number };
  dispose(): void;
}

/** Loads a Hugging Face CLIPModel folder (config.json + model.safetensors) as a frozen prompt backbone. */
export async function loadBackbone(dir: string, name?: string): Promise<PromptBackbone> {
  const model = await loadCLIP(dir, name ? { id: name } : {});
  return asBackbone(model);
}

/** What the prompt stages accept: a prompt backbone, or a CLIP model as `loadCLIP`/`loadModel` return it. */
export type ModelLike = PromptBackbone | CLIPModel;

const wrapped = new WeakMap<CLIPModel, Promise<PromptBackbone>>();

/**
 * The prompt backbone of a model. One wrapper per CLIPModel (so its encoder-call counters accumulate
 * across stages); the model's weights stay frozen: prompt variables live in the trainers.
 */
export function backboneOf(model: ModelLike): Promise<PromptBackbone> {
  if ('encodeTextEmbeddings' in model) return Promise.resolve(model);
  let b = wrapped.get(model);
  if (!b) {
    b = asBackbone(model);
    wrapped.set(model, b);
  }
  return b;
}

/** Cosine logits: logitScale · normalise(image) · normalise(text)ᵀ → [B, C]. */
export function cosineLogits(image: tf.Tensor2D, text: tf.Tensor2D, logitScale: number): tf.Tensor2D {
  // As a linear with the text features as kernel: the ops' matmul keeps flagless gradients (fast on wasm).
  return tf.tidy(() => linear(l2Normalize(image), l2Normalize(text).transpose() as tf.Tensor2D).mul(logitScale) as tf.Tensor2D);
}
