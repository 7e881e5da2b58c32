// The frozen CLIP that prompt learners train against, seen through the three hooks prompt tuning needs:
//   - text from token *embeddings* (so learned context vectors can be spliced in, CoOp layout), pooled at EOT;
//   - images with extra prompt tokens after the class token (VPT-shallow/deep, UPT's visual half);
//   - the plain frozen features for the caches.
//
// Why a prompt-side copy of the towers: the CLIP helper's `cells/model/clip.ts` had not landed when the
// prompt learners were written. `PromptBackbone` is the whole contract; `loadBackbone` implements it
// directly on the compute helper's blocks (`cells/model/ops`) from a Hugging Face CLIPModel folder.
// An adapter from the CLIP helper's model to this interface is all that is needed to switch over.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { linear, layerNorm, multiHeadAttention, patchEmbed, activation, l2Normalize, type AttentionWeights } from '../model/ops/index.ts';
import { parseCLIPConfig, type CLIPConfig, type TowerConfig } from '../model/config.ts';
import { readSafetensors } from '../util/safetensors.ts';
import { sha256File } from '../util/hash.ts';

/** Visual prompt tokens to insert after the class token: shallow at the input, deep replaces them per layer. */
export interface VisualPrompts {
  /** [n, Dv] shared by the batch, or [B, n, Dv]. Inserted after CLS, after the positional embedding, before pre-LN. */
  shallow?: tf.Tensor;
  /**
   * Per-layer prompt tokens for layers 1..L-1 ([n, Dv] each; VPT-deep). Entry i replaces the n prompt tokens
   * at the input of layer i+1. Requires `shallow` (layer 0's prompts) with the same n.
   */
  deep?: tf.Tensor[];
}

export interface PromptBackbone {
  readonly config: CLIPConfig;
  /** Content fingerprint of the weights and config: part of every cache key that depends on the model. */
  readonly fingerprint: string;
  readonly name: string;
  /** exp(logit_scale) as stored in the checkpoint. */
  readonly logitScale: number;
  /** Frozen token embeddings for ids [n, T] → [n, T, Dt]. */
  tokenEmbeddings(ids: Int32Array, n: number, t: number): tf.Tensor3D;
  /**
   * Text tower from embeddings [n, T, Dt] (positional embedding added here), pooled at `eot` → projected
   * features [n, P] (not normalised). T may be shorter than the context length: the causal mask makes the
   * pooled output independent of positions after EOT, so callers crop to max(eot)+1.
   */
  encodeTextEmbeddings(embeds: tf.Tensor3D, eot: Int32Array): tf.Tensor2D;
  /** Vision tower on pixel_values [B, 3, S, S] with optional prompts → projected features [B, P] (not normalised). */
  encodeImage(pixels: tf.Tensor4D, prompts?: VisualPrompts): tf.Tensor2D;
  /** Every frozen weight, for the bit-identical-after-training checks. */
  weights(): Map<string, tf.Tensor>;
  /** Counts encoder calls (text, image) so tests can prove a cached path never runs a tower. */
  readonly calls: { text: number; image: number };
  dispose(): void;
}

interface Block {
  ln1g: tf.Tensor1D; ln1b: tf.Tensor1D; ln2g: tf.Tensor1D; ln2b: tf.Tensor1D;
  attn: AttentionWeights;
  fc1k: tf.Tensor2D; fc1b: tf.Tensor1D; fc2k: tf.Tensor2D; fc2b: tf.Tensor1D;
}

export class BackboneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackboneError';
  }
}

