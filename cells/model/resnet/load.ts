// Reading a CIFAR ResNet checkpoint folder (config.json + model.safetensors); callers use the model layer's
// one `load(source, {type: 'resnet'})` (cells/model/load.ts), which resolves names and lands here. Saving
// writes the same layout atomically, so any checkpoint of that layout round-trips.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readSafetensors, serializeSafetensors, type SafetensorsFile } from '../../util/safetensors.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { parseResNetConfig, resNetConfigJSON } from './config.ts';
import { buildResNet, type ResNetModel, type ResNetRawTensor } from './model.ts';
import { ResNetWeightError } from './weights.ts';

/** The bundled ResNet, pretrained in the project on CIFAR-10 (data/models/resnet-cifar10/README.md). */
export const DEFAULT_RESNET = 'resnet-cifar10';

/** Every tensor of a safetensors file as float32 (the error names a tensor that is not a float). */
function rawTensors(file: SafetensorsFile, source: string): Map<string, ResNetRawTensor> {
  const out = new Map<string, ResNetRawTensor>();
  for (const name of file.names()) {
    if (name.endsWith('.num_batches_tracked')) continue; // torch's BatchNorm counters (integers, unused)
    const t = file.get(name);
    if (!(t.data instanceof Float32Array)) throw new ResNetWeightError(`${source}: tensor "${name}" is ${t.dtype}; ResNet weights are floats (F32, F16, BF16 or F64)`);
    out.set(name, { shape: t.shape, data: t.data });
  }
  return out;
}

/** The ResNet in checkpoint folder `found` (what `source` resolved to), named `id`. */
export async function readResNetCheckpoint(found: string, id: string, source = id): Promise<ResNetModel> {
  const dir = resolve(found);
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) {
    throw new Error(`no ResNet "${source}": ${cfgPath} does not exist. Give a folder with config.json and model.safetensors, or '${DEFAULT_RESNET}' for the bundled one`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ResNet config ${cfgPath}: ${(e as Error).message}`);
  }
  const config = parseResNetConfig(raw, cfgPath);
  const wPath = join(dir, 'model.safetensors');
  const file = await readSafetensors(wPath);
  try {
    return buildResNet(config, rawTensors(file, wPath), id);
  } catch (e) {
    if (e instanceof ResNetWeightError && !e.message.startsWith(wPath)) throw new ResNetWeightError(`${wPath}: ${e.message}`);
    throw e;
  }
}

/** The checkpoint file's bytes: every tensor float32 in checkpoint (PyTorch) layout. */
export function resNetSafetensors(model: ResNetModel, metadata: Record<string, string> = {}): Uint8Array {
  const tensors = Object.fromEntries(model.exportWeights().map((t) => [t.name, { shape: t.shape, data: t.data }]));
  return serializeSafetensors(tensors, { format: 'pt', ...metadata });
}

/** Writes config.json + model.safetensors into `dir` (each atomically). */
export async function saveResNet(model: ResNetModel, dir: string): Promise<void> {
  await writeFileAtomic(join(dir, 'model.safetensors'), resNetSafetensors(model));
  await writeFileAtomic(join(dir, 'config.json'), resNetConfigJSON(model.config));
}
