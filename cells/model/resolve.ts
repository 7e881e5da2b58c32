// Where a model name points: the model store (pulled repos and bundled models), else a folder. Both loaders'
// families (CLIP, the CIFAR ResNet) resolve names here, below load.ts, so neither imports the other's loader.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { bundledModelsDir, defaultModelStore, listModels } from './hub.ts';

/** The default model: the project's own mini-CLIP, shipped in data/models. */
export const DEFAULT_MODEL = 'mini-clip';

export interface ResolvedModel {
  name: string;
  dir: string;
}

/** Where a model name points: the store (pulled repos and bundled models), else a folder. */
export async function resolveModel(name: string = DEFAULT_MODEL): Promise<ResolvedModel> {
  return (await resolveNamed(name)).resolved;
}

/** A name written as a path (absolute, ./…, or with a slash) names a folder, never a bundled or pulled model. */
export function isModelPath(name: string): boolean {
  return isAbsolute(name) || name.startsWith('.') || name.includes('/');
}

/** `byName`: the name is a repo id or bundled name (not a folder path), so it names the model. */
export async function resolveNamed(name: string): Promise<{ resolved: ResolvedModel; byName: boolean }> {
  const models = await listModels(defaultModelStore());
  const hit = models.find((m) => m.repo === name || m.dir === name);
  if (hit) return { resolved: { name, dir: hit.dir }, byName: hit.repo === name };
  const isPath = isModelPath(name);
  const bundled = join(bundledModelsDir(), name);
  // A bare name is a bundled model; failing that, a folder of that name (`model verify --model ckpt`).
  if (!isPath && (existsSync(join(bundled, 'config.json')) || !existsSync(join(name, 'config.json')))) {
    return { resolved: { name, dir: bundled }, byName: true };
  }
  return { resolved: { name, dir: name }, byName: false };
}
