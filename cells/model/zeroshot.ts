// Zero-shot classification: class names → text prompts from templates → (averaged) normalized text
// embeddings = a linear classifier on normalized image features, as in CLIP. With several templates the
// class embedding is the renormalized mean over templates (CLIP's prompt ensembling).
import * as tf from '@tensorflow/tfjs';
import { stage, keyOf } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import type { Dataset } from '../data/dataset.ts';
import type { CLIPModel } from './clip.ts';
import { extractFeatures, featureTensor } from './features.ts';
import type { FeatureOptions, ImageFeatures } from './features.ts';
import { l2Normalize } from './ops/index.ts';

/**
 * One hand-written template per dataset, as CoOp uses for its zero-shot baseline and prompt initialisation
 * (CoOp's CUSTOM_TEMPLATES), plus the datasets bundled with Promptscope. Keys are normalized names
 * (lower case, letters and digits only).
 */
export const DATASET_TEMPLATES: Record<string, string> = {
  oxfordpets: 'a photo of a {}, a type of pet.',
  oxfordflowers: 'a photo of a {}, a type of flower.',
  fgvcaircraft: 'a photo of a {}, a type of aircraft.',
  describabletextures: '{} texture.',
  dtd: '{} texture.',
  eurosat: 'a centered satellite photo of {}.',
  stanfordcars: 'a photo of a {}.',
  food101: 'a photo of {}, a type of food.',
  sun397: 'a photo of a {}.',
  caltech101: 'a photo of a {}.',
  ucf101: 'a photo of a person doing {}.',
  imagenet: 'a photo of a {}.',
  imagenetsketch: 'a photo of a {}.',
  imagenetv2: 'a photo of a {}.',
  imageneta: 'a photo of a {}.',
  imagenetr: 'a photo of a {}.',
  // bundled datasets (CLIP's own prompt choices for MNIST and GTSRB)
  cifar10: 'a photo of a {}.',
  cifar100: 'a photo of a {}.',
  fashionmnist: 'a photo of a {}, a type of clothing.',
  mnist: 'a photo of the number: "{}".',
  gtsrb: 'a zoomed in photo of a "{}" traffic sign.',
};

/** A general-purpose ensemble of photo-style templates. */
export const PHOTO_ENSEMBLE = [
  'a photo of a {}.', 'a blurry photo of a {}.', 'a black and white photo of a {}.', 'a low resolution photo of a {}.',
  'a close-up photo of a {}.', 'a bright photo of a {}.', 'a cropped photo of a {}.', 'a photo of the small {}.',
  'a photo of the large {}.', 'a good photo of a {}.',
];

export function normalizeDatasetName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** CoOp-style single template for a dataset name ('a photo of a {}.' when unknown). */
export function templateFor(datasetName: string): string {
  const n = normalizeDatasetName(datasetName);
  if (DATASET_TEMPLATES[n]) return DATASET_TEMPLATES[n];
  // tolerate prefixes/suffixes such as "cifar10-test" or "mnist_subset"
  const hit = Object.keys(DATASET_TEMPLATES).sort((a, b) => b.length - a.length).find((k) => n.startsWith(k));
  return hit ? DATASET_TEMPLATES[hit] : 'a photo of a {}.';
}

function checkTemplates(templates: string[]): void {
  if (templates.length === 0) throw new Error('zeroShot: no templates');
  for (const t of templates) if (!t.includes('{}')) throw new Error(`zeroShot: template ${JSON.stringify(t)} has no "{}" placeholder for the class name`);
}

/**
 * Zero-shot classifier weights [C, P] (rows L2-normalized): for each class, the mean over templates of the
 * normalized text embeddings, renormalized. Texts are encoded in chunks of `batchSize`.
 */
