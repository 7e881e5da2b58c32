// CLIP's byte-level BPE tokenizer, reproducing OpenAI's `clip/simple_tokenizer.py` (SimpleTokenizer) and
// `clip.tokenize`. Ids must match the reference exactly, because the text tower's embedding table and the
// pooling position (first end token) depend on them.
//
// Not reproduced: `ftfy.fix_text` (mojibake repair). OpenAI runs it first; it leaves clean NFC text unchanged,
// which is what prompt templates and class names are. We apply NFC so composed/decomposed accents agree.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { decodeHTML } from 'entities';

export const SOT_TOKEN = 49406;
export const EOT_TOKEN = 49407;
export const CONTEXT_LENGTH = 77;

/** Bundled copy of OpenAI's merges file (MIT, see data/clip/LICENSE). */
export const DEFAULT_BPE_PATH = fileURLToPath(new URL('../../data/clip/bpe_simple_vocab_16e6.txt.gz', import.meta.url));

/**
 * GPT-2/CLIP byte → printable unicode char table: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100.. in byte order, so every byte string becomes a string BPE can merge without whitespace/control chars.
 */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  byteVocabOrder().forEach((b, i) => {
    table[b] = i < PRINTABLE_BYTES ? String.fromCodePoint(b) : String.fromCodePoint(256 + i - PRINTABLE_BYTES);
  });
  return table;
}

const PRINTABLE_BYTES = 188;

/** Bytes in the order OpenAI's bytes_to_unicode dict lists them: the 188 printable ones, then the rest ascending. */
function byteVocabOrder(): number[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const printable = new Set(bs);
  for (let b = 0; b < 256; b++) if (!printable.has(b)) bs.push(b);
  return bs;
}

// Python's `\s` / str.strip() whitespace for str patterns (str.isspace), which differs from JS `\s`
// (JS includes U+FEFF; Python includes U+001C–U+001F and U+0085).
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN = new RegExp(`[${PY_WS}]+`, 'g');
const WS_TRIM = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');

// OpenAI's pattern (compiled with re.IGNORECASE; the text is lower-cased first, so case folding is moot).
const TOKEN_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

// Python html.unescape's reference syntax: numeric (decimal/hex, optional ';') or up to 32 name chars.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

// Python's html module maps these numeric references (Windows-1252 remapping in the HTML5 spec).
const INVALID_CHARREFS: Record<number, string> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

function isInvalidCodepoint(n: number): boolean {
  // the set Python's html module drops: C0/C1 controls (except whitespace), DEL, noncharacters
  if ((n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f)) return true;
  if (n >= 0xfdd0 && n <= 0xfdef) return true;
  return (n & 0xfffe) === 0xfffe && n <= 0x10ffff;
}

/** Python's `html.unescape`, one pass. Named references use the HTML5 table (via `entities`, same longest-prefix rule). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF, (whole, ref: string) => {
    if (ref[0] === '#') {
      const num = ref[1] === 'x' || ref[1] === 'X'
        ? parseInt(ref.slice(2).replace(/;$/, ''), 16)
        : parseInt(ref.slice(1).replace(/;$/, ''), 10);
      if (num in INVALID_CHARREFS) return INVALID_CHARREFS[num];
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
      if (isInvalidCodepoint(num)) return '';
      return String.fromCodePoint(num);
    }
    return decodeHTML(whole);
  });
}

/** OpenAI's basic_clean (minus ftfy) + whitespace_clean + lower(). */
export function cleanText(text: string): string {
  let t = text.normalize('NFC');
  t = htmlUnescape(htmlUnescape(t)).replace(WS_TRIM, '');
  t = t.replace(WS_RUN, ' ').replace(WS_TRIM, '');
  return t.toLowerCase();
}

export interface TokenizeOptions {
  /** Output length (default 77). */
  contextLength?: number;
  /** 'hf' pads with <|endoftext|> (49407, HF convention), 'openai' pads with 0 (clip.tokenize). Default 'hf'. */
  padding?: 'hf' | 'openai';
  /** Truncate over-long texts keeping the end token (default true); false throws instead, as clip.tokenize does. */
  truncate?: boolean;
}

export interface TokenizedBatch {
  /** Row-major int32 [n, contextLength]. */
  ids: Int32Array;
  /** 1 up to and including the end token, 0 after (HF attention_mask). */
  attentionMask: Int32Array;
  /** Index of the end token per row: the pooling position. */
  eotIndex: Int32Array;
  n: number;
  contextLength: number;
}

