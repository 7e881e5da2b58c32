// TaI-DPT's labels from text (Guo et al., CVPR 2023, §3.2): a caption's labels are the classes whose names
// (or synonyms) occur in it. Procedure: lowercase, tokenise into words, lemmatise each word as a noun,
// then match every class's synonym list against the lemma sequence — compound names (most words) first —
// deleting each match so that "fire truck" is not counted again as "truck". A caption that matches no class
// is dropped by the caller (`textTrainingSet`).
//
// The lemmatiser is WordNet's morphy for nouns, written here: the exception list (`noun.exc`, shipped in
// data/corpora/) first, then the suffix rules (-s, -ses, -xes, -zes, -ches, -shes, -men, -ies), keeping a
// candidate only when it is a known noun lemma. Which lemmas are "known" is the caller's lexicon: the corpus
// builder passes WordNet's whole noun index, label derivation the synonym words themselves (for matching
// the two give the same answer: a token can only match if its lemma is a synonym word). Of several valid
// forms the shortest wins (NLTK's WordNetLemmatizer does the same).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Morphy's noun detachment rules: [suffix, replacement]. */
const NOUN_RULES: readonly [string, string][] = [
  ['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y'],
];

/** Parses a WordNet exception list ("inflected base [base…]" per line). */
export function parseExceptions(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || !parts[0]) continue;
    out.set(parts[0].replace(/_/g, ' '), parts.slice(1).map((p) => p.replace(/_/g, ' ')));
  }
  return out;
}

export const NOUN_EXC_PATH = fileURLToPath(new URL('../../data/corpora/noun.exc', import.meta.url));
let shippedExc: Map<string, string[]> | undefined;
/** WordNet 3.0's noun.exc as shipped in data/corpora/ (Princeton WordNet licence). */
export function nounExceptions(): Map<string, string[]> {
  shippedExc ??= parseExceptions(readFileSync(NOUN_EXC_PATH, 'utf8'));
  return shippedExc;
}

export class NounLemmatizer {
  constructor(private readonly exceptions: Map<string, string[]>, private readonly isLemma: (w: string) => boolean) {}

  /** The noun lemma of a lowercase word (the word itself when nothing applies). */
  lemma(word: string): string {
    const forms = new Set<string>();
    const exc = this.exceptions.get(word);
    if (exc) for (const f of exc) forms.add(f);
    if (this.isLemma(word)) forms.add(word);
    if (!exc) {
      for (const [suffix, repl] of NOUN_RULES) {
        if (word.length > suffix.length && word.endsWith(suffix)) {
          const cand = word.slice(0, word.length - suffix.length) + repl;
          if (this.isLemma(cand)) forms.add(cand);
        }
      }
    }
    if (forms.size === 0) return word;
    return [...forms].reduce((a, b) => (b.length < a.length || (b.length === a.length && b < a) ? b : a));
  }
}

/** Lowercase words: letters with inner hyphens/apostrophes ("t-shirt", "dog's" → "dog", "s" dropped). */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(/[a-z]+(?:-[a-z]+)*/g)) out.push(m[0]);
  return out;
}

/** A class and its names: the class name first, then synonyms; multi-word names allowed ("fire engine"). */
export interface ClassSynonyms {
  name: string;
  synonyms: string[];
}

export interface LabelDeriver {
  classNames: string[];
  /** Indices of the classes the text mentions, ascending (empty: the text is dropped). */
  labels(text: string): number[];
  /** The lemma sequence used for matching (for inspection and tests). */
  lemmas(text: string): string[];
}

/**
 * Builds the caption → labels function for a class list. `lexicon`: known noun lemmas for the lemmatiser
 * (default: the synonym words, see the file comment); `exceptions`: default the shipped noun.exc.
 */
export function labelDeriver(classes: ClassSynonyms[], opts: { exceptions?: Map<string, string[]>; lexicon?: (w: string) => boolean } = {}): LabelDeriver {
  const vocab = new Set<string>();
  for (const c of classes) for (const s of [c.name, ...c.synonyms]) for (const w of words(s)) vocab.add(w);
  const lem = new NounLemmatizer(opts.exceptions ?? nounExceptions(), opts.lexicon ?? ((w) => vocab.has(w)));
  const lemmas = (text: string) => words(text).map((w) => lem.lemma(w));
  // Every (class, name as lemmas) pair, longest names first (compound names before their last word);
  // ties in class order, so the order is deterministic.
  const names: { cls: number; seq: string[] }[] = [];
  classes.forEach((c, cls) => {
    const seen = new Set<string>();
    for (const s of [c.name, ...c.synonyms]) {
      const seq = lemmas(s);
      const k = seq.join(' ');
      if (seq.length && !seen.has(k)) { seen.add(k); names.push({ cls, seq }); }
    }
  });
  names.sort((a, b) => b.seq.length - a.seq.length || a.cls - b.cls);
  return {
    classNames: classes.map((c) => c.name),
    lemmas,
    labels(text) {
      // A deleted match leaves a gap (null), so the words on either side never form a new compound.
      const toks: (string | null)[] = lemmas(text);
      const hit = new Set<number>();
      for (const { cls, seq } of names) {
        for (let i = 0; i + seq.length <= toks.length; i++) {
          let ok = true;
          for (let j = 0; j < seq.length && ok; j++) ok = toks[i + j] === seq[j];
          if (!ok) continue;
          hit.add(cls);
          for (let j = 0; j < seq.length; j++) toks[i + j] = null;
          i += seq.length - 1;
        }
      }
      return [...hit].sort((a, b) => a - b);
    },
  };
}

/** TaI-DPT's hand-written template sentences, one set per class, labelled with that class only. */
export const TAI_TEMPLATES: readonly string[] = [
  'a photo of a {}.', 'a picture of a {}.', 'a small photo of a {}.', 'a low resolution photo of a {}.',
  'a blurry photo of a {}.', 'a cropped photo of a {}.', 'a close-up photo of a {}.', 'a good photo of a {}.',
];

/** A multi-label text training set: texts and a row-major 0/1 label matrix [n, C]. */
export interface TextTrainingSet {
  classNames: string[];
  texts: string[];
  /** Row-major [n, C], 1 = positive. */
  labels: Uint8Array;
  /** Where each text came from: 'corpus' or 'template'. */
  origin: ('corpus' | 'template')[];
  /** Corpus texts read / kept (≥ 1 label). */
  read: number;
  kept: number;
}

/**
 * The training texts of TaI-DPT: every corpus text with its derived labels (texts with none dropped), plus
 * for every class each template filled with the class name, labelled with that class.
 */
export function textTrainingSet(corpus: readonly string[], classes: ClassSynonyms[], templates: readonly string[] = TAI_TEMPLATES): TextTrainingSet {
  const d = labelDeriver(classes);
  const C = classes.length;
  const texts: string[] = [], origin: ('corpus' | 'template')[] = [], rows: number[][] = [];
  for (const t of corpus) {
    const l = d.labels(t);
    if (l.length === 0) continue;
    texts.push(t); origin.push('corpus'); rows.push(l);
  }
  const kept = texts.length;
  classes.forEach((c, i) => {
    for (const tpl of templates) { texts.push(tpl.replace('{}', c.name)); origin.push('template'); rows.push([i]); }
  });
  const labels = new Uint8Array(texts.length * C);
  rows.forEach((r, i) => { for (const c of r) labels[i * C + c] = 1; });
  return { classNames: classes.map((c) => c.name), texts, labels, origin, read: corpus.length, kept };
}
