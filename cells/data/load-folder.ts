// Image-folder loader: `root/<class>/<image>` as a directory or a tar archive (the layout of
// ../shared/datasets/cifar10/{train,test}.tar). Classes are the folder names in sorted order, as
// torchvision's ImageFolder numbers them, unless `classes` fixes the order.

import { assembleDataset, type Candidate } from './assemble.ts';
import type { Dataset, LoadOptions } from './dataset.ts';
import { isImageName } from './images.ts';
import { nameFromPath, openRoot } from './root.ts';

export interface ImageFolderOptions extends LoadOptions {
  /** Folder names to load, in label order (default: every folder, sorted). */
  classes?: string[];
  /** Display names aligned with the classes (default: the folder names). */
  classNames?: string[];
  /** A folder inside the root that holds the class folders (e.g. 'test'). */
  subdir?: string;
}

export async function loadImageFolder(pathOrTar: string, opts: ImageFolderOptions = {}): Promise<Dataset> {
  const root = openRoot(pathOrTar);
  try {
    const prefix = opts.subdir ? `${opts.subdir.replace(/\/+$/, '')}/` : '';
    const byClass = new Map<string, string[]>();
    for (const dir of root.directories()) {
      if (!dir.startsWith(prefix)) continue;
      const rest = dir.slice(prefix.length);
      if (rest && !rest.includes('/')) byClass.set(rest, []);
    }
    for (const file of root.files()) {
      if (!file.startsWith(prefix)) continue;
      const rest = file.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0 || !isImageName(rest)) continue; // top-level files (README, manifests) are not images of a class
      const cls = rest.slice(0, slash);
      if (!byClass.has(cls)) byClass.set(cls, []);
      byClass.get(cls)!.push(file);
    }
    const folders = opts.classes ?? [...byClass.keys()].sort();
    if (folders.length === 0) throw new Error(`${root.where(prefix)}: no class folders found (expected <root>/<class>/<image>)`);
    for (const f of folders) {
      if (!byClass.has(f)) throw new Error(`${root.where(prefix + f)}: class folder not found (classes: ${[...byClass.keys()].join(', ')})`);
    }
    const classNames = opts.classNames ?? folders;
    if (classNames.length !== folders.length) {
      throw new Error(`${pathOrTar}: ${classNames.length} class names given for ${folders.length} class folders`);
    }
    const candidates: Candidate[] = [];
    folders.forEach((folder, label) => {
      for (const file of byClass.get(folder)!) {
        candidates.push({ source: file, label, offset: root.offsetOf(file), where: root.where(file), read: () => root.read(file) });
      }
    });
    return assembleDataset({
      name: opts.name ?? nameFromPath(pathOrTar),
      classNames,
      multiLabel: false,
      split: opts.split ?? (opts.subdir || 'all'),
      candidates,
      origin: root.origin,
      onError: opts.onError ?? 'error',
      denseLimitBytes: opts.denseLimitBytes,
      classWhere: folders.map((f) => root.where(`${prefix}${f}/`)),
    });
  } finally {
    root.close();
  }
}
