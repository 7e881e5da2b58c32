// The one way to get a model: `load(source, options)`. A source is a bundled model name ("mini-clip",
// "resnet-cifar10"), a Hugging Face repo id pulled into the model store ("openai/clip-vit-base-patch16"), a
// checkpoint folder (HF `config.json` + `model.safetensors`), or a CLIP config with weights already in memory.
// Two families load here, told apart by config.json's model_type: CLIP ("clip") and the CIFAR ResNet
// ("cifar-resnet", cells/model/resnet). The caller says which it expects (`type`, default 'clip'), and the
// result is typed to match (overloads); `type: 'any'` returns whichever the checkpoint is (`instanceof CLIPModel`
// tells them apart).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { CLIPModel } from './clip.ts';
import { buildCLIP } from './build.ts';
import { parseCLIPConfig } from './config.ts';
import type { CLIPConfig } from './config.ts';
import type { WeightSource } from './weight-spec.ts';
import { initBackend, type BackendPreference } from './backend.ts';
import { defaultModelStore } from './hub.ts';
import { DEFAULT_MODEL, resolveNamed } from './resolve.ts';
import { DEFAULT_RESNET, readResNetCheckpoint } from './resnet/load.ts';
import { RESNET_MODEL_TYPE } from './resnet/config.ts';
import type { ResNetModel } from './resnet/model.ts';
import { readSafetensors } from '../util/safetensors.ts';

export { DEFAULT_MODEL, resolveModel, type ResolvedModel } from './resolve.ts';

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
  /**
   * The family the caller expects: 'clip' (default) or 'resnet'; a checkpoint of the other family fails
   * with its config's model_type named. 'any': whatever the checkpoint's model_type says.
   */
  type?: ModelType | 'any';
}

export type ModelType = 'clip' | 'resnet';
/** What `load(source, {type: 'any'})` returns. */
export type AnyModel = CLIPModel | ResNetModel;

/** The family a config.json declares: "cifar-resnet" is the ResNet, anything else is read as CLIP. */
async function modelTypeOf(cfgPath: string): Promise<ModelType> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read model config ${cfgPath}: ${(e as Error).message}`);
  }
  return (raw as { model_type?: unknown } | null)?.model_type === RESNET_MODEL_TYPE ? 'resnet' : 'clip';
}

export function load(source: string | undefined, opts: LoadOptions & { type: 'resnet' }): Promise<ResNetModel>;
export function load(source: string | undefined, opts: LoadOptions & { type: 'any' }): Promise<AnyModel>;
export function load(source?: string | InMemoryCheckpoint, opts?: LoadOptions & { type?: 'clip' }): Promise<CLIPModel>;
export async function load(source?: string | InMemoryCheckpoint, opts: LoadOptions = {}): Promise<AnyModel> {
  if (opts.backend) await initBackend(opts.backend);
  const want = opts.type ?? 'clip';
  if (source !== undefined && typeof source !== 'string') {
    const config = isParsedConfig(source.config) ? source.config : parseCLIPConfig(source.config);
    return buildCLIP(config, source.weights, { trainable: opts.trainable, id: opts.id });
  }
  source ??= want === 'resnet' ? DEFAULT_RESNET : DEFAULT_MODEL;
  const { resolved: { dir }, byName } = await resolveNamed(source);
  const family = want === 'any' && existsSync(join(dir, 'config.json')) ? await modelTypeOf(join(resolve(dir), 'config.json')) : want;
  if (family === 'resnet') return readResNetCheckpoint(dir, opts.id ?? (source.includes('/') ? basename(resolve(dir)) : source), source);
  if (!existsSync(join(dir, 'config.json'))) {
    // Both readings of the name in one message: a folder without a config, or a name the store lacks.
    throw new Error(`no ${want === 'any' ? 'model' : 'CLIP model'} "${source}": cannot read ${want === 'any' ? 'model' : 'CLIP'} config ${join(resolve(dir), 'config.json')}; it is not in the model store (${defaultModelStore()}) nor a folder with config.json and model.safetensors. ` +
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
