// `promptscope model verify`: run a checkpoint on the inputs of a parity fixture (the format of
// ../shared/clip/fixture-tiny/fixture.json: token ids, pixel_values, float64 reference outputs) and report
// the normalized error max|got − expected| / max|expected| of every output the fixture contains.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { load } from './load.ts';
import type { CLIPModel, TokenIds } from './clip.ts';
import { initBackend } from './backend.ts';
import type { BackendPreference } from './backend.ts';
import { l2Normalize } from './ops/index.ts';
import { defaultTokenizer } from './tokenizer.ts';

export const PARITY_TOLERANCE = 1e-4;

export interface VerifyRow {
  output: string;
  /** Normalized error (for token ids: fraction of ids that differ). */
  relError: number;
  ok: boolean;
  shape: number[];
}

export interface VerifyResult {
  rows: VerifyRow[];
  ok: boolean;
  backend: string;
  model: string;
  fingerprint: string;
}

interface FixtureArray {
  shape: number[];
  dtype: string;
  data: number[];
}

/** max|got − expected| / max|expected|. */
export function normalizedError(got: ArrayLike<number>, expected: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < expected.length; i++) {
    d = Math.max(d, Math.abs(got[i] - expected[i]));
    m = Math.max(m, Math.abs(expected[i]));
  }
  if (got.length !== expected.length) return Infinity;
  return m === 0 ? d : d / m;
}

function resolvePointer(fx: any, ptr: string): FixtureArray {
  let v = fx;
  for (const k of ptr.split('.')) v = v?.[k];
  if (!v || !Array.isArray(v.shape) || !Array.isArray(v.data)) throw new Error(`fixture: "${ptr}" does not point to an array {shape, dtype, data}`);
  return v as FixtureArray;
}

/** Run `model` on the fixture's inputs; one row per expected output present in the fixture. */
export async function runFixture(model: CLIPModel, fx: any, tolerance = PARITY_TOLERANCE): Promise<VerifyRow[]> {
  const rows: VerifyRow[] = [];
  const expected: Record<string, FixtureArray> = fx.expected ?? {};
  const add = async (name: string, t: tf.Tensor | undefined) => {
    const exp = expected[name];
    if (!exp || !t) return;
    const got = await t.data();
    const same = t.shape.length === exp.shape.length && t.shape.every((d, i) => d === exp.shape[i]);
    const e = same ? normalizedError(got as Float32Array, exp.data) : Infinity;
    rows.push({ output: name, relError: e, ok: e < tolerance, shape: exp.shape });
  };
  const inputs = fx.inputs ?? {};
  const ids = (ptr: string | undefined): TokenIds | undefined => {
    if (!ptr) return undefined;
    const a = resolvePointer(fx, ptr);
    return { ids: Int32Array.from(a.data), n: a.shape[0], contextLength: a.shape[1] };
  };

  // Token ids: recompute from the texts with the bundled tokenizer; they must match exactly.
  const tk = fx.tokenizer;
  if (tk?.texts) {
    const tok = defaultTokenizer();
    for (const [name, padding, key] of [['token_ids_openai', 'openai', 'openai_input_ids'], ['token_ids_hf', 'hf', 'hf_input_ids']] as const) {
      if (!tk[key]) continue;
      const got = tok.tokenize(tk.texts, { padding, contextLength: tk[key].shape[1] }).ids;
      const exp: number[] = tk[key].data;
      let bad = 0;
      for (let i = 0; i < exp.length; i++) if (got[i] !== exp[i]) bad++;
      rows.push({ output: name, relError: bad / exp.length, ok: bad === 0 && got.length === exp.length, shape: tk[key].shape });
    }
  }

  const openai = ids(inputs.input_ids_openai);
  const hf = ids(inputs.input_ids_hf);
  let textEmbeds: tf.Tensor2D | undefined;
  const disposeLater: tf.Tensor[] = [];
  try {
    if (openai) {
      const full = model.textForward(openai, { fullLength: true, hidden: true });
      disposeLater.push(full.lastHidden!, full.pooled, full.embeds);
      await add('text_last_hidden_state_openai_padding', full.lastHidden);
      await add('text_pooler_output', full.pooled);
      await add('text_embeds', full.embeds);
      const norm = l2Normalize(full.embeds);
      disposeLater.push(norm);
      await add('text_embeds_normalized', norm);
      textEmbeds = full.embeds;
      // the default (cut at the last end token) path must give the same pooled outputs
      const cut = model.textForward(openai);
      disposeLater.push(cut.pooled, cut.embeds);
      if (expected.text_pooler_output) {
        const e = normalizedError((await cut.pooled.data()) as Float32Array, expected.text_pooler_output.data);
        rows.push({ output: 'text_pooler_output (cut at last EOT)', relError: e, ok: e < tolerance, shape: expected.text_pooler_output.shape });
      }
    }
    if (hf) {
      if (inputs.attention_mask_hf) hf.attentionMask = Int32Array.from(resolvePointer(fx, inputs.attention_mask_hf).data);
      const out = model.textForward(hf, { fullLength: true, hidden: true });
      disposeLater.push(out.lastHidden!, out.pooled, out.embeds);
      await add('text_last_hidden_state_hf_padding', out.lastHidden);
      textEmbeds ??= out.embeds;
    }
    if (inputs.pixel_values) {
      const pv = resolvePointer(fx, inputs.pixel_values);
      const pixels = tf.tensor4d(Float32Array.from(pv.data), pv.shape as [number, number, number, number]);
      const out = model.visionForward(pixels, { hidden: true });
      pixels.dispose();
      disposeLater.push(out.lastHidden!, out.pooled, out.embeds);
      await add('vision_last_hidden_state', out.lastHidden);
      await add('vision_pooler_output', out.pooled);
      await add('image_embeds', out.embeds);
      const norm = l2Normalize(out.embeds);
      disposeLater.push(norm);
      await add('image_embeds_normalized', norm);
      if (textEmbeds) {
        const logits = model.logitsPerImage(out.embeds, textEmbeds);
        const lt = logits.transpose();
        disposeLater.push(logits, lt);
        await add('logits_per_image', logits);
        await add('logits_per_text', lt);
      }
    }
  } finally {
    tf.dispose(disposeLater);
  }
  const covered = new Set(rows.map((r) => r.output));
  for (const name of Object.keys(expected)) {
    if (!covered.has(name)) rows.push({ output: `${name} (not computed: inputs missing)`, relError: Infinity, ok: false, shape: expected[name].shape });
  }
  return rows;
}

