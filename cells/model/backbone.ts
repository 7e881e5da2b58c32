// The CLIP model seen through the narrow interface the prompt learners train against (cells/prompts'
// `PromptBackbone`: text from token embeddings pooled at EOT, images with visual prompts, frozen weights,
// encoder-call counters). Structural: this file does not import cells/prompts (dependencies point from
// prompts to model), the type checker matches the shapes where the prompt layer uses it.
import * as tf from '@tensorflow/tfjs';
import type { CLIPModel, VisionPrompts } from './clip.ts';
import type { CLIPConfig } from './config.ts';

export interface FrozenBackbone {
  readonly config: CLIPConfig;
  readonly fingerprint: string;
  readonly name: string;
  /** exp(logit_scale) as stored in the checkpoint. */
  readonly logitScale: number;
  tokenEmbeddings(ids: Int32Array, n: number, t: number): tf.Tensor3D;
  encodeTextEmbeddings(embeds: tf.Tensor3D, eot: Int32Array): tf.Tensor2D;
  encodeImage(pixels: tf.Tensor4D, prompts?: { shallow?: tf.Tensor; deep?: tf.Tensor[] }): tf.Tensor2D;
  weights(): Map<string, tf.Tensor>;
  readonly calls: { text: number; image: number };
  dispose(): void;
}

/** Wrap a loaded CLIPModel (async: reads the temperature once, which webgpu only allows asynchronously). */
export async function asBackbone(model: CLIPModel): Promise<FrozenBackbone> {
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
