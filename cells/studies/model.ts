// Which CLIP a study runs on: a parameter, by name or folder (default: the project's own mini-CLIP),
// wrapped as the frozen backbone the prompt learners train against.
import type { BackendPreference } from '../model/backend.ts';
import { DEFAULT_MODEL, loadModel, resolveModel } from '../model/load.ts';
import { backboneOf, type PromptBackbone } from '../prompts/backbone.ts';

export const STUDY_DEFAULT_MODEL = DEFAULT_MODEL;

export interface StudyModel {
  model: PromptBackbone;
  /** Folder the weights came from. */
  dir: string;
  /** One line for the notebook: which model the numbers come from. */
  note: string;
}

export async function loadStudyModel(name: string = STUDY_DEFAULT_MODEL, opts: { backend?: BackendPreference } = {}): Promise<StudyModel> {
  const { dir } = await resolveModel(name);
  const model = await backboneOf(await loadModel(name, opts));
  return { model, dir, note: `model: ${name} (${dir}, fingerprint ${model.fingerprint.slice(0, 12)})` };
}
