// Real captions for pretraining: a class is named by its display name, a WordNet synonym, or described
// by its hypernym or gloss, inside one of the training templates. Some templates are held out: the
// zero-shot evaluation uses only those, so it measures phrasings the model never saw.
import type { LexiconEntry } from './lexicon.ts';

/** Templates seen in pretraining. `{}` is the class phrase. */
export const TRAIN_TEMPLATES: readonly string[] = [
  'a photo of a {}.',
  'a picture of a {}.',
  'an image of a {}.',
  'a small photo of a {}.',
  'a low resolution photo of a {}.',
  'a blurry photo of a {}.',
  'a cropped photo of a {}.',
  'a close-up photo of a {}.',
  'a bright photo of a {}.',
  'a dark photo of a {}.',
  'a black and white photo of a {}.',
  'a pixelated photo of a {}.',
  'a jpeg photo of a {}.',
  'a good photo of a {}.',
  'a photo of the {}.',
  'a {}.',
  'the {}.',
  'this is a {}.',
  'there is a {} in the picture.',
  'a snapshot showing a {}.',
];

/** Held out of pretraining; the zero-shot classifiers average over these. */
export const HELDOUT_TEMPLATES: readonly string[] = [
  'a photo of a {}, a type of object.',
  'itap of a {}.',
  'a rendition of a {}.',
  'a photo of my {}.',
  'a tiny image of a {}.',
  'a grainy photo of the {}.',
];

/**
 * Captions are cut to this many tokens (start and end token included; the end token is kept). A long
 * gloss in a batch would otherwise set the text length of all 128 captions: with glosses uncut the text
 * tower cost more than the patch-8 vision tower.
 */
export const TRAIN_CONTEXT = 32;

export function fillTemplate(template: string, phrase: string): string {
  const a = /^[aeiou]/i.test(phrase) ? 'an' : 'a';
  // "a {}" must read "an apple": fix the article in front of the slot.
  return template.replace(/\ba \{\}/, `${a} {}`).replace('{}', phrase);
}

/** Display names like "T-shirt/top" read better split: "T-shirt or top". */
export function readableName(name: string): string {
  return name.replace('/', ' or ');
}

/** One caption for a class, drawn with `rand`. The kinds mix names, synonyms, hypernyms and glosses. */
export function sampleCaption(e: LexiconEntry, rand: () => number, templates: readonly string[] = TRAIN_TEMPLATES): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  const name = readableName(e.name);
  const names = [name, ...e.synonyms.slice(0, 4)];
  const r = rand();
  const t = pick(templates);
  if (r < 0.5) return fillTemplate(t, name);
  if (r < 0.72) return fillTemplate(t, pick(names));
  if (r < 0.88 && e.hypernyms.length) return fillTemplate(t, `${pick(names)}, a kind of ${pick(e.hypernyms.slice(0, 3))}`);
  if (e.gloss) return `${fillTemplate(t, pick(names)).replace(/\.$/, '')}: ${e.gloss}.`;
  return fillTemplate(t, name);
}

/** Zero-shot prompts: every held-out template filled with the class display name. */
export function zeroShotPrompts(className: string, templates: readonly string[] = HELDOUT_TEMPLATES): string[] {
  return templates.map((t) => fillTemplate(t, readableName(className)));
}
