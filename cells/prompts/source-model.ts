// The frozen *source* classifier of visual reprogramming, for either family the project has:
//
//   CLIP    a classifier over any list of label names: cosine logits of the image against the names' text
//           features (the shipped ImageNet-1k list by default; source-labels.ts).
//   ResNet  a supervised CNN (resnet-cifar10): its own classification head is the source, its labels are its
//           config's id2label (`sourceLabels: 'model'`). It reads pixels only, so pixel prompts (frame,
//           padding) apply and VPT tokens do not.
//
// The semantic mapping compares *names*, which needs a text encoder. A CLIP uses its own; a CNN has none, so
// `nameEncoder` names a CLIP (e.g. the bundled 'mini-clip') whose text encoder embeds both label sets. This
// is the project's choice (SeMap's abstract does not say how a text-less source gets its semantics); WordNet
// relations were the alternative, but data/lexicon covers only the bundled classes, not a user's folder.
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backboneOf, bundledModelsDir, isCNNBackbone, isModelPath, load, type CNNBackbone, type PromptBackbone } from '../model/index.ts';
import { CLIP_MEAN, CLIP_STD } from '../data/preprocess.ts';
import { sourceLabelNames, type SourceLabelSpec } from './source-labels.ts';

/** 'own': the source model's text encoder (a CLIP); otherwise a CLIP model name or folder whose text encoder embeds the names. */
export type NameEncoderSpec = 'own' | string;

/** The source label names for a model: a CNN's are its head's (`'model'`); a CLIP's a shipped or given list. */
export function sourceNamesFor(model: PromptBackbone, spec: SourceLabelSpec | 'model'): string[] {
  if (isCNNBackbone(model)) {
    if (spec !== 'model') {
      throw new Error(`visual-reprogramming: ${model.name} is a supervised CNN that classifies into its own ${model.resnet.classNames.length} labels; set sourceLabels: 'model' (got ${JSON.stringify(spec)})`);
    }
    return model.resnet.classNames;
  }
  if (spec === 'model') {
    throw new Error(`visual-reprogramming: sourceLabels 'model' means a supervised classifier's own head, and ${model.name} is a CLIP (no head of its own); use 'imagenet1k' or a list of names`);
  }
  return sourceLabelNames(spec);
}

/** A CNN's logits over its own labels for CLIP-normalised pixel_values [B, 3, S, S] (what task batches carry). */
export function cnnSourceLogits(model: CNNBackbone, pixels: tf.Tensor4D): tf.Tensor2D {
  const c = model.resnet.config;
  return tf.tidy(() => {
    // CLIP normalisation → the ResNet's own (both are per-channel affine maps of the same [0, 1] pixels).
    const scale = tf.tensor1d([0, 1, 2].map((k) => CLIP_STD[k] / c.image_std[k]));
    const shift = tf.tensor1d([0, 1, 2].map((k) => (CLIP_MEAN[k] - c.image_mean[k]) / c.image_std[k]));
    const x = pixels.transpose([0, 2, 3, 1]).mul(scale).add(shift) as tf.Tensor4D;
    return model.resnet.forward(x).logits;
  });
}

/** 'own' needs a source with a text encoder (a CLIP): a CNN source must name one. */
export function checkNameEncoder(model: PromptBackbone, spec: NameEncoderSpec): void {
  if (spec === 'own' && isCNNBackbone(model)) {
    throw new Error(`visual-reprogramming: ${model.name} has no text encoder for the semantic mapping's name similarity; set nameEncoder to a CLIP, e.g. 'mini-clip'`);
  }
}

const encoders = new Map<string, Promise<PromptBackbone>>();

/** The CLIP whose text encoder embeds label names for the semantic mapping (loaded once per name, on the running backend). */
export async function nameEncoderFor(model: PromptBackbone, spec: NameEncoderSpec): Promise<PromptBackbone> {
  checkNameEncoder(model, spec);
  if (spec === 'own') return model;
  if (typeof spec !== 'string' || !spec.trim()) throw new Error(`visual-reprogramming: nameEncoder must be 'own' or a CLIP model name/folder, got ${JSON.stringify(spec)}`);
  let e = encoders.get(spec);
  if (!e) {
    e = load(spec).then((m) => backboneOf(m));
    encoders.set(spec, e);
    e.catch(() => encoders.delete(spec));
  }
  const enc = await e;
  if (isCNNBackbone(enc)) throw new Error(`visual-reprogramming: nameEncoder "${spec}" is a CNN; it needs a CLIP (a text encoder)`);
  return enc;
}

/**
 * The name encoder's weight and config files where they can be found without the model store (a bundled
 * name or a folder), so their bytes join the training key; a store-pulled name joins it by name only.
 */
export function nameEncoderFiles(spec: NameEncoderSpec): string[] {
  if (spec === 'own' || typeof spec !== 'string') return [];
  const dir = isModelPath(spec) ? spec : join(bundledModelsDir(), spec);
  return ['config.json', 'model.safetensors'].map((f) => join(dir, f)).filter((f) => existsSync(f));
}
