// What a CLIP checkpoint holds: every tensor of a Hugging Face `CLIPModel` state dict with the shape the
// config implies and how it maps to our compute layout, plus the content fingerprint over it. Loading,
// exporting and random initialisation all walk this one list, so they cannot disagree on a name or shape.
import * as tf from '@tensorflow/tfjs';
import type { createHash } from 'node:crypto';
import { numPatches, toHFConfig } from './config.ts';
import type { CLIPConfig, TowerConfig } from './config.ts';
import type { SafetensorsFile } from '../util/safetensors.ts';

/** A float tensor in HF layout, from a file or made in memory. */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** Where weights come from: a parsed safetensors file or a name → tensor record (HF names). */
export type WeightSource = SafetensorsFile | Record<string, RawTensor>;

export class CLIPWeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CLIPWeightError';
  }
}

/** How an HF tensor becomes our variable: as is, a Linear weight transposed, or the conv patch kernel flattened. */
export type Layout = 'same' | 'linear' | 'conv';
export interface WeightSpec {
  name: string;
  shape: number[];
  layout: Layout;
}

function layerSpecs(prefix: string, t: TowerConfig): WeightSpec[] {
  const d = t.hiddenSize;
  const m = t.intermediateSize;
  const out: WeightSpec[] = [];
  for (let i = 0; i < t.numLayers; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      out.push({ name: `${p}.self_attn.${proj}.weight`, shape: [d, d], layout: 'linear' });
      out.push({ name: `${p}.self_attn.${proj}.bias`, shape: [d], layout: 'same' });
    }
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      out.push({ name: `${p}.${ln}.weight`, shape: [d], layout: 'same' });
      out.push({ name: `${p}.${ln}.bias`, shape: [d], layout: 'same' });
    }
    out.push({ name: `${p}.mlp.fc1.weight`, shape: [m, d], layout: 'linear' });
    out.push({ name: `${p}.mlp.fc1.bias`, shape: [m], layout: 'same' });
    out.push({ name: `${p}.mlp.fc2.weight`, shape: [d, m], layout: 'linear' });
    out.push({ name: `${p}.mlp.fc2.bias`, shape: [d], layout: 'same' });
  }
  return out;
}

/** Every tensor a HF CLIPModel state dict holds (without the non-persistent position_ids), with its HF shape. */
export function clipWeightSpecs(c: CLIPConfig): WeightSpec[] {
  const t = c.text;
  const v = c.vision;
  const p = v.patchSize;
  return [
    { name: 'text_model.embeddings.token_embedding.weight', shape: [t.vocabSize, t.hiddenSize], layout: 'same' },
    { name: 'text_model.embeddings.position_embedding.weight', shape: [t.maxPositions, t.hiddenSize], layout: 'same' },
    ...layerSpecs('text_model', t),
    { name: 'text_model.final_layer_norm.weight', shape: [t.hiddenSize], layout: 'same' },
    { name: 'text_model.final_layer_norm.bias', shape: [t.hiddenSize], layout: 'same' },
    { name: 'vision_model.embeddings.class_embedding', shape: [v.hiddenSize], layout: 'same' },
    { name: 'vision_model.embeddings.patch_embedding.weight', shape: [v.hiddenSize, v.numChannels, p, p], layout: 'conv' },
    { name: 'vision_model.embeddings.position_embedding.weight', shape: [numPatches(v) + 1, v.hiddenSize], layout: 'same' },
    { name: 'vision_model.pre_layrnorm.weight', shape: [v.hiddenSize], layout: 'same' },
    { name: 'vision_model.pre_layrnorm.bias', shape: [v.hiddenSize], layout: 'same' },
    ...layerSpecs('vision_model', v),
    { name: 'vision_model.post_layernorm.weight', shape: [v.hiddenSize], layout: 'same' },
    { name: 'vision_model.post_layernorm.bias', shape: [v.hiddenSize], layout: 'same' },
    { name: 'visual_projection.weight', shape: [c.projectionDim, v.hiddenSize], layout: 'linear' },
    { name: 'text_projection.weight', shape: [c.projectionDim, t.hiddenSize], layout: 'linear' },
    { name: 'logit_scale', shape: [], layout: 'same' },
  ];
}
/** A variable (our layout) back in HF layout, as a new tensor the caller disposes. */
export function toHFLayout(v: tf.Tensor, spec: WeightSpec): tf.Tensor {
  return tf.tidy(() => {
    if (spec.layout === 'linear') return v.transpose();
    if (spec.layout === 'conv') return v.transpose().reshape(spec.shape);
    return v.clone();
  });
}

/** An HF-layout tensor as our variable's value (the inverse of toHFLayout). */
export function fromHFLayout(data: Float32Array, spec: WeightSpec): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(data, spec.shape, 'float32');
    if (spec.layout === 'linear') return x.transpose();
    if (spec.layout === 'conv') return x.reshape([spec.shape[0], -1]).transpose();
    return x;
  });
}

// The fingerprint: sha256 over the canonical config, then each weight (name, HF shape, float32 bytes) in
// name order. Feature caches are keyed by it, so loading and refreshFingerprint must hash identically.
export function canonicalConfig(c: CLIPConfig): string {
  return JSON.stringify(toHFConfig(c), (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));
}

export function hashTensor(h: ReturnType<typeof createHash>, name: string, shape: number[], data: Float32Array): void {
  h.update(`${name}:${shape.join('x')}:`);
  h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export function isSafetensorsFile(w: WeightSource): w is SafetensorsFile {
  return typeof (w as SafetensorsFile).get === 'function' && (w as SafetensorsFile).infos instanceof Map;
}