export interface VerifyOptions {
  modelDir: string;
  fixturePath: string;
  backend?: BackendPreference;
  tolerance?: number;
}

/** Load a checkpoint directory, run the fixture, report per-output errors; `ok` is false if any exceeds the tolerance. */
export async function verifyModel(opts: VerifyOptions): Promise<VerifyResult> {
  const backend = await initBackend(opts.backend ?? 'auto');
  let fx: any;
  try {
    fx = JSON.parse(await readFile(resolve(opts.fixturePath), 'utf8'));
  } catch (e) {
    throw new Error(`cannot read fixture ${opts.fixturePath}: ${(e as Error).message}`);
  }
  if (!fx || typeof fx !== 'object' || !fx.expected) throw new Error(`fixture ${opts.fixturePath} has no "expected" outputs; is it a CLIP parity fixture?`);
  const model = await load(opts.modelDir);
  try {
    const rows = await runFixture(model, fx, opts.tolerance ?? PARITY_TOLERANCE);
    return { rows, ok: rows.every((r) => r.ok), backend, model: model.id, fingerprint: model.fingerprint };
  } finally {
    model.dispose();
  }
}

/** The table the CLI prints. */
export function formatVerify(r: VerifyResult): string {
  const w = Math.max(...r.rows.map((x) => x.output.length), 6);
  const lines = [`model ${r.model} (${r.fingerprint.slice(0, 12)}) on ${r.backend}`, `${'output'.padEnd(w)}  rel.error   ok`];
  for (const x of r.rows) lines.push(`${x.output.padEnd(w)}  ${x.relError.toExponential(2).padStart(9)}   ${x.ok ? 'yes' : 'NO'}`);
  lines.push(r.ok ? 'all outputs within tolerance' : 'FAILED: some outputs exceed the tolerance');
  return lines.join('\n');
}
