// The CLIP model seen through the narrow interface the prompt learners train against (`PromptBackbone`:
// text from token embeddings pooled at EOT, images with visual prompts, frozen weights, encoder-call
// counters). The interface lives here, with the model it adapts; `backboneOf` is the one adapter.
import * as tf from '@tensorflow/tfjs';
import type { CLIPModel, VisionPrompts } from './clip.ts';
import type { CLIPConfig } from './config.ts';
import { blockPlan, resNetCacheIdentity, type ResNetModel } from './resnet/index.ts';
import { CLIP_MEAN, CLIP_STD } from '../data/preprocess.ts';

/** Visual prompt tokens to insert after the class token: shallow at the input, deep replaces them per layer. */
export interface VisualPrompts {
  /** [n, Dv] shared by the batch, or [B, n, Dv]. Inserted after CLS, after the positional embedding, before pre-LN. */
  shallow?: tf.Tensor;
  /**
   * Per-layer prompt tokens for layers 1..L-1 ([n, Dv] each; VPT-deep). Entry i replaces the n prompt tokens
   * at the input of layer i+1. Requires `shallow` (layer 0's prompts) with the same n.
   */
  deep?: tf.Tensor[];
  /**
   * Called with the input of every ViT encoder layer (tokens [B, T, D]) or CNN stage (feature map
   * [B, H, W, C]), 0-based; returns a replacement of the same shape (Pro-tuning's prompt blocks).
   */
  beforeLayer?: (layer: number, hidden: tf.Tensor) => tf.Tensor;
}

export interface PromptBackbone {
  readonly config: CLIPConfig;
  /**
   * Content fingerprint of the weights and config (and, for a CNN, of the forward's arithmetic): part of
   * every cache key that depends on the model.
   */
  readonly fingerprint: string;
  readonly name: string;
  /** The checkpoint directory the same weights reload from (training workers load it), if they came from one. */
  readonly sourceDir?: string;
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

/** What the prompt stages accept: a prompt backbone, a CLIP model as `load` returns it, or a CIFAR ResNet (image-only). */
export type ModelLike = PromptBackbone | CLIPModel | ResNetModel;

const wrapped = new WeakMap<CLIPModel, Promise<PromptBackbone>>();

/**
 * The prompt backbone of a model. One wrapper per CLIPModel (so its encoder-call counters accumulate
 * across stages); the model's weights stay frozen: prompt variables live in the trainers.
 */
export function backboneOf(model: ModelLike): Promise<PromptBackbone> {
  if ('encodeTextEmbeddings' in model) return Promise.resolve(model);
  if ('stageChannels' in model) return Promise.resolve(cnnBackbone(model));
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
    sourceDir: model.sourceDir,
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
      const beforeLayer = prompts?.beforeLayer as ((layer: number, hidden: tf.Tensor3D) => tf.Tensor3D) | undefined;
      return model.encodeImage(pixels, { prompts: p, beforeLayer });
    },
    weights: () => new Map<string, tf.Tensor>(model.variables),
    dispose: () => model.dispose(),
  };
}

/** One place a prompt block can enter the image path: a CNN stage's input feature map [B, H, W, C]. */
export interface ImageSite {
  layer: number;
  channels: number;
  height: number;
  width: number;
}

/**
 * A CIFAR ResNet seen as an image-only prompt backbone. The task pipeline hands every backbone the same
 * CLIP-normalised pixel_values [B, 3, S, S] (S = the ResNet's image size), so `encodeImage` maps them to
 * the ResNet's own normalisation (a per-channel affine map: CLIP's (u/255 − m)/s undone, the ResNet's
 * applied; exact up to float rounding) and returns the pooled features of the last stage. BatchNorm runs
 * on its running statistics: the backbone is frozen. `config` is CLIP-shaped so the shared task and
 * feature stages read the image size and feature width from one place; the text side has width 0 and its
 * calls throw, so a text-side method on a CNN fails saying why.
 */
export interface CNNBackbone extends PromptBackbone {
  readonly resnet: ResNetModel;
  /** The input of every stage, in order. */
  readonly stages: ImageSite[];
}

export function isCNNBackbone(b: PromptBackbone): b is CNNBackbone {
  return 'resnet' in b;
}

const cnnWrapped = new WeakMap<ResNetModel, CNNBackbone>();

export function cnnBackbone(resnet: ResNetModel): CNNBackbone {
  const hit = cnnWrapped.get(resnet);
  if (hit) return hit;
  const c = resnet.config;
  const S = c.image_size;
  const width = c.hidden_sizes[c.hidden_sizes.length - 1];
  let h = S, w = S;
  const stages = blockPlan(c).map((blocks, s) => {
    const site = { layer: s, channels: blocks[0].inChannels, height: h, width: w };
    for (const b of blocks) if (b.stride === 2) { h = Math.ceil(h / 2); w = Math.ceil(w / 2); }
    return site;
  });
  const scale = [0, 1, 2].map((k) => CLIP_STD[k] / c.image_std[k]);
  const shift = [0, 1, 2].map((k) => (CLIP_MEAN[k] - c.image_mean[k]) / c.image_std[k]);
  const noText = (): never => {
    throw new Error(`${resnet.id} is an image-only backbone (a CNN): text-side methods (CoOp, UPT, VPT's class-text head, zero-shot) need a CLIP model; use linear-probe, protuning or finetune`);
  };
  const calls = { text: 0, image: 0 };
  const backbone: CNNBackbone = {
    resnet,
    stages,
    config: {
      text: { hiddenSize: 0, intermediateSize: 0, numHeads: 0, numLayers: 0, hiddenAct: 'gelu', layerNormEps: 0, vocabSize: 0, maxPositions: 0, bosTokenId: 0, eosTokenId: 0, padTokenId: 0 },
      vision: { hiddenSize: width, intermediateSize: 0, numHeads: 0, numLayers: stages.length, hiddenAct: 'gelu', layerNormEps: 0, imageSize: S, patchSize: 1, numChannels: c.num_channels },
      projectionDim: width,
      logitScaleInit: 0,
    },
    // The forward's version joins the weights' fingerprint: stages key on this (see resNetCacheIdentity).
    get fingerprint() { return resNetCacheIdentity(resnet); },
    name: resnet.id,
    logitScale: 1,
    calls,
    tokenEmbeddings: noText,
    encodeTextEmbeddings: noText,
    encodeImage: (pixels, prompts) => {
      calls.image++;
      if (prompts?.shallow || prompts?.deep?.length) throw new Error(`${resnet.id}: visual prompt tokens (VPT) need a ViT; a CNN takes prompt blocks (protuning)`);
      return tf.tidy(() => {
        const x = pixels.transpose([0, 2, 3, 1]).mul(tf.tensor1d(scale)).add(tf.tensor1d(shift)) as tf.Tensor4D;
        const hook = prompts?.beforeLayer;
        return resnet.forward(x, hook ? { beforeStage: (s, m) => hook(s, m) as tf.Tensor4D } : {}).pooled;
      });
    },
    weights: () => new Map<string, tf.Tensor>(resnet.variables),
    dispose: () => resnet.dispose(),
  };
  cnnWrapped.set(resnet, backbone);
  return backbone;
}
