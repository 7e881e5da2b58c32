// Parity of the tfjs CLIP with the float64 references of ../shared/clip/fixture-tiny (OpenAI clip/model.py and
// HF modeling_clip) on one backend: every stored output within normalized error 1e-4, token ids exact.
// Also: the text encoder cut at the last end token gives the same pooled outputs as the full-length run.
// One file per backend calls it (the webgpu backend is process-global and starts Dawn).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, load, defaultTokenizer } from '../../cells/model/index.ts';
import { runFixture } from '../../cells/model/verify.ts';
import { FIXTURE_DIR, fixture } from './fixture.ts';

const EXPECTED_OUTPUTS = [
  'text_last_hidden_state_openai_padding', 'text_last_hidden_state_hf_padding', 'text_pooler_output', 'text_embeds',
  'text_embeds_normalized', 'vision_last_hidden_state', 'vision_pooler_output', 'image_embeds', 'image_embeds_normalized',
  'logits_per_image', 'logits_per_text',
];

export function paritySuite(backend: 'cpu' | 'wasm' | 'webgpu'): void {
  test(`fixture parity on ${backend}: every output < 1e-4 normalized error, token ids exact`, async () => {
    assert.equal(await initBackend(backend), backend);
    const model = await load(FIXTURE_DIR);
    try {
      const rows = await runFixture(model, fixture());
      for (const name of [...EXPECTED_OUTPUTS, 'token_ids_openai', 'token_ids_hf', 'text_pooler_output (cut at last EOT)']) {
        const row = rows.find((r) => r.output === name);
        assert.ok(row, `output ${name} was not computed`);
        assert.ok(row.relError < 1e-4, `${name}: normalized error ${row.relError} on ${backend}`);
      }
      for (const name of ['token_ids_openai', 'token_ids_hf']) assert.equal(rows.find((r) => r.output === name)!.relError, 0);
      assert.ok(rows.every((r) => r.ok), JSON.stringify(rows.filter((r) => !r.ok)));
    } finally {
      model.dispose();
    }
  });

  test(`text speed-up on ${backend}: running only up to the last EOT gives the same pooled outputs`, async () => {
    await initBackend(backend);
    const model = await load(FIXTURE_DIR);
    try {
      const fx = fixture();
      // Short texts only (no 77-token row), so the cut really is shorter than the context.
      const texts: string[] = fx.tokenizer.texts.slice(0, 7);
      for (const padding of ['openai', 'hf'] as const) {
        const batch = defaultTokenizer().tokenize(texts, { padding });
        const full = model.textForward(batch, { fullLength: true, hidden: true });
        const cut = model.textForward(batch, { hidden: true });
        assert.equal(full.lastHidden!.shape[1], 77);
        assert.equal(cut.lastHidden!.shape[1], Math.max(...batch.eotIndex) + 1);
        assert.ok(cut.lastHidden!.shape[1] < 30);
        const [a, b] = [await full.pooled.data(), await cut.pooled.data()];
        const [c, d] = [await full.embeds.data(), await cut.embeds.data()];
        let maxDiff = 0;
        for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        for (let i = 0; i < c.length; i++) maxDiff = Math.max(maxDiff, Math.abs(c[i] - d[i]));
        // The cpu backend's reductions are sequential loops, so the masked keys only add exact zeros: demand
        // equality there. Elsewhere a vectorised reduction (XNNPACK, or BLAS, which blocks its products by
        // length) over a longer axis may group the non-zero terms differently: allow float32 rounding.
        if (backend === 'cpu') assert.equal(maxDiff, 0, `${padding}: pooled differs by ${maxDiff}`);
        else assert.ok(maxDiff <= 1e-5, `${padding}: pooled differs by ${maxDiff}`);
        tf.dispose([full.lastHidden!, full.pooled, full.embeds, cut.lastHidden!, cut.pooled, cut.embeds]);
      }
    } finally {
      model.dispose();
    }
  });
}
