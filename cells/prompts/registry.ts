// Methods by name. A method file registers itself; `getTrainer` makes a fresh trainer and fills in
// the method's defaults, so a cache key always sees the complete configuration.
import type { PromptTrainer } from './trainer.ts';

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
}

const entries = new Map<string, TrainerEntry>();

export function registerTrainer<C>(name: string, entry: TrainerEntry<C>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`registerTrainer: method name "${name}" must be lower-case letters, digits and dashes`);
  entries.set(name, entry as TrainerEntry);
}

export function getTrainer(name: string): TrainerEntry {
  const e = entries.get(name);
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
