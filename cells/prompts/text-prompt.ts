// CoOp's text prompt layout, shared by CoOp and UPT: "[SOT] X X … X {class name}. [EOT]" is tokenised
// once per class, its frozen token embeddings are kept, and the M placeholder embeddings are replaced
// by learned context vectors at every step (class token at the end, in the middle, or at the front).
// The sequence is cut after the longest prompt's EOT: under the causal mask, later positions cannot
// change the pooled output, and the tower then runs on ~20 tokens instead of 77.
import * as tf from '@tensorflow/tfjs';
import { repeatBatch } from '../model/ops/index.ts';
import { defaultTokenizer, type PromptBackbone } from '../model/index.ts';

/** Where the class name goes relative to the context tokens (CoOp's option; UPT's text half uses 'end'). */
export type ClassTokenPosition = 'end' | 'middle' | 'front';

export interface FrozenPromptParts {
  nClasses: number;
  nCtx: number;
  /** Sequence length after cropping. */
  length: number;
  /** [C, 1, D] start-of-text embedding. */
  prefix: tf.Tensor3D;
  /** Per class: name token embeddings [nameLen_c, D]. */
  names: tf.Tensor2D[];
  /** Per class: after the name ('.', EOT, padding) [rest_c, D]. */
  tails: tf.Tensor2D[];
  /** [C, length - 1 - nCtx, D]: name + tail, for the fast 'end' layout. */
  suffix: tf.Tensor3D;
  eot: Int32Array;
  dispose(): void;
}

/** Tokenises "X×M {name}." for every class and keeps the frozen embeddings around the placeholders. */
export function frozenPromptParts(model: PromptBackbone, classNames: string[], nCtx: number): FrozenPromptParts {
  const tok = defaultTokenizer();
  const ctxLen = model.config.text.maxPositions;
  if (!Number.isInteger(nCtx) || nCtx < 1) throw new Error(`text prompt: the context length must be a whole number ≥ 1, got ${nCtx}`);
  // The tokenizer truncates silently at the context length, so check the fit before it does:
  // [SOS] + M context tokens + the longest class name + "." + [EOT].
  const longest = classNames.reduce((best, c) => {
    const n = tok.encode(c.replace(/_/g, ' ')).length;
    return n > best.n ? { name: c, n } : best;
  }, { name: '', n: 0 });
  const needed = 1 + nCtx + longest.n + 2;
  if (needed > ctxLen) {
    throw new Error(`text prompt: ${nCtx} context tokens plus the class name "${longest.name}" (${longest.n} tokens) need ${needed} positions; ` +
      `this text tower takes ${ctxLen}. Use a context length of at most ${ctxLen - 3 - longest.n}.`);
  }
  const placeholder = Array(nCtx).fill('X').join(' ');
  const texts = classNames.map((c) => `${placeholder} ${c.replace(/_/g, ' ')}.`.trim());
  const batch = tok.tokenize(texts, { contextLength: ctxLen });
  const C = classNames.length;
  let length = 0;
  for (const e of batch.eotIndex) length = Math.max(length, e + 1);
  const ids = new Int32Array(C * length);
  for (let c = 0; c < C; c++) ids.set(batch.ids.subarray(c * ctxLen, c * ctxLen + length), c * length);
  const nameLens = classNames.map((c) => tok.encode(c.replace(/_/g, ' ')).length);
  const D = model.config.text.hiddenSize;
  const names: tf.Tensor2D[] = [], tails: tf.Tensor2D[] = [];
  let prefix!: tf.Tensor3D, suffix!: tf.Tensor3D;
  tf.tidy(() => {
    const emb = model.tokenEmbeddings(ids, C, length);
    prefix = tf.keep(emb.slice([0, 0, 0], [C, 1, D]));
    suffix = tf.keep(emb.slice([0, 1 + nCtx, 0], [C, length - 1 - nCtx, D]));
    for (let c = 0; c < C; c++) {
      const row = suffix.slice([c, 0, 0], [1, -1, D]).reshape([length - 1 - nCtx, D]) as tf.Tensor2D;
      names.push(tf.keep(row.slice([0, 0], [nameLens[c], D])));
      tails.push(tf.keep(row.slice([nameLens[c], 0], [-1, D])));
    }
  });
  return {
    nClasses: C, nCtx, length, prefix, names, tails, suffix, eot: Int32Array.from(batch.eotIndex),
    dispose: () => tf.dispose([prefix, suffix, ...names, ...tails]),
  };
}

