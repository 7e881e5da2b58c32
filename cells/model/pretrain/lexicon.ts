// The WordNet-derived caption lexicon (data/lexicon/lexicon.json, made by data/lexicon/make.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LexiconEntry {
  /** Class display name, as the dataset loaders give it. */
  name: string;
  /** WordNet sense chosen for the class, e.g. "car.n.01@02958343". */
  synset: string;
  synonyms: string[];
  hypernyms: string[];
  gloss: string;
}

export interface Lexicon {
  source: string;
  licence: string;
  datasets: Record<string, LexiconEntry[]>;
}

export const DEFAULT_LEXICON_PATH = fileURLToPath(new URL('../../../data/lexicon/lexicon.json', import.meta.url));

export function loadLexicon(path = DEFAULT_LEXICON_PATH): Lexicon {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`lexicon ${path}: ${(e as Error).message}; regenerate it with node --import tsx data/lexicon/make.ts`);
  }
  const lex = raw as Lexicon;
  if (!lex || typeof lex !== 'object' || !lex.datasets || typeof lex.datasets !== 'object') {
    throw new Error(`lexicon ${path}: expected {source, licence, datasets: {name: entries[]}}`);
  }
  for (const [ds, entries] of Object.entries(lex.datasets)) {
    entries.forEach((e, i) => {
      if (typeof e.name !== 'string' || !Array.isArray(e.synonyms) || !Array.isArray(e.hypernyms) || typeof e.gloss !== 'string') {
        throw new Error(`lexicon ${path}: datasets.${ds}[${i}] lacks name/synonyms/hypernyms/gloss`);
      }
    });
  }
  return lex;
}

/** Entries of one dataset, checked against the class names a loader gave. */
export function lexiconFor(lex: Lexicon, dataset: string, classNames: readonly string[]): LexiconEntry[] {
  const entries = lex.datasets[dataset];
  if (!entries) throw new Error(`lexicon: no dataset "${dataset}" (have ${Object.keys(lex.datasets).join(', ')})`);
  if (entries.length !== classNames.length || entries.some((e, i) => e.name !== classNames[i])) {
    throw new Error(`lexicon: "${dataset}" classes [${entries.map((e) => e.name).join(', ')}] do not match [${classNames.join(', ')}]`);
  }
  return entries;
}
