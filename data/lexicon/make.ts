// Derives data/lexicon/lexicon.json from Princeton WordNet 3.0 as Debian installs it
// (`apt-get install wordnet wordnet-base`: /usr/share/wordnet/{index,data}.noun).
//
//   node --import tsx data/lexicon/make.ts [wordnetDir]
//
// For every class of the pretraining sets (CIFAR-10, Fashion-MNIST) and the evaluation-only sets (MNIST
// digits, GTSRB signs) we pick one WordNet noun sense by hand (the sense number is part of the spec below,
// so the choice is reviewable) and record its synonyms, two levels of hypernyms and the gloss. Sense
// choice matters: "cat" sense 2 is "guy", "bag" sense 4 is the handbag Fashion-MNIST shows.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Lexicon, LexiconEntry } from '../../cells/model/pretrain/lexicon.ts';

interface ClassSpec {
  /** Display name as the dataset loaders give it. */
  name: string;
  /** WordNet lemma (underscores for spaces) and 1-based sense number in index.noun's order. */
  lemma: string;
  sense: number;
}


const SPECS: Record<string, ClassSpec[]> = {
  'cifar10': [
    { name: 'airplane', lemma: 'airplane', sense: 1 },
    { name: 'automobile', lemma: 'car', sense: 1 },
    { name: 'bird', lemma: 'bird', sense: 1 },
    { name: 'cat', lemma: 'cat', sense: 1 },
    { name: 'deer', lemma: 'deer', sense: 1 },
    { name: 'dog', lemma: 'dog', sense: 1 },
    { name: 'frog', lemma: 'frog', sense: 1 },
    { name: 'horse', lemma: 'horse', sense: 1 },
    { name: 'ship', lemma: 'ship', sense: 1 },
    { name: 'truck', lemma: 'truck', sense: 1 },
  ],
  'fashion-mnist': [
    { name: 'T-shirt/top', lemma: 't-shirt', sense: 1 },
    { name: 'trouser', lemma: 'trouser', sense: 1 },
    { name: 'pullover', lemma: 'pullover', sense: 1 },
    { name: 'dress', lemma: 'dress', sense: 1 },
    { name: 'coat', lemma: 'coat', sense: 1 },
    { name: 'sandal', lemma: 'sandal', sense: 1 },
    { name: 'shirt', lemma: 'shirt', sense: 1 },
    { name: 'sneaker', lemma: 'sneaker', sense: 1 },
    { name: 'bag', lemma: 'handbag', sense: 1 },
    { name: 'ankle boot', lemma: 'boot', sense: 1 },
  ],
  'mnist': ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].map((w, i) => ({
    name: String(i), lemma: w, sense: w === 'zero' ? 2 : 1, // zero#1 is "nothing"; zero#2 is the digit
  })),
};

/** GTSRB's 43 sign names share one sense: WordNet has no entries for individual traffic signs. */
const GTSRB_LEMMA = { lemma: 'street_sign', sense: 1 };

interface Synset {
  offset: string;
  words: string[];
  hypernyms: string[];
  gloss: string;
}

class WordNet {
  private index = new Map<string, string[]>();
  private data: string;
  private lineAt = new Map<string, string>();

  constructor(dir: string) {
    for (const line of readFileSync(join(dir, 'index.noun'), 'latin1').split('\n')) {
      if (!line || line.startsWith(' ')) continue;
      const f = line.trim().split(' ');
      const pCnt = Number(f[3]);
      const senseCnt = Number(f[2]);
      this.index.set(f[0], f.slice(4 + pCnt + 2, 4 + pCnt + 2 + senseCnt));
    }
    this.data = readFileSync(join(dir, 'data.noun'), 'latin1');
    for (const line of this.data.split('\n')) if (line && !line.startsWith(' ')) this.lineAt.set(line.slice(0, 8), line);
  }

  sense(lemma: string, n: number): Synset {
    const offs = this.index.get(lemma.toLowerCase());
    if (!offs) throw new Error(`WordNet: no noun "${lemma}" in index.noun`);
    if (n < 1 || n > offs.length) throw new Error(`WordNet: "${lemma}" has ${offs.length} senses, asked for ${n}`);
    return this.synset(offs[n - 1]);
  }

