// COCO-format multi-label loader: `annotations/instances_<split>.json` plus `<split>/<file_name>` images,
// in a directory or a tar (../shared/datasets/coco-mini/coco-mini.tar). Each image's label set is the
// set of categories of its annotations, as indices into the categories sorted by id.

import { assembleDataset, type Candidate } from './assemble.ts';
import type { Dataset, LoadOptions } from './dataset.ts';
import { nameFromPath, openRoot } from './root.ts';

interface CocoJson {
  images: { id: number; file_name: string }[];
  annotations: { image_id: number; category_id: number }[];
  categories: { id: number; name: string }[];
}

export interface CocoOptions extends LoadOptions {
  /** Annotation file inside the root (default `annotations/instances_<split>.json`). */
  annotations?: string;
  /** Image folder inside the root (default `<split>`). */
  imageDir?: string;
}

export async function loadCoco(tarOrDir: string, split: string, opts: CocoOptions = {}): Promise<Dataset> {
  const root = openRoot(tarOrDir);
  try {
    const annPath = opts.annotations ?? `annotations/instances_${split}.json`;
    let coco: CocoJson;
    try {
      coco = JSON.parse(new TextDecoder().decode(root.read(annPath))) as CocoJson;
    } catch (err) {
      throw new Error(`${root.where(annPath)}: cannot read COCO annotations (${(err as Error).message})`);
    }
    if (!Array.isArray(coco.images) || !Array.isArray(coco.annotations) || !Array.isArray(coco.categories)) {
      throw new Error(`${root.where(annPath)}: not a COCO instances file (needs images, annotations, categories)`);
    }
    const categories = [...coco.categories].sort((a, b) => a.id - b.id);
    const indexOf = new Map(categories.map((c, i) => [c.id, i]));
    const labelSets = new Map<number, Set<number>>();
    for (const a of coco.annotations) {
      // An unknown category id maps to -1, which assembleDataset reports as a label outside the class list.
      const k = indexOf.get(a.category_id) ?? -1;
      if (!labelSets.has(a.image_id)) labelSets.set(a.image_id, new Set());
      labelSets.get(a.image_id)!.add(k);
    }
    const imageDir = opts.imageDir ?? split;
    const candidates: Candidate[] = [...coco.images]
      .sort((a, b) => a.id - b.id)
      .map((img) => {
        const file = `${imageDir}/${img.file_name}`;
        return {
          source: file,
          label: [...(labelSets.get(img.id) ?? [])].sort((a, b) => a - b),
          offset: root.offsetOf(file),
          where: root.where(file),
          read: () => root.read(file),
        };
      });
    return assembleDataset({
      name: opts.name ?? `${nameFromPath(tarOrDir)}-${split}`,
      classNames: categories.map((c) => c.name),
      multiLabel: true,
      split: opts.split ?? split,
      candidates,
      origin: root.origin,
      onError: opts.onError ?? 'error',
      denseLimitBytes: opts.denseLimitBytes,
    });
  } finally {
    root.close();
  }
}