export class CLIPTokenizer {
  readonly byteEncoder: string[];
  readonly byteDecoder: Map<string, number>;
  readonly encoder: Map<string, number>;
  readonly decoder: string[];
  private readonly bpeRanks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  /** `mergesText` is the decompressed merges file (first line is a version header). */
  constructor(mergesText: string) {
    const lines = mergesText.split('\n');
    // OpenAI keeps lines 1 .. 49152-256-2 (48894 merges); the vocabulary is 49408 entries.
    const merges = lines.slice(1, 49152 - 256 - 2 + 1).map((l) => l.split(' '));
    if (merges.length !== 48894 || merges.some((m) => m.length !== 2)) {
      throw new Error(`CLIP BPE merges file is malformed: expected 48894 "a b" lines after the header, got ${merges.length}`);
    }
    this.byteEncoder = bytesToUnicode();
    this.byteDecoder = new Map(this.byteEncoder.map((c, b) => [c, b]));
    // Python's dict keeps insertion order: printable bytes first, then the remapped ones (not byte order).
    const base = byteVocabOrder().map((b) => this.byteEncoder[b]);
    const vocab = [...base, ...base.map((c) => c + '</w>'), ...merges.map((m) => m[0] + m[1]), '<|startoftext|>', '<|endoftext|>'];
    this.decoder = vocab;
    this.encoder = new Map(vocab.map((v, i) => [v, i]));
    // '\u0000' cannot appear in a BPE symbol (bytes are mapped to printable chars), so it is a safe pair separator.
    this.bpeRanks = new Map(merges.map((m, i) => [m[0] + '\u0000' + m[1], i]));
    this.cache.set('<|startoftext|>', ['<|startoftext|>']);
    this.cache.set('<|endoftext|>', ['<|endoftext|>']);
  }

  static fromFile(path = DEFAULT_BPE_PATH): CLIPTokenizer {
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (e) {
      throw new Error(`cannot read CLIP BPE vocabulary ${path}: ${(e as Error).message}`);
    }
    const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    return new CLIPTokenizer(text);
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  /** Greedy lowest-rank merge loop of SimpleTokenizer.bpe; `token` is already byte-encoded. */
  private bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + '</w>'];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.bpeRanks.get(word[i] + '\u0000' + word[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      // merge every non-overlapping occurrence, left to right, as the reference does
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i += 1;
        }
      }
      word = next;
    }
    this.cache.set(token, word);
    return word;
  }

  /** SimpleTokenizer.encode: BPE ids without start/end tokens, untruncated. */
  encode(text: string): number[] {
    const out: number[] = [];
    const utf8 = new TextEncoder();
    for (const m of cleanText(text).matchAll(TOKEN_PATTERN)) {
      let s = '';
      for (const b of utf8.encode(m[0])) s += this.byteEncoder[b];
      for (const piece of this.bpe(s)) {
        const id = this.encoder.get(piece);
        if (id === undefined) throw new Error(`CLIP tokenizer: BPE produced "${piece}", which is not in the vocabulary (corrupt merges file?)`);
        out.push(id);
      }
    }
    return out;
  }

  /** SimpleTokenizer.decode: '</w>' becomes a space. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const piece = this.decoder[ids[i]];
      if (piece === undefined) throw new Error(`CLIP tokenizer: id ${ids[i]} is outside the vocabulary (0..${this.decoder.length - 1})`);
      if (piece === '<|startoftext|>' || piece === '<|endoftext|>') {
        for (const b of new TextEncoder().encode(piece)) bytes.push(b);
        continue;
      }
      const body = piece.endsWith('</w>') ? piece.slice(0, -4) : piece;
      for (const c of Array.from(body)) bytes.push(this.byteDecoder.get(c)!);
      if (body !== piece) bytes.push(0x20);
    }
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
  }

  /** clip.tokenize: [SOT] + bpe + [EOT], truncated to the context keeping EOT last, padded. */
  tokenize(texts: string | string[], opts: TokenizeOptions = {}): TokenizedBatch {
    const list = typeof texts === 'string' ? [texts] : texts;
    const L = opts.contextLength ?? CONTEXT_LENGTH;
    const pad = (opts.padding ?? 'hf') === 'hf' ? EOT_TOKEN : 0;
    const truncate = opts.truncate ?? true;
    const n = list.length;
    const ids = new Int32Array(n * L).fill(pad);
    const attentionMask = new Int32Array(n * L);
    const eotIndex = new Int32Array(n);
    list.forEach((text, r) => {
      let toks = [SOT_TOKEN, ...this.encode(text), EOT_TOKEN];
      if (toks.length > L) {
        if (!truncate) throw new Error(`text ${r} is ${toks.length} tokens, longer than the context length ${L}: ${JSON.stringify(text.slice(0, 60))}`);
        toks = toks.slice(0, L);
        toks[L - 1] = EOT_TOKEN;
      }
      ids.set(toks, r * L);
      attentionMask.fill(1, r * L, r * L + toks.length);
      eotIndex[r] = toks.length - 1;
    });
    return { ids, attentionMask, eotIndex, n, contextLength: L };
  }
}

let shared: CLIPTokenizer | undefined;
/** The bundled tokenizer, loaded once (parsing 49k merges takes ~100 ms). */
export function defaultTokenizer(): CLIPTokenizer {
  shared ??= CLIPTokenizer.fromFile();
  return shared;
}
