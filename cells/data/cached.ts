// Loaders and splits as cached stages: a re-run (in this process or a new one) restores the listing and,
// for same-size sets, the decoded pixels from the cache instead of decoding every image again.
//
// Keys are provenance (cells/exec/keys.ts): the loader kind and its options (paths reduced to file
// names, so moving a dataset keeps its cache entry), plus the sha256 of every file read.

import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import type { Codec } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { stage } from '../exec/index.ts';
import { DECODER_VERSION, openLazyStore } from './assemble.ts';
import { bundledDataset, bundledFiles, type BundledName } from './bundled.ts';
import { DenseImageStore, type Dataset, type DatasetOrigin, type DenseImages, type SkippedFile } from './dataset.ts';
import { loadCoco, type CocoOptions } from './load-coco.ts';
import { loadImageFolder, type ImageFolderOptions } from './load-folder.ts';
import { loadIdx, type IdxOptions } from './load-idx.ts';
import { loadManifest, type ManifestOptions } from './load-manifest.ts';
import { openRoot, isTarPath } from './root.ts';
import { fewShotSplit, holdOutPool, type FewShotOptions, type FewShotSplit, type PoolSplit } from './splits.ts';

export type DatasetSpec =
  | { kind: 'folder'; path: string; options?: ImageFolderOptions }
  | { kind: 'idx'; options: IdxOptions }
  | { kind: 'manifest'; options: ManifestOptions }
  | { kind: 'coco'; path: string; split: string; options?: CocoOptions }
  | { kind: 'bundled'; name: BundledName; split?: string };

interface StoredMeta {
  name: string;
  classNames: string[];
  fingerprint: string;
  multiLabel: boolean;
  skipped: SkippedFile[];
  origin: DatasetOrigin;
  dense: Omit<DenseImages, 'pixels'> | null;
}

/** Stores rows (Arrow IPC), metadata (JSON) and, for dense sets, the raw pixels; lazy sets reopen their origin. */
function datasetCodec(currentOrigin: DatasetOrigin | undefined): Codec<Dataset> {
  return {
    async encode(ds, dir) {
      const dense = ds.images.dense;
      const meta: StoredMeta = {
        name: ds.name,
        classNames: ds.classNames,
        fingerprint: ds.fingerprint,
        multiLabel: ds.multiLabel,
        skipped: ds.skipped,
        origin: ds.origin,
        dense: dense ? { width: dense.width, height: dense.height, channels: dense.channels } : null,
      };
      await writeFile(join(dir, 'dataset.json'), JSON.stringify(meta));
      await writeFile(join(dir, 'rows.arrow'), tableToIPC(ds.rows, 'file'));
      if (dense) await writeFile(join(dir, 'pixels.u8'), dense.pixels);
    },
    async decode(dir) {
      const meta = JSON.parse(await readFile(join(dir, 'dataset.json'), 'utf8')) as StoredMeta;
      const rows = tableFromIPC(await readFile(join(dir, 'rows.arrow')));
      // The same content may now live at another path: read lazily from where it is now.
      const origin = currentOrigin ?? meta.origin;
      let images;
      if (meta.dense) {
        const buf = await readFile(join(dir, 'pixels.u8'));
        const pixels = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        images = new DenseImageStore({ ...meta.dense, pixels });
      } else {
        images = openLazyStore(origin, rows);
      }
      return { name: meta.name, classNames: meta.classNames, fingerprint: meta.fingerprint, multiLabel: meta.multiLabel, rows, images, skipped: meta.skipped, origin };
    },
  };
}

/** Every file a root reads (the tar itself, or each file of a directory), for content keys. */
function rootFiles(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  const root = openRoot(path);
  return root.files().map((f) => join(path, f));
}

function originOf(path: string): DatasetOrigin | undefined {
  if (!existsSync(path)) return undefined;
  return statSync(path).isDirectory() ? { kind: 'dir', root: path } : isTarPath(path) ? { kind: 'tar', path } : undefined;
}

/** Options with absolute paths reduced to file names (the files' content is keyed separately). */
function portable(value: unknown): unknown {
  if (typeof value === 'string' && isAbsolute(value)) return basename(value);
  if (Array.isArray(value)) return value.map(portable);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, portable(v)]));
  return value;
}

/** Loads a dataset through the cache. */
export async function loadDataset(spec: DatasetSpec): Promise<Dataset> {
  let files: string[];
  let origin: DatasetOrigin | undefined;
  let load: () => Promise<Dataset>;
  switch (spec.kind) {
    case 'folder':
      files = rootFiles(spec.path);
      origin = originOf(spec.path);
      load = () => loadImageFolder(spec.path, spec.options);
      break;
    case 'idx':
      files = [spec.options.images, spec.options.labels];
      origin = { kind: 'idx', images: spec.options.images };
      load = () => loadIdx(spec.options);
      break;
    case 'manifest': {
      const root = spec.options.root ?? join(spec.options.manifest, '..');
      files = [...rootFiles(root), ...(existsSync(spec.options.manifest) ? [spec.options.manifest] : [])];
      origin = originOf(root);
      load = () => loadManifest(spec.options);
      break;
    }
    case 'coco':
      files = rootFiles(spec.path);
      origin = originOf(spec.path);
      load = () => loadCoco(spec.path, spec.split, spec.options);
      break;
    case 'bundled':
      files = bundledFiles(spec.name);
      origin = spec.name === 'cifar10' || spec.name === 'gtsrb' ? { kind: 'tar', path: files[0] } : undefined;
      load = () => bundledDataset(spec.name, spec.split);
      break;
  }
  if (files.length === 0) throw new Error(`loadDataset: nothing to read for ${JSON.stringify(spec)} (does the path exist?)`);
  return stage(
    { name: 'loadDataset', version: DECODER_VERSION, params: portable(spec), files },
    datasetCodec(origin),
    async (ctx) => {
      ctx.progress(0, `loading ${spec.kind}`);
      const ds = await load();
      ctx.progress(1, `${ds.rows.numRows} images`);
      return ds;
    },
  );
}

/** A few-shot split as a cached, inspectable value (its table can be registered in SQL). */
export function cachedFewShotSplit(dataset: Dataset, opts: FewShotOptions): Promise<FewShotSplit> {
  const { pool, ...params } = opts;
  // The pool joins the key as a digest of its ids, so run records stay small.
  const poolKey = pool ? { size: pool.length, sha256: createHash('sha256').update(new Uint8Array(Int32Array.from(pool).buffer)).digest('hex') } : null;
  return stage(
    { name: 'fewShotSplit', version: 1, params: { ...params, pool: poolKey }, inputs: [`dataset:${dataset.fingerprint}`] },
    valueCodec<FewShotSplit>(),
    async () => fewShotSplit(dataset, opts),
  );
}

/** The held-out few-shot pool as a cached value. */
export function cachedHoldOutPool(dataset: Dataset, opts: { fraction?: number; seed?: number } = {}): Promise<PoolSplit> {
  return stage(
    { name: 'holdOutPool', version: 1, params: { fraction: opts.fraction ?? 0.1, seed: opts.seed ?? 0 }, inputs: [`dataset:${dataset.fingerprint}`] },
    valueCodec<PoolSplit>(),
    async () => holdOutPool(dataset, opts),
  );
}