/** Loads a Hugging Face CLIPModel folder (config.json + model.safetensors) as a frozen prompt backbone. */
export async function loadBackbone(dir: string, name = dir.split('/').filter(Boolean).pop() ?? 'clip'): Promise<PromptBackbone> {
  const cfgPath = join(dir, 'config.json');
  const wPath = join(dir, 'model.safetensors');
  let rawCfg: unknown;
  try {
    rawCfg = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new BackboneError(`cannot read ${cfgPath}: ${(e as Error).message}; a CLIP model folder needs config.json and model.safetensors`);
  }
  const config = parseCLIPConfig(rawCfg, cfgPath);
  const file = await readSafetensors(wPath);
  const fingerprint = await sha256File(wPath);
  const all = new Map<string, tf.Tensor>();
  const get = (key: string, shape?: number[]): tf.Tensor => {
    if (!file.infos.has(key)) throw new BackboneError(`${wPath}: tensor "${key}" is missing; is this a Hugging Face CLIPModel checkpoint?`);
    const t = file.get(key);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new BackboneError(`${wPath}: tensor "${key}" has shape [${t.shape}], config.json implies [${shape}]`);
    }
    const tensor = tf.tensor(t.data as Float32Array, t.shape, 'float32');
    all.set(key, tensor);
    return tensor;
  };
  // HF Linear weights are [out, in]; the ops take kernels [in, out].
  const kernel = (key: string, outD: number, inD: number) => {
    const w = get(key, [outD, inD]);
    const k = tf.keep(w.transpose() as tf.Tensor2D);
    all.set(`${key}#kernel`, k);
    return k;
  };
  const vec = (key: string, d: number) => get(key, [d]) as tf.Tensor1D;
  const blocks = (prefix: string, t: TowerConfig): Block[] =>
    Array.from({ length: t.numLayers }, (_, i) => {
      const p = `${prefix}.encoder.layers.${i}`;
      const d = t.hiddenSize, h = t.intermediateSize;
      return {
        ln1g: vec(`${p}.layer_norm1.weight`, d), ln1b: vec(`${p}.layer_norm1.bias`, d),
        ln2g: vec(`${p}.layer_norm2.weight`, d), ln2b: vec(`${p}.layer_norm2.bias`, d),
        attn: {
          qKernel: kernel(`${p}.self_attn.q_proj.weight`, d, d), qBias: vec(`${p}.self_attn.q_proj.bias`, d),
          kKernel: kernel(`${p}.self_attn.k_proj.weight`, d, d), kBias: vec(`${p}.self_attn.k_proj.bias`, d),
          vKernel: kernel(`${p}.self_attn.v_proj.weight`, d, d), vBias: vec(`${p}.self_attn.v_proj.bias`, d),
          oKernel: kernel(`${p}.self_attn.out_proj.weight`, d, d), oBias: vec(`${p}.self_attn.out_proj.bias`, d),
        },
        fc1k: kernel(`${p}.mlp.fc1.weight`, h, d), fc1b: vec(`${p}.mlp.fc1.bias`, h),
        fc2k: kernel(`${p}.mlp.fc2.weight`, d, h), fc2b: vec(`${p}.mlp.fc2.bias`, d),
      };
    });
  const tc = config.text, vc = config.vision, P = config.projectionDim;
  const tokenTable = get('text_model.embeddings.token_embedding.weight', [tc.vocabSize, tc.hiddenSize]) as tf.Tensor2D;
  const textPos = get('text_model.embeddings.position_embedding.weight', [tc.maxPositions, tc.hiddenSize]) as tf.Tensor2D;
  const textBlocks = blocks('text_model', tc);
  const finalG = vec('text_model.final_layer_norm.weight', tc.hiddenSize), finalB = vec('text_model.final_layer_norm.bias', tc.hiddenSize);
  const textProj = kernel('text_projection.weight', P, tc.hiddenSize);
  const grid = vc.imageSize / vc.patchSize;
  const cls = vec('vision_model.embeddings.class_embedding', vc.hiddenSize);
  const convW = get('vision_model.embeddings.patch_embedding.weight', [vc.hiddenSize, vc.numChannels, vc.patchSize, vc.patchSize]);
  const patchKernel = tf.keep(convW.reshape([vc.hiddenSize, -1]).transpose() as tf.Tensor2D);
  all.set('vision_model.embeddings.patch_embedding.weight#kernel', patchKernel);
  const visPos = get('vision_model.embeddings.position_embedding.weight', [grid * grid + 1, vc.hiddenSize]) as tf.Tensor2D;
  const preG = vec('vision_model.pre_layrnorm.weight', vc.hiddenSize), preB = vec('vision_model.pre_layrnorm.bias', vc.hiddenSize);
  const postG = vec('vision_model.post_layernorm.weight', vc.hiddenSize), postB = vec('vision_model.post_layernorm.bias', vc.hiddenSize);
  const visBlocks = blocks('vision_model', vc);
  const visProj = kernel('visual_projection.weight', P, vc.hiddenSize);
  const logitScale = Math.exp((await get('logit_scale').data())[0]);
  const textAct = activation(tc.hiddenAct);
  const visAct = activation(vc.hiddenAct);
  const calls = { text: 0, image: 0 };

  const block = (x: tf.Tensor, b: Block, t: TowerConfig, act: (x: tf.Tensor) => tf.Tensor, mask?: 'causal') => {
    const a = multiHeadAttention(layerNorm(x, b.ln1g, b.ln1b, t.layerNormEps), b.attn, t.numHeads, mask);
    const h = x.add(a);
    const m = linear(act(linear(layerNorm(h, b.ln2g, b.ln2b, t.layerNormEps), b.fc1k, b.fc1b)), b.fc2k, b.fc2b);
    return h.add(m);
  };

  return {
    config, fingerprint, name, logitScale, calls,
    tokenEmbeddings(ids, n, t) {
      return tf.tidy(() => tf.gather(tokenTable, tf.tensor1d(ids, 'int32')).reshape([n, t, tc.hiddenSize]) as tf.Tensor3D);
    },
    encodeTextEmbeddings(embeds, eot) {
      calls.text++;
      return tf.tidy(() => {
        const [n, t] = embeds.shape;
        if (t > tc.maxPositions) throw new BackboneError(`text sequence of ${t} tokens exceeds the model's ${tc.maxPositions} positions`);
        let x: tf.Tensor = embeds.add(textPos.slice([0, 0], [t, tc.hiddenSize]));
        for (const b of textBlocks) x = block(x, b, tc, textAct, 'causal');
        x = layerNorm(x, finalG, finalB, tc.layerNormEps);
        // Pool at EOT as a one-hot product: differentiable on every backend (no gather gradient on wasm).
        const pick = tf.oneHot(tf.tensor1d(eot, 'int32'), t).toFloat().reshape([n, t, 1]);
        const pooled = x.mul(pick).sum(1) as tf.Tensor2D;
        return linear(pooled, textProj) as tf.Tensor2D;
      });
    },
    encodeImage(pixels, prompts) {
      calls.image++;
      return tf.tidy(() => {
        const B = pixels.shape[0];
        const D = vc.hiddenSize;
        const patches = patchEmbed(pixels, patchKernel, vc.patchSize);
        let x: tf.Tensor = tf.concat([cls.reshape([1, 1, D]).tile([B, 1, 1]), patches], 1).add(visPos);
        let n = 0;
        const expand = (p: tf.Tensor) => (p.rank === 2 ? p.expandDims(0).tile([B, 1, 1]) : p);
        if (prompts?.shallow) {
          const p = expand(prompts.shallow);
          n = p.shape[1]!;
          x = tf.concat([x.slice([0, 0, 0], [B, 1, D]), p, x.slice([0, 1, 0], [B, -1, D])], 1);
        }
        const deep = prompts?.deep ?? [];
        if (deep.length && !prompts?.shallow) throw new BackboneError('deep visual prompts need shallow (layer-0) prompts too');
        if (deep.length > vc.numLayers - 1) throw new BackboneError(`${deep.length} deep prompt layers for a ${vc.numLayers}-layer vision tower (at most ${vc.numLayers - 1})`);
        x = layerNorm(x, preG, preB, vc.layerNormEps);
        visBlocks.forEach((b, i) => {
          if (i > 0 && deep[i - 1]) {
            const p = expand(deep[i - 1]);
            if (p.shape[1] !== n) throw new BackboneError(`deep prompts of layer ${i} have ${p.shape[1]} tokens, shallow ones ${n}`);
            x = tf.concat([x.slice([0, 0, 0], [B, 1, D]), p, x.slice([0, 1 + n, 0], [B, -1, D])], 1);
          }
          x = block(x, b, vc, visAct);
        });
        const pooled = layerNorm(x.slice([0, 0, 0], [B, 1, D]).reshape([B, D]), postG, postB, vc.layerNormEps);
        return linear(pooled, visProj) as tf.Tensor2D;
      });
    },
    weights: () => all,
    dispose() {
      for (const t of all.values()) t.dispose();
    },
  };
}

/** Cosine logits: logitScale · normalise(image) · normalise(text)ᵀ → [B, C]. */
export function cosineLogits(image: tf.Tensor2D, text: tf.Tensor2D, logitScale: number): tf.Tensor2D {
  // As a linear with the text features as kernel: the ops' matmul keeps flagless gradients (fast on wasm).
  return tf.tidy(() => linear(l2Normalize(image), l2Normalize(text).transpose() as tf.Tensor2D).mul(logitScale) as tf.Tensor2D);
}
