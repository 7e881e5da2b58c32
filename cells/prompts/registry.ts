// Methods by name. A method file registers itself; `getTrainer` makes a fresh trainer and fills in
// the method's defaults, so a cache key always sees the complete configuration.
//
// Two kinds of task. Single-label methods (CoOp, VPT, UPT, …) are `PromptTrainer`s: the shared loop
// (train.ts) and the few-shot protocol train them with cross-entropy on one label per image. Multi-label
// methods (TaI-DPT on texts, the image-trained multi-label prompt) train on label *sets* with a ranking loss
// in their own loop and are scored by mAP; they register with `registerMultiLabelMethod` and are found with
// `getMultiLabelMethod`. Asking `getTrainer` (the protocol's door) for one is a clear error, not a run with
// the wrong loss.
import type { PromptTrainer } from './trainer.ts';
import type { CLIPModel } from '../model/index.ts';

export interface TrainerEntry<C = unknown> {
  create(): PromptTrainer<C>;
  defaults: C;
  /** One line for listings: what the method learns. */
  describe: string;
  /**
   * Files a configuration reads by name (a shipped label list, say): their content joins the training key,
   * so editing one re-trains instead of reusing prompts learned against the old file.
   */
  keyFiles?(config: C): string[];
  /**
   * What its batches carry for this configuration, for a method where that depends on it (Pro-tuning with no
   * blocks reads cached features); known before a trainer is initialised. Default: the trainer's `input`.
   */
  inputOf?(config: C): 'features' | 'pixels';
  /**
   * Key training on the task's training and validation rows (`PromptTask.trainKey`) instead of the whole
   * task: for a method whose training reads nothing else, so changing only the evaluation set never re-trains.
   * (Opt-in so the other methods' cached prompts keep their keys.)
   */
  keyOnTrainingRows?: boolean;
  /**
   * Bump when the method's training computes differently for the same configuration (a new fit, a kernel
   * that rounds differently), so cached prompts of the old code are not served as the new code's. Joins the
   * key only when set, so methods that never changed keep their cached prompts.
   */
  version?: number;
}

const entries = new Map<string, TrainerEntry>();

export function registerTrainer<C>(name: string, entry: TrainerEntry<C>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`registerTrainer: method name "${name}" must be lower-case letters, digits and dashes`);
  if (multiLabel.has(name)) throw new Error(`registerTrainer: "${name}" is already a multi-label method`);
  entries.set(name, entry as TrainerEntry);
}

export function getTrainer(name: string): TrainerEntry {
  const e = entries.get(name);
  const ml = multiLabel.get(name);
  if (!e && ml) {
    throw new Error(`"${name}" is a multi-label method (trains on ${ml.trainsOn} with label sets and a ranking loss, scored by mAP); `
      + `the few-shot protocol and trainPrompt train single-label image classifiers. Use getMultiLabelMethod("${name}").train(model, data, options).`);
  }
  if (!e) throw new Error(`unknown prompt method "${name}"; registered: ${[...entries.keys()].sort().join(', ')}`);
  return e;
}

export function listTrainers(): string[] {
  return [...entries.keys()].sort();
}

/** The method's defaults overlaid with `config`; unknown keys are an error (a typo must not be silently cached). */
export function resolveConfig(name: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  const defaults = getTrainer(name).defaults as Record<string, unknown>;
  for (const k of Object.keys(config)) {
    if (!(k in defaults)) throw new Error(`${name}: unknown config key "${k}"; known: ${Object.keys(defaults).join(', ')}`);
  }
  return { ...defaults, ...config };
}

/** What a multi-label method's training data is: labelled texts (TaI-DPT) or labelled multi-label images. */
export type MultiLabelSource = 'texts' | 'images';

/**
 * A multi-label method: `train` is its cached training stage (`trainTaIDPT`, `trainImageMultiLabel`), `D` its
 * training data (a TextTrainingSet, a MosaicSet), `O` its options, `R` the trained result.
 */
export interface MultiLabelEntry<D = never, O = never, R = unknown> {
  trainsOn: MultiLabelSource;
  /** One line for listings: what the method learns. */
  describe: string;
  train(model: CLIPModel, data: D, options?: O): Promise<R>;
}

const multiLabel = new Map<string, MultiLabelEntry<never, never, unknown>>();

export function registerMultiLabelMethod<D, O, R>(name: string, entry: MultiLabelEntry<D, O, R>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`registerMultiLabelMethod: method name "${name}" must be lower-case letters, digits and dashes`);
  if (entries.has(name)) throw new Error(`registerMultiLabelMethod: "${name}" is already a single-label method`);
  multiLabel.set(name, entry as unknown as MultiLabelEntry<never, never, unknown>);
}

/** A multi-label method by name; the caller states its data and options types (the method file exports them). */
export function getMultiLabelMethod<D = unknown, O = unknown, R = unknown>(name: string): MultiLabelEntry<D, O, R> {
  const e = multiLabel.get(name);
  if (!e) {
    const hint = entries.has(name) ? ` ("${name}" is a single-label method: use getTrainer / trainPrompt)` : '';
    throw new Error(`unknown multi-label method "${name}"${hint}; registered: ${[...multiLabel.keys()].sort().join(', ') || 'none (import cells/prompts/multilabel-methods.ts)'}`);
  }
  return e as unknown as MultiLabelEntry<D, O, R>;
}

export function listMultiLabelMethods(): string[] {
  return [...multiLabel.keys()].sort();
}
