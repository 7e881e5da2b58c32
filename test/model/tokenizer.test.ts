import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLIPTokenizer, defaultTokenizer, htmlUnescape, cleanText, bytesToUnicode, EOT_TOKEN, SOT_TOKEN } from '../../cells/model/tokenizer.ts';

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../../../shared/clip/fixture-tiny/fixture.json', import.meta.url)), 'utf8'));
const tk = fixture.tokenizer;

test('bundled BPE file is byte-identical to the shared one and gives a 49408-token vocabulary', () => {
  const a = readFileSync(fileURLToPath(new URL('../../data/clip/bpe_simple_vocab_16e6.txt.gz', import.meta.url)));
  const b = readFileSync(fileURLToPath(new URL('../../../shared/clip/bpe_simple_vocab_16e6.txt.gz', import.meta.url)));
  assert.ok(a.equals(b));
  const t = defaultTokenizer();
  assert.equal(t.vocabSize, 49408);
  assert.equal(t.encoder.get('<|startoftext|>'), SOT_TOKEN);
  assert.equal(t.encoder.get('<|endoftext|>'), EOT_TOKEN);
});

test('byte-unicode table is a bijection onto 256 printable chars', () => {
  const table = bytesToUnicode();
  assert.equal(new Set(table).size, 256);
  assert.equal(table[0x41], 'A');
  assert.equal(table[0x20], '\u0120');
  assert.equal(table[0], '\u0100');
});

test('BPE tokens equal OpenAI SimpleTokenizer for every fixture text (including the 188-token one)', () => {
  const t = defaultTokenizer();
  tk.texts.forEach((text: string, i: number) => {
    assert.deepEqual(t.encode(text), tk.bpe_tokens[i], `text ${i}: ${JSON.stringify(text)}`);
  });
  assert.equal(tk.bpe_tokens[7].length, 188);
});

test('decode reproduces the fixture decoded strings', () => {
  const t = defaultTokenizer();
  tk.bpe_tokens.forEach((ids: number[], i: number) => assert.equal(t.decode(ids), tk.decoded[i], `text ${i}`));
});

test('tokenize: OpenAI (pad 0) and HF (pad 49407 + mask) ids, truncation keeps EOT, eot index', () => {
  const t = defaultTokenizer();
  const openai = t.tokenize(tk.texts, { padding: 'openai' });
  assert.deepEqual([...openai.ids], tk.openai_input_ids.data);
  const hf = t.tokenize(tk.texts, { padding: 'hf' });
  assert.deepEqual([...hf.ids], tk.hf_input_ids.data);
  assert.deepEqual([...hf.attentionMask], tk.hf_attention_mask.data);
  assert.deepEqual([...hf.eotIndex], tk.eot_index);
  assert.equal(hf.ids[7 * 77 + 76], EOT_TOKEN);
  assert.throws(() => t.tokenize(tk.texts[7], { truncate: false }), /longer than the context length 77/);
});

test('html unescape follows Python html.unescape (named, legacy, numeric, invalid)', () => {
  assert.equal(htmlUnescape('Tom &amp; Jerry'), 'Tom & Jerry');
  assert.equal(htmlUnescape('&amp;amp;'), '&amp;');
  assert.equal(htmlUnescape(htmlUnescape('&amp;amp;')), '&');
  assert.equal(htmlUnescape('&#65;&#x42;&#x43 &lt &notit; &bogus;'), 'ABC < ¬it; &bogus;');
  assert.equal(htmlUnescape('&#x80;&#0;&#1;'), '\u20ac\ufffd');
  assert.equal(cleanText('  A\u00a0B\t\nC  '), 'a b c');
});

test('merges file errors are clear', () => {
  assert.throws(() => new CLIPTokenizer('#version\na b\n'), /malformed/);
  assert.throws(() => CLIPTokenizer.fromFile('/nonexistent/bpe.txt.gz'), /cannot read CLIP BPE vocabulary/);
});
