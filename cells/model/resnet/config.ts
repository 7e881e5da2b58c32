// config.json of a CIFAR-style ResNet checkpoint (He et al. 2016, §4.2): a 3×3 stem, stages of basic
// blocks (two 3×3 convolutions), the first block of every stage after the first halving the resolution,
// BatchNorm after every convolution, global average pooling, a linear head. Key names follow Hugging Face's
// ResNetConfig where the idea is the same (embedding_size, hidden_sizes, depths, num_labels, id2label);
// model_type "cifar-resnet" says the stem is the 3×3 CIFAR one, not ImageNet's 7×7 + max-pool.
// The image mean/std live here (HF keeps them in preprocessor_config.json) so one file describes the model.

export const RESNET_MODEL_TYPE = 'cifar-resnet';

export interface ResNetConfig {
  model_type: typeof RESNET_MODEL_TYPE;
  /** Input channels (3). */
  num_channels: number;
  /** Channels of the stem convolution. */
  embedding_size: number;
  /** Channels of each stage. */
  hidden_sizes: number[];
  /** Basic blocks per stage. */
  depths: number[];
  /** Side of the square input the model was trained at (pixels). */
  image_size: number;
  num_labels: number;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  /** Per-channel mean and std of [0, 1] pixels, subtracted and divided before the stem. */
  image_mean: [number, number, number];
  image_std: [number, number, number];
  batch_norm_eps: number;
  /** PyTorch's BatchNorm momentum m: running = (1 − m)·running + m·batch statistic (training only). */
  batch_norm_momentum: number;
}

export class ResNetConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResNetConfigError';
  }
}

const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/** A checked ResNetConfig from parsed config.json; `source` names the file in errors. */
export function parseResNetConfig(raw: unknown, source = 'config.json'): ResNetConfig {
  const fail = (what: string): never => {
    throw new ResNetConfigError(`${source}: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('is not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.model_type !== RESNET_MODEL_TYPE) {
    fail(`model_type is ${JSON.stringify(r.model_type)}; a ResNet checkpoint here has "model_type": "${RESNET_MODEL_TYPE}" (a CIFAR-style 3×3 stem)`);
  }
  const ints = (key: string): number[] => {
    const v = r[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every(isPositiveInt)) fail(`"${key}" must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  const int = (key: string, def?: number): number => {
    const v = r[key] ?? def;
    if (!isPositiveInt(v)) fail(`"${key}" must be a positive integer, got ${JSON.stringify(r[key])}`);
    return v as number;
  };
  const hidden = ints('hidden_sizes');
  const depths = ints('depths');
  if (hidden.length !== depths.length) fail(`"hidden_sizes" has ${hidden.length} stages but "depths" has ${depths.length}; give one depth per stage`);
  const numLabels = int('num_labels');
  const triple = (key: string, def: number[]): [number, number, number] => {
    const v = r[key] ?? def;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      fail(`"${key}" must be three numbers (R, G, B), got ${JSON.stringify(r[key])}`);
    }
    return v as [number, number, number];
  };
  const mean = triple('image_mean', [0.5, 0.5, 0.5]);
  const std = triple('image_std', [0.5, 0.5, 0.5]);
  if (std.some((s) => s <= 0)) fail(`"image_std" must be positive, got ${JSON.stringify(std)}`);
  let id2label: Record<string, string>;
  if (r.id2label === undefined) {
    id2label = Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [String(i), `LABEL_${i}`]));
  } else {
    if (typeof r.id2label !== 'object' || r.id2label === null) fail('"id2label" must be an object {"0": "name", …}');
    id2label = r.id2label as Record<string, string>;
    for (let i = 0; i < numLabels; i++) {
      if (typeof id2label[String(i)] !== 'string') fail(`"id2label" has no name for class ${i} (num_labels is ${numLabels})`);
    }
    if (Object.keys(id2label).length !== numLabels) fail(`"id2label" has ${Object.keys(id2label).length} entries but num_labels is ${numLabels}`);
  }
  const eps = r.batch_norm_eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) fail(`"batch_norm_eps" must be a positive number, got ${JSON.stringify(r.batch_norm_eps)}`);
  const momentum = r.batch_norm_momentum ?? 0.1;
  if (typeof momentum !== 'number' || !(momentum > 0 && momentum <= 1)) fail(`"batch_norm_momentum" must be in (0, 1], got ${JSON.stringify(r.batch_norm_momentum)}`);
  return {
    model_type: RESNET_MODEL_TYPE,
    num_channels: int('num_channels', 3),
    embedding_size: int('embedding_size'),
    hidden_sizes: hidden,
    depths,
    image_size: int('image_size', 32),
    num_labels: numLabels,
    id2label,
    label2id: Object.fromEntries(Object.entries(id2label).map(([k, v]) => [v, Number(k)])),
    image_mean: mean,
    image_std: std,
    batch_norm_eps: eps as number,
    batch_norm_momentum: momentum as number,
  };
}

/** Class names in id order. */
export function classNamesOf(c: ResNetConfig): string[] {
  return Array.from({ length: c.num_labels }, (_, i) => c.id2label[String(i)]);
}

/** The config as written to config.json (keys in a fixed order: the fingerprint hashes this text). */
export function resNetConfigJSON(c: ResNetConfig): string {
  const out = {
    architectures: ['CifarResNetForImageClassification'],
    model_type: c.model_type, num_channels: c.num_channels, embedding_size: c.embedding_size,
    hidden_sizes: c.hidden_sizes, depths: c.depths, image_size: c.image_size, num_labels: c.num_labels,
    id2label: c.id2label, label2id: c.label2id, image_mean: c.image_mean, image_std: c.image_std,
    batch_norm_eps: c.batch_norm_eps, batch_norm_momentum: c.batch_norm_momentum, torch_dtype: 'float32',
  };
  return JSON.stringify(out, null, 2) + '\n';
}
