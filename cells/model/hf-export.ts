// A CLIPModel back out in Hugging Face layout: the tensors of a state dict, a checkpoint folder
// (`config.json` + `model.safetensors`), and the fingerprint recomputed after training changed weights.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { CLIPConfig } from './config.ts';
import { toHFConfig } from './config.ts';

/** What export needs of a CLIPModel (structural, so clip.ts can delegate here without an import cycle). */
export interface ExportableCLIP {
  readonly config: CLIPConfig;
  readonly variables: Map<string, tf.Variable>;
  v(name: string): tf.Tensor;
}
import { canonicalConfig, clipWeightSpecs, hashTensor, toHFLayout } from './weight-spec.ts';
import { writeSafetensors } from '../util/safetensors.ts';
import type { TensorToWrite } from '../util/safetensors.ts';

/** Weights back in HF layout (for writing a checkpoint, e.g. mini-CLIP). */
export async function exportHF(model: ExportableCLIP, dtype: 'F32' | 'F16' = 'F32'): Promise<Record<string, TensorToWrite>> {
  const out: Record<string, TensorToWrite> = {};
  for (const spec of clipWeightSpecs(model.config)) {
    const hf = toHFLayout(model.v(spec.name), spec);
    const data = (await hf.data()) as Float32Array;
    hf.dispose();
    out[spec.name] = { shape: spec.shape, data: Float32Array.from(data), dtype };
  }
  return out;
}

/** Write `config.json` + `model.safetensors` (HF layout) into `dir`, atomically per file. */
export async function saveCheckpoint(model: ExportableCLIP, dir: string, opts: { dtype?: 'F32' | 'F16' } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), await exportHF(model, opts.dtype ?? 'F32'), { format: 'pt' });
  const tmp = join(dir, `.config.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(toHFConfig(model.config), null, 2) + '\n');
  await rename(tmp, join(dir, 'config.json'));
}

/** The fingerprint of the model's current weights (hashed exactly as buildCLIP hashes them at load). */
export async function weightsFingerprint(model: ExportableCLIP): Promise<string> {
  const h = createHash('sha256');
  h.update(canonicalConfig(model.config));
  const specs = clipWeightSpecs(model.config);
  for (const [name, v] of [...model.variables].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const spec = specs.find((s) => s.name === name)!;
    const hf = toHFLayout(v, spec);
    const data = (await hf.data()) as Float32Array;
    hf.dispose();
    hashTensor(h, name, spec.shape, data);
  }
  return h.digest('hex');
}