export function textClassifier(model: CLIPModel, classNames: string[], templates: string[], batchSize = 256): tf.Tensor2D {
  checkTemplates(templates);
  const C = classNames.length;
  const texts: string[] = [];
  for (const t of templates) for (const c of classNames) texts.push(t.split('{}').join(c));
  const parts: tf.Tensor2D[] = [];
  for (let s = 0; s < texts.length; s += batchSize) parts.push(model.encodeText(texts.slice(s, s + batchSize), { normalize: true }));
  return tf.tidy(() => {
    const all = tf.concat(parts, 0).reshape([templates.length, C, model.projectionDim]);
    tf.dispose(parts);
    return l2Normalize(all.mean(0)) as tf.Tensor2D;
  });
}

export interface ClassAccuracy {
  label: number;
  className: string;
  n: number;
  correct: number;
  /** NaN when the class has no test images. */
  accuracy: number;
}

export interface ZeroShotResult {
  accuracy: number;
  perClass: ClassAccuracy[];
  /** Predicted label per feature row (same order as the features' ids). */
  predictions: Int32Array;
  ids: Int32Array;
  templates: string[];
  n: number;
  model: string;
  backend: string;
}

export interface ZeroShotOptions {
  /** Template(s); default: the dataset's CoOp template. 'ensemble' uses PHOTO_ENSEMBLE. */
  templates?: string | string[] | 'ensemble';
  /** Class names to classify into (default: the dataset's). */
  classNames?: string[];
  /** Feature extraction settings when a Dataset is passed. */
  features?: FeatureOptions;
}

/** Top-1 accuracy and per-class accuracy from logits; pure, exported for other evaluators. */
export function scorePredictions(predictions: Int32Array, labels: Int32Array, classNames: string[]): { accuracy: number; perClass: ClassAccuracy[] } {
  const n = new Array<number>(classNames.length).fill(0);
  const ok = new Array<number>(classNames.length).fill(0);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < classNames.length)) throw new Error(`zeroShot: row ${i} has label ${y}, outside 0..${classNames.length - 1} (multi-label datasets need a different metric)`);
    n[y]++;
    if (predictions[i] === y) { ok[y]++; correct++; }
  }
  return {
    accuracy: labels.length ? correct / labels.length : NaN,
    perClass: classNames.map((className, label) => ({ label, className, n: n[label], correct: ok[label], accuracy: n[label] ? ok[label] / n[label] : NaN })),
  };
}

/** Zero-shot evaluation on a dataset (features extracted and cached first) or on cached features. Cached as a stage. */
export async function zeroShot(model: CLIPModel, data: Dataset | ImageFeatures, opts: ZeroShotOptions = {}): Promise<ZeroShotResult> {
  const feats = 'features' in data && data.features instanceof Float32Array
    ? (data as ImageFeatures)
    : await extractFeatures(model, data as Dataset, opts.features);
  if (feats.model.fingerprint !== model.fingerprint) {
    throw new Error(`zeroShot: features were extracted with model ${feats.model.id} (${feats.model.fingerprint.slice(0, 12)}), not ${model.id}; re-extract them with this model`);
  }
  const classNames = opts.classNames ?? feats.classNames;
  const templates = opts.templates === 'ensemble' ? PHOTO_ENSEMBLE
    : Array.isArray(opts.templates) ? opts.templates
      : [opts.templates ?? templateFor(feats.dataset.name)];
  checkTemplates(templates);
  const result = await stage(
    { name: 'zeroShot', version: 1, params: { templates, classNames }, inputs: [`clip:${model.fingerprint}`, keyOf(feats)] },
    valueCodec<ZeroShotResult>(),
    async () => {
      const W = textClassifier(model, classNames, templates);
      const pred = tf.tidy(() => tf.matMul(featureTensor(feats, true), W.transpose()).argMax(1));
      const predictions = Int32Array.from(await pred.data());
      tf.dispose([W, pred]);
      const { accuracy, perClass } = scorePredictions(predictions, feats.labels, classNames);
      return { accuracy, perClass, predictions, ids: feats.ids, templates, n: feats.n, model: model.id, backend: tf.getBackend() };
    },
  );
  // JSON turns NaN into null; give empty classes their NaN back
  for (const c of result.perClass) if (c.accuracy === null) c.accuracy = NaN;
  return result;
}
