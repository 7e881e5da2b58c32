// Loading a model by the name a researcher uses: a bundled model ("mini-clip"), a Hugging Face repo id
// pulled into the model store ("openai/clip-vit-base-patch16"), or a folder. Starts the compute backend.
import { existsSync } from 'node:fs';
import { join, isAbsolute } from 'node:path';
import { loadCLIP, type CLIPModel } from './clip.ts';
import { initBackend, type BackendPreference } from './backend.ts';
import { bundledModelsDir, defaultModelStore, listModels } from './hub.ts';

/** The default model: the project's own mini-CLIP, shipped in data/models. */
export const DEFAULT_MODEL = 'mini-clip';

export interface ResolvedModel {
  name: string;
  dir: string;
}

/** Where a model name points: the store (pulled repos and bundled models), else a folder. */
export async function resolveModel(name: string = DEFAULT_MODEL): Promise<ResolvedModel> {
  const models = await listModels(defaultModelStore());
  const hit = models.find((m) => m.repo === name || m.dir === name);
  if (hit) return { name, dir: hit.dir };
  const isPath = isAbsolute(name) || name.startsWith('.') || name.includes('/');
  return { name, dir: isPath ? name : join(bundledModelsDir(), name) };
}

export async function loadModel(name: string = DEFAULT_MODEL, opts: { backend?: BackendPreference } = {}): Promise<CLIPModel> {
  await initBackend(opts.backend ?? 'auto');
  const { dir } = await resolveModel(name);
  if (!existsSync(join(dir, 'config.json'))) {
    throw new Error(`no CLIP model "${name}": not in the model store (${defaultModelStore()}) nor a folder with config.json and model.safetensors. ` +
      'Pull one with `promptscope model pull <repo>`, or give a checkpoint folder.');
  }
  return loadCLIP(dir, { id: name });
}
