// Building a CLIPModel from a parsed config and HF-named weights (a safetensors file or tensors in
// memory): every tensor is checked by name and shape, converted to the compute layout, and hashed into
// the model's fingerprint.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { CLIPModel } from './clip.ts';
import type { CLIPConfig } from './config.ts';
import { CLIPWeightError, canonicalConfig, clipWeightSpecs, fromHFLayout, hashTensor, isSafetensorsFile } from './weight-spec.ts';
import type { WeightSource } from './weight-spec.ts';

export interface BuildOptions {
  /** Make every weight trainable (mini-CLIP pretraining). Default false: frozen encoders. */
  trainable?: boolean;
  /** Name shown in results. */
  id?: string;
  /** Where the weights came from, for error messages. */
  source?: string;
}

// Variable names must be unique per process; several models may be alive at once.
let modelCounter = 0;

/** Build the model from a parsed config and HF-named weights; every tensor is checked by name and shape. */
export function buildCLIP(config: CLIPConfig, weights: WeightSource, opts: BuildOptions = {}): CLIPModel {
  const source = opts.source ?? 'weights';
  const specs = clipWeightSpecs(config);
  const names = isSafetensorsFile(weights) ? weights.names() : Object.keys(weights);
  const have = new Set(names);
  const missing = specs.filter((s) => !have.has(s.name)).map((s) => s.name);
  if (missing.length) {
    throw new CLIPWeightError(`${source}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).map((m) => `"${m}"`).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}; the checkpoint does not match config.json (a HF CLIPModel state dict is expected)`);
  }
  const wanted = new Set(specs.map((s) => s.name));
  const unused = names.filter((n) => !wanted.has(n));
  const h = createHash('sha256');
  h.update(canonicalConfig(config));
  const vars = new Map<string, tf.Variable>();
  const modelNo = modelCounter++;
  try {
    for (const spec of [...specs].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const t = isSafetensorsFile(weights) ? weights.get(spec.name) : weights[spec.name];
      const shape = t.shape;
      if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
        throw new CLIPWeightError(`${source}: tensor "${spec.name}" has shape [${shape}] but config.json implies [${spec.shape}]`);
      }
      if (!(t.data instanceof Float32Array)) {
        throw new CLIPWeightError(`${source}: tensor "${spec.name}" is not a floating-point tensor`);
      }
      hashTensor(h, spec.name, spec.shape, t.data);
      const value = fromHFLayout(t.data, spec);
      vars.set(spec.name, tf.variable(value, opts.trainable ?? false, `clip${modelNo}/${spec.name}`));
      value.dispose();
    }
  } catch (e) {
    for (const v of vars.values()) v.dispose();
    throw e;
  }
  return new CLIPModel(config, vars, h.digest('hex'), opts.id ?? 'clip', unused);
}
