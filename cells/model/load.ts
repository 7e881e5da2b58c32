// The one way to get a CLIP model: `load(source, options)`. A source is a bundled model name
// ("mini-clip"), a Hugging Face repo id pulled into the model store ("openai/clip-vit-base-patch16"), a
// checkpoint folder (HF `config.json` + `model.safetensors`), or a config with weights already in memory.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { CLIPModel } from './clip.ts';
import { buildCLIP } from './build.ts';
import { parseCLIPConfig } from './config.ts';
import type { CLIPConfig } from './config.ts';
import type { WeightSource } from './weight-spec.ts';
import { initBackend, type BackendPreference } from './backend.ts';
import { bundledModelsDir, defaultModelStore, listModels } from './hub.ts';
import { readSafetensors } from '../util/safetensors.ts';

/** The default model: the project's own mini-CLIP, shipped in data/models. */
export const DEFAULT_MODEL = 'mini-clip';

/** A checkpoint that exists only in memory: config as the parsed `config.json` object or a CLIPConfig. */
export interface InMemoryCheckpoint {
  config: unknown;
  weights: WeightSource;
}

export interface LoadOptions {
  /**
   * Start this backend first (`initBackend`). Without it the running backend is used: tests, workers and
   * benchmarks pin theirs before loading. The notebook library passes 'auto'.
   */
  backend?: BackendPreference;
  /** Make every weight trainable (mini-CLIP pretraining). Default false: frozen encoders. */
  trainable?: boolean;
  /**
   * Name shown in results and pins. Default: the name as given for a store or bundled model; for a folder,
   * the repo id it was pulled as, else the folder's name; 'clip' for weights in memory.
   */
  id?: string;
}

export interface ResolvedModel {
  name: string;
  dir: string;
}

/** Where a model name points: the store (pulled repos and bundled models), else a folder. */
export async function resolveModel(name: string = DEFAULT_MODEL): Promise<ResolvedModel> {
  return (await resolve1(name)).resolved;
}

/** `byName`: the name is a repo id or bundled name (not a folder path), so it names the model. */
async function resolve1(name: string): Promise<{ resolved: ResolvedModel; byName: boolean }> {
  const models = await listModels(defaultModelStore());
  const hit = models.find((m) => m.repo === name || m.dir === name);
  if (hit) return { resolved: { name, dir: hit.dir }, byName: hit.repo === name };
  const isPath = isAbsolute(name) || name.startsWith('.') || name.includes('/');
  const bundled = join(bundledModelsDir(), name);
  // A bare name is a bundled model; failing that, a folder of that name (`model verify --model ckpt`).
  if (!isPath && (existsSync(join(bundled, 'config.json')) || !existsSync(join(name, 'config.json')))) {
    return { resolved: { name, dir: bundled }, byName: true };
  }
  return { resolved: { name, dir: name }, byName: false };
}

export async function load(source: string | InMemoryCheckpoint = DEFAULT_MODEL, opts: LoadOptions = {}): Promise<CLIPModel> {
  if (opts.backend) await initBackend(opts.backend);
  if (typeof source !== 'string') {
    const config = isParsedConfig(source.config) ? source.config : parseCLIPConfig(source.config);
    return buildCLIP(config, source.weights, { trainable: opts.trainable, id: opts.id });
  }
  const { resolved: { dir }, byName } = await resolve1(source);
  if (!existsSync(join(dir, 'config.json'))) {
    // Both readings of the name in one message: a folder without a config, or a name the store lacks.
    throw new Error(`no CLIP model "${source}": cannot read CLIP config ${join(resolve(dir), 'config.json')}; it is not in the model store (${defaultModelStore()}) nor a folder with config.json and model.safetensors. ` +
      'Pull one with `promptscope model pull <repo>`, or give a checkpoint folder.');
  }
  return readCheckpoint(dir, { trainable: opts.trainable, id: opts.id ?? (byName ? source : undefined) });
}

/** A checkpoint folder: HF `config.json` + `model.safetensors`. */
async function readCheckpoint(src: string, opts: { trainable?: boolean; id?: string }): Promise<CLIPModel> {
  const dir = resolve(src);
  const cfgPath = join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read CLIP config ${cfgPath}: ${(e as Error).message}`);
  }
  const config = parseCLIPConfig(raw, cfgPath);
  const wPath = join(dir, 'model.safetensors');
  const weights = await readSafetensors(wPath);
  const model = buildCLIP(config, weights, { trainable: opts.trainable, id: opts.id ?? (await storeId(dir)) ?? basename(dir), source: wPath });
  model.sourceDir = dir;
  return model;
}

/** A model pulled into the store is named by its repo id (and revision unless 'main'), not its folder. */
async function storeId(dir: string): Promise<string | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, '.promptscope-pull.json'), 'utf8')) as { repo?: string; revision?: string };
    if (!m.repo) return undefined;
    return m.revision && m.revision !== 'main' ? `${m.repo}@${m.revision}` : m.repo;
  } catch {
    return undefined;
  }
}

function isParsedConfig(c: unknown): c is CLIPConfig {
  return !!c && typeof c === 'object' && 'text' in c && 'vision' in c && 'projectionDim' in c;
}
