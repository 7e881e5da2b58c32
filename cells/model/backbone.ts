// The CLIP model seen through the narrow interface the prompt learners train against (`PromptBackbone`:
// text from token embeddings pooled at EOT, images with visual prompts, frozen weights, encoder-call
// counters). The interface lives here, with the model it adapts; `backboneOf` is the one adapter.
import * as tf from '@tensorflow/tfjs';
import type { CLIPModel, VisionPrompts } from './clip.ts';
import type { CLIPConfig } from './config.ts';

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

/** What the prompt stages accept: a prompt backbone, or a CLIP model as `load` returns it. */
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
    b = wrap(model);
    wrapped.set(model, b);
  }
  return b;
}

/** Async: reads the temperature once, which webgpu only allows asynchronously. */
async function wrap(model: CLIPModel): Promise<PromptBackbone> {
  const logitScale = Math.exp((await model.logitScale.data())[0]);
  const calls = { text: 0, image: 0 };
  return {
    config: model.config,
    fingerprint: model.fingerprint,
    name: model.id,
    logitScale,
    calls,
    tokenEmbeddings: (ids, n, t) => tf.tidy(() => model.embedTokens(tf.tensor2d(ids, [n, t], 'int32'))),
    encodeTextEmbeddings: (embeds, eot) => {
      calls.text++;
      return tf.tidy(() => model.textForward({ embeds, eotIndex: eot }).embeds);
    },
    encodeImage: (pixels, prompts) => {
      calls.image++;
      if (prompts && !prompts.shallow && prompts.deep?.length) throw new Error('encodeImage: deep visual prompts need shallow (layer-0) prompts of the same length');
      const p: VisionPrompts | undefined = prompts?.shallow ? { shallow: prompts.shallow, deep: prompts.deep } : undefined;
      return model.encodeImage(pixels, { prompts: p });
    },
    weights: () => new Map<string, tf.Tensor>(model.variables),
    dispose: () => model.dispose(),
  };
}