/**
 * Prompt embeddings [C, length, D] with `ctx` spliced in: ctx is [M, D] (unified) or [C, M, D] (class-specific).
 * 'middle' puts the first ⌊M/2⌋ vectors before the name and the rest after it (CoOp).
 */
export function assemblePrompts(parts: FrozenPromptParts, ctx: tf.Tensor, position: ClassTokenPosition): tf.Tensor3D {
  return tf.tidy(() => {
    const { nClasses: C, nCtx: M } = parts;
    const D = ctx.shape[ctx.rank - 1]!;
    const ok = ctx.rank === 2 ? ctx.shape[0] === M : ctx.rank === 3 && ctx.shape[0] === C && ctx.shape[1] === M;
    if (!ok || D !== parts.prefix.shape[2]) {
      throw new Error(`text prompt: context of shape [${ctx.shape}] does not fit ${C} classes × ${M} context tokens × width ${parts.prefix.shape[2]} ` +
        `(expected [${M}, ${parts.prefix.shape[2]}] or [${C}, ${M}, ${parts.prefix.shape[2]}])`);
    }
    const ctx3 = ctx.rank === 2 ? repeatBatch(ctx.expandDims(0), C) : ctx;
    if (position === 'end') return tf.concat([parts.prefix, ctx3, parts.suffix], 1) as tf.Tensor3D;
    const rows: tf.Tensor[] = [];
    const half = Math.floor(M / 2);
    for (let c = 0; c < C; c++) {
      const pre = parts.prefix.slice([c, 0, 0], [1, 1, D]).reshape([1, D]);
      const cc = ctx3.slice([c, 0, 0], [1, M, D]).reshape([M, D]);
      const seq = position === 'middle'
        ? [pre, cc.slice([0, 0], [half, D]), parts.names[c], cc.slice([half, 0], [M - half, D]), parts.tails[c]]
        : [pre, parts.names[c], cc, parts.tails[c]];
      rows.push(tf.concat(seq, 0));
    }
    return tf.stack(rows) as tf.Tensor3D;
  });
}

/** Token embeddings [n, D] of plain words (CoOp's "a photo of a" initialisation). */
export function wordEmbeddings(model: PromptBackbone, words: string): tf.Tensor2D {
  const ids = defaultTokenizer().encode(words);
  if (ids.length === 0) throw new Error(`context initialisation "${words}" has no tokens`);
  return tf.tidy(() => model.tokenEmbeddings(Int32Array.from(ids), 1, ids.length).reshape([ids.length, -1]) as tf.Tensor2D);
}

/** Frozen text features [C, P] (L2-normalised) of "template with {} → class name", averaged over templates. */
export function classTextFeatures(model: PromptBackbone, classNames: string[], templates: string[]): tf.Tensor2D {
  const tok = defaultTokenizer();
  const L = model.config.text.maxPositions;
  return tf.tidy(() => {
    const acc = templates.map((tpl) => {
      const texts = classNames.map((c) => tpl.replace('{}', c.replace(/_/g, ' ')));
      const b = tok.tokenize(texts, { contextLength: L });
      let len = 0;
      for (const e of b.eotIndex) len = Math.max(len, e + 1);
      const ids = new Int32Array(b.n * len);
      for (let i = 0; i < b.n; i++) ids.set(b.ids.subarray(i * L, i * L + len), i * len);
      const f = model.encodeTextEmbeddings(model.tokenEmbeddings(ids, b.n, len), b.eotIndex);
      return f.div(f.norm('euclidean', -1, true));
    });
    const mean = tf.addN(acc).div(templates.length);
    return mean.div(mean.norm('euclidean', -1, true)) as tf.Tensor2D;
  });
}
