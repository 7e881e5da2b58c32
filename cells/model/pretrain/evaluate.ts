// Evaluation of a CLIP checkpoint the way users will load it (HF config.json + model.safetensors through
// cells/model/clip.ts): zero-shot top-1 per dataset with the held-out templates (never seen in
// pretraining), and image→text retrieval against a gallery of held-out-template captions.
import * as tf from '@tensorflow/tfjs';
import type { CLIPModel } from '../clip.ts';
import type { Dataset } from '../../data/dataset.ts';
import { preprocessBatch } from '../../data/preprocess.ts';
import { HELDOUT_TEMPLATES, fillTemplate, readableName, zeroShotPrompts } from './captions.ts';
import type { LexiconEntry } from './lexicon.ts';

/** L2-normalised image features [n, P] for the given image ids (CLIP preprocessing at the model's size). */
export function imageFeatures(model: CLIPModel, ds: Dataset, ids: ArrayLike<number>, batchSize = 250): tf.Tensor2D {
  const size = model.config.vision.imageSize;
  const parts: tf.Tensor2D[] = [];
  for (let s = 0; s < ids.length; s += batchSize) {
    const chunk = Array.from({ length: Math.min(batchSize, ids.length - s) }, (_, i) => ids[s + i]);
    const px = preprocessBatch(ds.images.batch(chunk), size);
    parts.push(tf.tidy(() => model.encodeImage(tf.tensor4d(px, [chunk.length, 3, size, size]), { normalize: true })));
  }
  const out = tf.concat(parts, 0) as tf.Tensor2D;
  parts.forEach((p) => p.dispose());
  return out;
}

/** Zero-shot classifier [classes, P]: the renormalised mean of each class's prompt embeddings. */
export function zeroShotClassifier(model: CLIPModel, classNames: readonly string[], templates: readonly string[] = HELDOUT_TEMPLATES): tf.Tensor2D {
  return tf.tidy(() => {
    const texts = classNames.flatMap((c) => zeroShotPrompts(c, templates));
    const t = model.encodeText(texts, { normalize: true }).reshape([classNames.length, templates.length, -1]).mean(1);
    return t.div(t.norm('euclidean', 1, true)) as tf.Tensor2D;
  });
}

export interface ZeroShotResult {
  dataset: string;
  images: number;
  classes: number;
  top1: number;
  /** Accuracy of a uniform guess, for reading the number. */
  chance: number;
}

export function labelsOfIds(ds: Dataset, ids: ArrayLike<number>): Int32Array {
  const rowIds = ds.rows.getChild('id')!.toArray() as Int32Array;
  const lab = ds.rows.getChild('label')!.toArray() as Int32Array;
  const byId = new Map<number, number>();
  rowIds.forEach((id, pos) => byId.set(id, lab[pos]));
  return Int32Array.from(ids, (id) => byId.get(id)!);
}

/** Zero-shot top-1 on `ids` of `ds` (default: all images) with the held-out templates. */
export function zeroShotAccuracy(model: CLIPModel, ds: Dataset, opts: { ids?: ArrayLike<number>; templates?: readonly string[] } = {}): ZeroShotResult {
  const ids = opts.ids ?? (ds.rows.getChild('id')!.toArray() as Int32Array);
  const labels = labelsOfIds(ds, ids);
  const cls = zeroShotClassifier(model, ds.classNames, opts.templates);
  const feats = imageFeatures(model, ds, ids);
  const pred = tf.tidy(() => tf.matMul(feats, cls.transpose()).argMax(1).dataSync() as Int32Array);
  feats.dispose();
  cls.dispose();
  let ok = 0;
  pred.forEach((p, i) => (ok += p === labels[i] ? 1 : 0));
  return { dataset: ds.name, images: ids.length, classes: ds.classNames.length, top1: ok / ids.length, chance: 1 / ds.classNames.length };
}

/** Held-out-template captions describing one class: name, synonym, hypernym and gloss forms. */
export function galleryCaptions(e: LexiconEntry): string[] {
  const name = readableName(e.name);
  const out: string[] = [];
  for (const t of HELDOUT_TEMPLATES) {
    out.push(fillTemplate(t, name));
    if (e.synonyms[0]) out.push(fillTemplate(t, e.synonyms[0]));
    if (e.hypernyms[0]) out.push(fillTemplate(t, `${name}, a kind of ${e.hypernyms[0]}`));
    if (e.gloss) out.push(`${fillTemplate(t, name).replace(/\.$/, '')}: ${e.gloss}.`);
  }
  return out;
}

export interface RetrievalResult {
  images: number;
  captions: number;
  classes: number;
  /** Share of images whose best caption describes their class. */
  r1: number;
  /** Share of images with a caption of their class among the top 5. */
  r5: number;
  /** Mean share of the top 10 captions that describe the image's class. */
  p10: number;
}

/**
 * Image→text retrieval over a class-level gallery: every caption describes a class (there is no
 * per-image ground-truth caption in these datasets), so a hit is a caption of the image's class.
 */
export function imageToTextRetrieval(imageFeats: tf.Tensor2D, imageClasses: ArrayLike<number>, model: CLIPModel, entries: LexiconEntry[]): RetrievalResult {
  const captions: string[] = [];
  const capClass: number[] = [];
  entries.forEach((e, c) => galleryCaptions(e).forEach((t) => { captions.push(t); capClass.push(c); }));
  const txt = model.encodeText(captions, { normalize: true });
  const top = tf.tidy(() => tf.topk(tf.matMul(imageFeats, txt.transpose()), 10).indices.arraySync() as number[][]);
  txt.dispose();
  let r1 = 0, r5 = 0, p10 = 0;
  top.forEach((row, i) => {
    const hit = row.map((j) => capClass[j] === imageClasses[i]);
    if (hit[0]) r1++;
    if (hit.slice(0, 5).some(Boolean)) r5++;
    p10 += hit.filter(Boolean).length / 10;
  });
  const n = top.length;
  return { images: n, captions: captions.length, classes: entries.length, r1: r1 / n, r5: r5 / n, p10: p10 / n };
}
