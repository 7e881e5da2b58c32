// Derives data/corpora/wordnet-cifar10.jsonl: every WordNet 3.0 gloss sentence (definitions and quoted usage
// examples, split at ';') that mentions at least one CIFAR-10 class under TaI-DPT's labelling procedure
// (cells/prompts/caption-labels.ts with the synonym lists of cells/prompts/tai-synonyms.ts).
//
//   apt-get install -y wordnet-base          # Princeton WordNet 3.0 in /usr/share/wordnet
//   node --import tsx data/corpora/make.ts [/usr/share/wordnet]
//
// Re-running gives a byte-identical file (file order, first occurrence of a duplicate text kept). One JSON
// object per line: {"text", "source": "<file>:<synset offset>", "kind": "definition"|"example", "labels"}.
// noun.exc beside it is WordNet's noun exception list, copied unchanged (the lemmatiser's first step).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { labelDeriver } from '../../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../../cells/prompts/tai-synonyms.ts';

const wn = process.argv[2] ?? '/usr/share/wordnet';
const here = dirname(fileURLToPath(import.meta.url));
const derive = labelDeriver(CIFAR10_SYNONYMS);
const seen = new Set<string>();
const lines: string[] = [];
let sentences = 0;
for (const file of ['data.noun', 'data.verb', 'data.adj', 'data.adv']) {
  for (const line of readFileSync(join(wn, file), 'utf8').split('\n')) {
    if (!line || line.startsWith(' ')) continue; // the licence header lines start with two spaces
    const bar = line.indexOf(' | ');
    if (bar < 0) continue;
    const offset = line.slice(0, 8);
    for (const raw of line.slice(bar + 3).split(';')) {
      let text = raw.trim();
      if (!text) continue;
      const example = text.startsWith('"');
      text = text.replace(/^"+|"+$/g, '').replace(/"?\s*-\s*[A-Z][\w. ]+$/, '').trim(); // drop quotes and "- Author" credits
      if (!text) continue;
      sentences++;
      const labels = derive.labels(text);
      if (labels.length === 0 || seen.has(text)) continue;
      seen.add(text);
      lines.push(JSON.stringify({ text, source: `${file}:${offset}`, kind: example ? 'example' : 'definition', labels: labels.map((l) => derive.classNames[l]) }));
    }
  }
}
const out = join(here, 'wordnet-cifar10.jsonl');
writeFileSync(out + '.tmp', lines.join('\n') + '\n');
renameSync(out + '.tmp', out);
console.log(`${sentences} gloss sentences read, ${lines.length} kept (≥ 1 CIFAR-10 class) → ${out}`);