  synset(offset: string): Synset {
    const line = this.lineAt.get(offset);
    if (!line) throw new Error(`WordNet: synset ${offset} not in data.noun`);
    const bar = line.indexOf(' | ');
    const f = line.slice(0, bar).trim().split(' ');
    const wCnt = parseInt(f[3], 16);
    const words: string[] = [];
    for (let i = 0; i < wCnt; i++) words.push(f[4 + 2 * i].replace(/_/g, ' ').replace(/\(.*\)$/, ''));
    let k = 4 + 2 * wCnt;
    const pCnt = Number(f[k++]);
    const hypernyms: string[] = [];
    for (let i = 0; i < pCnt; i++, k += 4) if (f[k] === '@' || f[k] === '@i') hypernyms.push(f[k + 1]);
    // The gloss is "definition; "example"; ...": keep the definition only.
    const gloss = line.slice(bar + 3).split(/;\s*"/)[0].split('; ')[0].trim();
    return { offset, words, hypernyms, gloss };
  }
}

function entry(wn: WordNet, name: string, lemma: string, sense: number): LexiconEntry {
  const s = wn.sense(lemma, sense);
  const hyper: string[] = [];
  let frontier = s.hypernyms;
  for (let depth = 0; depth < 2 && frontier.length; depth++) {
    const next: string[] = [];
    for (const off of frontier) {
      const h = wn.synset(off);
      hyper.push(...h.words.filter((w) => !hyper.includes(w)).slice(0, 3));
      next.push(...h.hypernyms);
    }
    frontier = next.slice(0, 1);
  }
  // Synonyms that are just roman numerals or single letters ("I" for one) make poor captions.
  const synonyms = s.words.filter((w) => w.toLowerCase() !== name.toLowerCase() && !/^[IVX]+$/.test(w) && w.length > 1);
  return { name, synset: `${lemma}.n.${String(sense).padStart(2, '0')}@${s.offset}`, synonyms, hypernyms: hyper, gloss: s.gloss };
}

export function makeLexicon(wordnetDir: string, gtsrbNames: string[]): Lexicon {
  const wn = new WordNet(wordnetDir);
  const datasets: Record<string, LexiconEntry[]> = {};
  for (const [ds, specs] of Object.entries(SPECS)) datasets[ds] = specs.map((c) => entry(wn, c.name, c.lemma, c.sense));
  const sign = entry(wn, 'traffic sign', GTSRB_LEMMA.lemma, GTSRB_LEMMA.sense);
  datasets.gtsrb = gtsrbNames.map((name) => ({ ...sign, name, synonyms: [], hypernyms: ['traffic sign', ...sign.hypernyms] }));
  return {
    source: 'Princeton WordNet 3.0 (Debian packages wordnet-base), derived by data/lexicon/make.ts',
    licence: 'WordNet 3.0 licence, see data/lexicon/LICENSE-WordNet.txt',
    datasets,
  };
}

function gtsrbClassNames(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '../../../shared/datasets/gtsrb/classes.csv'), join(here, 'gtsrb-classes.csv')]) {
    try {
      return readFileSync(p, 'utf8').trim().split('\n').slice(1).map((l) => l.slice(l.indexOf(',') + 1).trim().replace(/^"|"$/g, ''));
    } catch { /* try the next place */ }
  }
  throw new Error('make.ts: GTSRB classes.csv not found (../shared/datasets/gtsrb/classes.csv)');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? '/usr/share/wordnet';
  const lex = makeLexicon(dir, gtsrbClassNames());
  const out = join(dirname(fileURLToPath(import.meta.url)), 'lexicon.json');
  writeFileSync(out + '.tmp', JSON.stringify(lex, null, 1) + '\n');
  renameSync(out + '.tmp', out);
  console.log(`wrote ${out}: ${Object.entries(lex.datasets).map(([k, v]) => `${k} ${v.length}`).join(', ')}`);
}
