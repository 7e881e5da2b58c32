// Which CLIP a study runs on: a parameter, by name or folder (default: the project's own mini-CLIP),
// wrapped as the frozen backbone the prompt learners train against, with a line naming it for the notebook.
// Loading itself is cells/model's `load`; this only adds the note the transferability notebook shows.
import { DEFAULT_MODEL, load, resolveModel, backboneOf, type BackendPreference, type PromptBackbone } from '../model/index.ts';

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
  // As the notebook library's loadModel: start the fastest backend unless told, and name the model as given.
  const model = await backboneOf(await load(name, { backend: opts.backend ?? 'auto', id: name }));
  return { model, dir, note: `model: ${name} (${dir}, fingerprint ${model.fingerprint.slice(0, 12)})` };
}
