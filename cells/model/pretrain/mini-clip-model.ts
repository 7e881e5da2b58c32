// The model under pretraining: a CLIPModel from this project's clip.ts (HF layout, same forward as any
// checkpoint) plus a small trainable token table holding only the vocabulary rows the captions use.
//
// Why the subset: the full 49,408-row table would need a gather gradient (missing on wasm) and Adam state
// for 6M parameters that never receive a gradient. The exported checkpoint is still a full HF CLIP:
// the subset rows are written back into the 49,408-row table, whose other rows keep their small random
// initial values.
import * as tf from '@tensorflow/tfjs';
import { buildCLIP } from '../build.ts';
import { randomCLIPWeights } from '../random-init.ts';
import type { CLIPModel } from '../clip.ts';
import { parseCLIPConfig, toHFConfig } from '../config.ts';
import type { CLIPConfig } from '../config.ts';
import { embeddingTrainable, l2Normalize } from '../ops/index.ts';
import type { TensorToWrite } from '../../util/safetensors.ts';

export interface MiniClipShape {
  visionWidth: number;
  visionLayers: number;
  visionHeads: number;
  patchSize: number;
  textWidth: number;
  textLayers: number;
  textHeads: number;
  projectionDim: number;
  /** Initial log temperature (CLIP: ln(1/0.07) = 2.659). */
  logitScaleInit: number;
}

export const DEFAULT_SHAPE: MiniClipShape = {
  visionWidth: 128, visionLayers: 4, visionHeads: 4, patchSize: 8,
  textWidth: 128, textLayers: 3, textHeads: 4, projectionDim: 128, logitScaleInit: Math.log(20),
};

export function miniClipConfig(s: MiniClipShape, imageSize = 32): CLIPConfig {
  return parseCLIPConfig({
    model_type: 'clip', projection_dim: s.projectionDim, logit_scale_init_value: s.logitScaleInit,
    text_config: {
      hidden_size: s.textWidth, intermediate_size: 4 * s.textWidth, num_attention_heads: s.textHeads,
      num_hidden_layers: s.textLayers, max_position_embeddings: 77, vocab_size: 49408, hidden_act: 'quick_gelu',
    },
    vision_config: {
      hidden_size: s.visionWidth, intermediate_size: 4 * s.visionWidth, num_attention_heads: s.visionHeads,
      num_hidden_layers: s.visionLayers, image_size: imageSize, patch_size: s.patchSize, hidden_act: 'quick_gelu',
    },
  }, 'mini-CLIP');
}

const TOKEN_TABLE = 'text_model.embeddings.token_embedding.weight';

export class PretrainModel {
  readonly clip: CLIPModel;
  readonly config: CLIPConfig;
  /** Sorted vocabulary ids the captions use; row r of `vocab` is token vocabIds[r]. */
  readonly vocabIds: Int32Array;
  readonly vocab: tf.Variable;
  private readonly rowOf = new Map<number, number>();

  constructor(config: CLIPConfig, vocabIds: Int32Array, seed: number) {
    this.config = config;
    const weights = randomCLIPWeights(config, seed);
    this.clip = buildCLIP(config, weights, { trainable: true, id: 'mini-clip' });
    // The full table never trains; the subset below does.
    this.clip.tokenEmbedding.trainable = false;
    this.vocabIds = Int32Array.from(vocabIds).sort();
    this.vocabIds.forEach((id, r) => this.rowOf.set(id, r));
    const table = weights[TOKEN_TABLE];
    const D = config.text.hiddenSize;
    const rows = new Float32Array(this.vocabIds.length * D);
    this.vocabIds.forEach((id, r) => rows.set(table.data.subarray(id * D, (id + 1) * D), r * D));
    this.vocab = tf.variable(tf.tensor2d(rows, [this.vocabIds.length, D]), true); // auto-named: several models may coexist
  }

  /** Every trained tensor by name (HF names; the subset table as "vocab"), in a fixed order. */
  params(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of [...this.clip.variables].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (v.trainable) out.set(name, v);
    out.set('vocab', this.vocab);
    return out;
  }

  /** Map token ids [n, L] to subset rows, cut at the batch's last end token (later positions cannot reach the pooled output). */
  subsetIds(ids: Int32Array, n: number, L: number, eot: Int32Array): { rows: Int32Array; T: number } {
    let T = 0;
    for (let i = 0; i < n; i++) T = Math.max(T, eot[i] + 1);
    const rows = new Int32Array(n * T);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < T; t++) {
        const id = ids[i * L + t];
        const r = this.rowOf.get(id);
        if (r === undefined) throw new Error(`mini-CLIP pretraining: token ${id} is not in the caption vocabulary; add its text to the vocabulary pass`);
        rows[i * T + t] = r;
      }
    }
    return { rows, T };
  }

  /** Normalised text features [n, P] from subset rows [n, T]. */
  encodeText(rows: Int32Array, n: number, T: number, eot: Int32Array): tf.Tensor2D {
    return tf.tidy(() => {
      const embeds = embeddingTrainable(this.vocab as unknown as tf.Tensor2D, tf.tensor2d(rows, [n, T], 'int32')) as tf.Tensor3D;
      const out = this.clip.textForward({ embeds, eotIndex: eot });
      return l2Normalize(out.embeds) as tf.Tensor2D;
    });
  }

  /** Normalised image features [n, P] from NCHW pixels. */
  encodeImage(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.clip.visionForward(pixels).embeds) as tf.Tensor2D);
  }

  /** Copy the trained subset rows into the full HF token table (before export or HF-path evaluation). */
  syncTokenTable(): void {
    tf.tidy(() => {
      const full = this.clip.tokenEmbedding;
      const idx = tf.tensor2d(this.vocabIds, [this.vocabIds.length, 1], 'int32');
      const rest = tf.scatterND(idx, tf.ones([this.vocabIds.length]), [full.shape[0]]).reshape([-1, 1]);
      const scattered = tf.scatterND(idx, this.vocab, full.shape);
      full.assign(full.mul(tf.sub(1, rest)).add(scattered));
    });
  }

  /** The HF checkpoint (config.json object + safetensors tensors), float16 by default to halve the file. */
  async exportHF(dtype: 'F32' | 'F16' = 'F16'): Promise<{ config: Record<string, unknown>; tensors: Record<string, TensorToWrite> }> {
    this.syncTokenTable();
    const tensors = await this.clip.exportHF(dtype);
    // logit_scale stays float32: a 0-d scalar costs nothing and keeps the temperature exact.
    tensors.logit_scale = { ...tensors.logit_scale, dtype: 'F32' };
    return { config: toHFConfig(this.config), tensors };
  }

  dispose(): void {
    this.clip.dispose();
    this.vocab.dispose();
  }
}
