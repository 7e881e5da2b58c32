// Prompt-learning inputs for the frozen text tower: CoOp's learned context vectors spliced between the
// start token and the class-name tokens, as token embeddings the tower takes directly
// (`model.textForward({ embeds, eotIndex })`). The fixed parts (start token, class names, '.', end token)
// are looked up once; each training step only concatenates them with the current context, so gradients
// flow to the context and nowhere else.
//
// Layouts (CoOp's `class_token_position`), M context vectors ctx_1..ctx_M:
//   end:    [SOS][ctx_1..ctx_M][class tokens][.][EOS]
//   middle: [SOS][ctx_1..ctx_⌊M/2⌋][class tokens][ctx_⌊M/2⌋+1..ctx_M][.][EOS]
//   front:  [SOS][class tokens][ctx_1..ctx_M][.][EOS]
// Context is unified ([M, D], shared by all classes) or class-specific ([C, M, D]).
import * as tf from '@tensorflow/tfjs';
import { repeatBatch } from './ops/index.ts';
import type { CLIPModel, TokenEmbeds } from './clip.ts';
import { defaultTokenizer, SOT_TOKEN, EOT_TOKEN } from './tokenizer.ts';
import type { CLIPTokenizer } from './tokenizer.ts';

export type ClassTokenPosition = 'end' | 'middle' | 'front';

export interface CoOpPromptOptions {
  /** Number of context vectors M. */
  nCtx: number;
  position?: ClassTokenPosition;
  tokenizer?: CLIPTokenizer;
}

/**
 * Builds CoOp text inputs for a fixed list of class names. Holds the frozen embeddings of the fixed tokens
 * (dispose() when done); `build(ctx)` is cheap and differentiable in ctx.
 */
export class CoOpPromptBuilder {
  readonly classNames: string[];
  readonly nCtx: number;
  readonly position: ClassTokenPosition;
  /** Pooling position of each class prompt. */
  readonly eotIndex: Int32Array;
  /** Sequence length of the built prompts (last EOT + 1: nothing after it can matter). */
  readonly length: number;
  private readonly sos: tf.Tensor2D; // [1, D]
  private readonly names: tf.Tensor2D[]; // per class [nameLen, D]
  private readonly tails: tf.Tensor2D[]; // per class ['.' tokens + EOS + padding, D]
  private readonly width: number;

  constructor(model: CLIPModel, classNames: string[], opts: CoOpPromptOptions) {
    if (!Number.isInteger(opts.nCtx) || opts.nCtx < 0) throw new Error(`CoOp: nCtx must be a non-negative integer, got ${opts.nCtx}`);
    if (classNames.length === 0) throw new Error('CoOp: no class names');
    const tok = opts.tokenizer ?? defaultTokenizer();
    this.classNames = classNames;
    this.nCtx = opts.nCtx;
    this.position = opts.position ?? 'end';
    this.width = model.textWidth;
    const maxLen = model.config.text.maxPositions;
    // CoOp tokenizes "X X … X name." — the name's tokens, then '.' — and pools at the end token.
    const parts = classNames.map((name) => {
      const nameIds = tok.encode(name);
      const withDot = tok.encode(name + '.');
      return { nameIds, dotIds: withDot.slice(nameIds.length) };
    });
    const eot = parts.map((p) => 1 + this.nCtx + p.nameIds.length + p.dotIds.length);
    const longest = Math.max(...eot);
    if (longest >= maxLen) {
      const i = eot.indexOf(longest);
      throw new Error(`CoOp: prompt for class "${classNames[i]}" needs ${longest + 1} tokens with ${this.nCtx} context vectors; the text tower takes ${maxLen}`);
    }
    this.eotIndex = Int32Array.from(eot);
    this.length = longest + 1;
    const embed = (ids: number[]) => tf.tidy(() => model.embedTokens(tf.tensor2d(ids, [1, ids.length], 'int32')).reshape([ids.length, this.width]) as tf.Tensor2D);
    this.sos = embed([SOT_TOKEN]);
    this.names = parts.map((p) => (p.nameIds.length ? embed(p.nameIds) : tf.zeros([0, this.width]) as tf.Tensor2D));
    // Tail: '.', EOS, then EOS padding (HF style) up to the common length; padding sits after the EOS.
    this.tails = parts.map((p, c) => {
      const padCount = this.length - 1 - eot[c];
      return embed([...p.dotIds, EOT_TOKEN, ...new Array<number>(padCount).fill(EOT_TOKEN)]);
    });
  }

  /** Token embeddings [C, length, D] for context `ctx` ([M, D] unified or [C, M, D] class-specific). */
  build(ctx: tf.Tensor): TokenEmbeds {
    const C = this.classNames.length;
    const M = this.nCtx;
    const D = this.width;
    const specific = ctx.rank === 3;
    if (!((ctx.rank === 2 && ctx.shape[0] === M && ctx.shape[1] === D) || (specific && ctx.shape[0] === C && ctx.shape[1] === M && ctx.shape[2] === D))) {
      throw new Error(`CoOp: context is [${ctx.shape}], expected [${M}, ${D}] (unified) or [${C}, ${M}, ${D}] (class-specific)`);
    }
    const embeds = tf.tidy(() => {
      const ctxOf = (c: number): tf.Tensor2D => (specific ? ctx.slice([c, 0, 0], [1, M, D]).reshape([M, D]) : ctx) as tf.Tensor2D;
      if (this.position === 'end') {
        // [SOS][ctx][name . EOS pad]: the tails are padded to one length, so one concat covers the batch.
        const rest = tf.stack(this.names.map((n, c) => tf.concat([n, this.tails[c]], 0)));
        const sos = repeatBatch(this.sos.reshape([1, 1, D]), C);
        const ctxB = specific ? ctx : repeatBatch(ctx.reshape([1, M, D]), C);
        return tf.concat([sos, ctxB, rest], 1) as tf.Tensor3D;
      }
      const half = Math.floor(M / 2);
      const rows = this.names.map((name, c) => {
        const cx = ctxOf(c);
        switch (this.position) {
          case 'middle':
            return tf.concat([this.sos, cx.slice([0, 0], [half, D]), name, cx.slice([half, 0], [M - half, D]), this.tails[c]], 0);
          default: // 'front'
            return tf.concat([this.sos, name, cx, this.tails[c]], 0);
        }
      });
      return tf.stack(rows) as tf.Tensor3D;
    });
    return { embeds, eotIndex: this.eotIndex };
  }

  dispose(): void {
    tf.dispose([this.sos, ...this.names, ...this.tails]);
  }
}

/** Context initialised from a phrase (CoOp's "a photo of a"): its token embeddings [M, D], M = its token count. */
export function contextFromText(model: CLIPModel, phrase: string, tokenizer: CLIPTokenizer = defaultTokenizer()): tf.Tensor2D {
  const ids = tokenizer.encode(phrase);
  if (ids.length === 0) throw new Error(`CoOp: context phrase ${JSON.stringify(phrase)} has no tokens`);
  return tf.tidy(() => model.embedTokens(tf.tensor2d(ids, [1, ids.length], 'int32')).reshape([ids.length, model.textWidth]) as tf.Tensor2D);
}
