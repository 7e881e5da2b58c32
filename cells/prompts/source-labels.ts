// A frozen model's *source* label space for visual reprogramming: CLIP as a classifier over a list of class
// names with prompt templates. Default: the 1,000 ImageNet-1k names OpenAI curated for CLIP with CLIP's
// templates (data/imagenet/clip-imagenet-1k.json, from openai/CLIP's prompt-engineering notebook, MIT; see
// data/imagenet/README.md). Any list of names is a source label set too (e.g. another task's classes).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type SourceLabelSpec = 'imagenet1k' | string[];
export type SourceTemplateSpec = 'clip7' | 'clip80' | string[];

interface ImagenetFile {
  classes: string[];
  templates: string[];
  templates7: string[];
}

let imagenet: ImagenetFile | undefined;
/** The shipped file behind 'imagenet1k', 'clip7' and 'clip80'. */
export const IMAGENET_FILE = fileURLToPath(new URL('../../data/imagenet/clip-imagenet-1k.json', import.meta.url));

function imagenetFile(): ImagenetFile {
  if (!imagenet) {
    const path = IMAGENET_FILE;
    imagenet = JSON.parse(readFileSync(path, 'utf8')) as ImagenetFile;
    if (imagenet.classes.length !== 1000) throw new Error(`${path}: expected 1000 ImageNet class names, found ${imagenet.classes.length}`);
  }
  return imagenet;
}

/** The class names of a source label set, in source label order. */
export function sourceLabelNames(spec: SourceLabelSpec): string[] {
  if (spec === 'imagenet1k') return imagenetFile().classes;
  if (!Array.isArray(spec) || spec.length === 0 || spec.some((s) => typeof s !== 'string' || !s.trim())) {
    throw new Error(`source labels: expected 'imagenet1k' or a non-empty list of class names, got ${JSON.stringify(spec)}`);
  }
  return spec;
}

/** CLIP's ImageNet templates: 'clip7' (the 7 its authors selected), 'clip80' (all 80), or a list. */
export function sourceTemplates(spec: SourceTemplateSpec): string[] {
  if (spec === 'clip7') return imagenetFile().templates7;
  if (spec === 'clip80') return imagenetFile().templates;
  if (!Array.isArray(spec) || spec.length === 0 || spec.some((t) => typeof t !== 'string' || !t.includes('{}'))) {
    throw new Error(`source templates: expected 'clip7', 'clip80' or a list of templates with "{}", got ${JSON.stringify(spec)}`);
  }
  return spec;
}
