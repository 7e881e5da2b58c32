// The frozen CLIP that prompt learners train against, seen through the three hooks prompt tuning needs:
//   - text from token *embeddings* (so learned context vectors can be spliced in, CoOp layout), pooled at EOT;
//   - images with extra prompt tokens after the class token (VPT-shallow/deep, UPT's visual half);
//   - the plain frozen features for the caches.
// `PromptBackbone` is the whole contract. `loadBackbone` loads a Hugging Face CLIPModel folder with the
// CLIP helper's `loadCLIP` and adapts it with `asBackbone` (cells/model/backbone.ts), so features, zero-shot
// and prompt training all run on the same towers and share the model fingerprint.
import * as tf from '@tensorflow/tfjs';
import { linear, l2Normalize } from '../model/ops/index.ts';
import { loadCLIP, type CLIPModel } from '../model/clip.ts';
import { asBackbone } from '../model/backbone.ts';

// The contract lives beside the model it adapts; prompts know it by the name prompt learners use.
export type { FrozenBackbone as PromptBackbone, VisualPrompts } from '../model/backbone.ts';
import type { FrozenBackbone as PromptBackbone } from '../model/backbone.ts';

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
