// Which CLIP a study runs on: a parameter, by name or folder. The default is the project's own mini-CLIP
// (data/models/mini-clip). Until that checkpoint exists in a checkout, the default falls back to the tiny
// random-weight parity fixture in ../shared (development machines only) and says so, loudly, in `note`:
// numbers from the fixture measure the pipeline, not CLIP's transfer.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendPreference } from '../model/backend.ts';
import { bundledModelsDir } from '../model/hub.ts';
import { loadBackbone, type PromptBackbone } from '../prompts/backbone.ts';

export const STUDY_DEFAULT_MODEL = 'mini-clip';
const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/clip/fixture-tiny/', import.meta.url));

export interface StudyModel {
  model: PromptBackbone;
  /** Folder the weights came from. */
  dir: string;
  /** True when the default model was missing and the test fixture stands in. */
  fallback: boolean;
  /** One line for the notebook: which model, and the caveat when it is the fixture. */
  note: string;
}

const isModelDir = (dir: string) => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'));

/**
 * Loads a CLIP (Hugging Face CLIPModel folder) as a frozen prompt backbone: `name` is a bundled model
 * ("mini-clip") or a folder. Starts the compute backend first ('auto': webgpu → wasm → cpu).
 */
export async function loadStudyModel(name: string = STUDY_DEFAULT_MODEL, opts: { backend?: BackendPreference } = {}): Promise<StudyModel> {
  await initBackend(opts.backend ?? 'auto');
  const asDir = isAbsolute(name) || name.startsWith('.') ? name : join(bundledModelsDir(), name);
  if (isModelDir(asDir)) {
    return { model: await loadBackbone(asDir, name), dir: asDir, fallback: false, note: `model: ${name} (${asDir})` };
  }
  if (name === STUDY_DEFAULT_MODEL && isModelDir(FIXTURE_DIR)) {
    return {
      model: await loadBackbone(FIXTURE_DIR, 'fixture-tiny'), dir: FIXTURE_DIR, fallback: true,
      note: `model: mini-CLIP is not in ${asDir} yet, so the tiny random-weight test fixture (../shared/clip/fixture-tiny) stands in: ` +
        'the pipeline, caching and plots are real, the transfer numbers are not CLIP\'s',
    };
  }
  throw new Error(`loadStudyModel: no CLIP model "${name}" (looked for config.json and model.safetensors in ${asDir}); ` +
    'give a folder with a Hugging Face CLIPModel checkpoint, or pull one with `promptscope model pull`');
}
