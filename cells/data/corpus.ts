// The shipped text corpora (data/corpora/NAME.jsonl, sources and licences in its README): real sentences
// for methods that train on text (TaI-DPT).
import { readFile } from 'node:fs/promises';

/** A shipped text corpus (`data/corpora/NAME.jsonl`) as rows: text, source, kind, and its length in words. */
export async function loadCorpus(name = 'wordnet-cifar10'): Promise<{ text: string; source: string; kind: string; words: number }[]> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`loadCorpus: "${name}" is not a corpus name (data/corpora/NAME.jsonl)`);
  const text = await readFile(new URL(`../../data/corpora/${name}.jsonl`, import.meta.url), 'utf8');
  return text.trim().split('\n').map((line) => {
    const r = JSON.parse(line) as { text: string; source?: string; kind?: string };
    return { text: r.text, source: r.source ?? '', kind: r.kind ?? '', words: r.text.split(/\s+/).filter(Boolean).length };
  });
}
