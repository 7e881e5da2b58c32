// CLIP architecture settings, read from a Hugging Face `config.json` (CLIPConfig, model_type "clip").
// Missing keys take transformers' CLIPTextConfig/CLIPVisionConfig defaults, as HF itself does, so the
// hub's older configs (which omit many keys) load the same way they do in Python.

export type HiddenAct = 'quick_gelu' | 'gelu';

export interface TowerConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numLayers: number;
  hiddenAct: HiddenAct;
  layerNormEps: number;
}

export interface TextConfig extends TowerConfig {
  vocabSize: number;
  maxPositions: number;
  bosTokenId: number;
  /** The id pooled at (first occurrence). Legacy configs say 2; CLIP's real end token 49407 is used then, like HF. */
  eosTokenId: number;
  padTokenId: number;
}

export interface VisionConfig extends TowerConfig {
  imageSize: number;
  patchSize: number;
  numChannels: number;
}

export interface CLIPConfig {
  text: TextConfig;
  vision: VisionConfig;
  projectionDim: number;
  logitScaleInit: number;
}

const TEXT_DEFAULTS = {
  vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8, num_hidden_layers: 12,
  max_position_embeddings: 77, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 49406,
  eos_token_id: 49407,
};
const VISION_DEFAULTS = {
  hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, image_size: 224,
  patch_size: 32, num_channels: 3, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5,
};

export class CLIPConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CLIPConfigError';
  }
}

type Json = Record<string, unknown>;

function num(obj: Json, defaults: Json, key: string, where: string, integer = true): number {
  const v = obj[key] ?? defaults[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new CLIPConfigError(`${where}.${key} must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  }
  if (integer && v <= 0 && !key.endsWith('token_id')) throw new CLIPConfigError(`${where}.${key} must be positive, got ${v}`);
  return v;
}

function act(obj: Json, defaults: Json, where: string): HiddenAct {
  const v = obj.hidden_act ?? defaults.hidden_act;
  // HF's "gelu" is the exact erf GELU; "quick_gelu" is x·σ(1.702x) (OpenAI's original checkpoints).
  if (v === 'quick_gelu' || v === 'gelu') return v;
  throw new CLIPConfigError(`${where}.hidden_act "${String(v)}" is not supported (use "quick_gelu" or "gelu")`);
}

function tower(obj: Json, defaults: Json, where: string): TowerConfig {
  const t: TowerConfig = {
    hiddenSize: num(obj, defaults, 'hidden_size', where),
    intermediateSize: num(obj, defaults, 'intermediate_size', where),
    numHeads: num(obj, defaults, 'num_attention_heads', where),
    numLayers: num(obj, defaults, 'num_hidden_layers', where),
    hiddenAct: act(obj, defaults, where),
    layerNormEps: num(obj, defaults, 'layer_norm_eps', where, false),
  };
  if (t.hiddenSize % t.numHeads !== 0) {
    throw new CLIPConfigError(`${where}: hidden_size ${t.hiddenSize} is not divisible by num_attention_heads ${t.numHeads}`);
  }
  return t;
}

/** Parse a HF CLIP config.json object. `source` names the file in errors. */
export function parseCLIPConfig(raw: unknown, source = 'config.json'): CLIPConfig {
  if (!raw || typeof raw !== 'object') throw new CLIPConfigError(`${source}: expected a JSON object`);
  const j = raw as Json;
  if (j.model_type !== undefined && j.model_type !== 'clip') {
    throw new CLIPConfigError(`${source}: model_type is "${String(j.model_type)}", expected "clip" (a CLIPModel config with text_config and vision_config)`);
  }
  // Older hub configs carry `text_config_dict`/`vision_config_dict` instead of (or beside) the plain keys.
  const tj = (j.text_config ?? j.text_config_dict) as Json | undefined;
  const vj = (j.vision_config ?? j.vision_config_dict) as Json | undefined;
  if (!tj || typeof tj !== 'object') throw new CLIPConfigError(`${source}: text_config is missing; is this a CLIPModel config?`);
  if (!vj || typeof vj !== 'object') throw new CLIPConfigError(`${source}: vision_config is missing; is this a CLIPModel config?`);
  const tw = `${source}: text_config`;
  const vw = `${source}: vision_config`;
  let eos = num(tj, TEXT_DEFAULTS, 'eos_token_id', tw);
  if (eos === 2) eos = 49407; // transformers' legacy rule: eos_token_id 2 means "pool at argmax = <|endoftext|>"
  const text: TextConfig = {
    ...tower(tj, TEXT_DEFAULTS, tw),
    vocabSize: num(tj, TEXT_DEFAULTS, 'vocab_size', tw),
    maxPositions: num(tj, TEXT_DEFAULTS, 'max_position_embeddings', tw),
    bosTokenId: num(tj, TEXT_DEFAULTS, 'bos_token_id', tw),
    eosTokenId: eos,
    padTokenId: num(tj, TEXT_DEFAULTS, 'pad_token_id', tw),
  };
  const vision: VisionConfig = {
    ...tower(vj, VISION_DEFAULTS, vw),
    imageSize: num(vj, VISION_DEFAULTS, 'image_size', vw),
    patchSize: num(vj, VISION_DEFAULTS, 'patch_size', vw),
    numChannels: num(vj, VISION_DEFAULTS, 'num_channels', vw),
  };
  if (vision.imageSize % vision.patchSize !== 0) {
    throw new CLIPConfigError(`${vw}: image_size ${vision.imageSize} is not a multiple of patch_size ${vision.patchSize}`);
  }
  const projectionDim = num(j, { projection_dim: 512 }, 'projection_dim', source);
  const logitScaleInit = num(j, { logit_scale_init_value: 2.6592 }, 'logit_scale_init_value', source, false);
  return { text, vision, projectionDim, logitScaleInit };
}

/** Back to HF config.json form (what we write next to a model.safetensors we produce, e.g. mini-CLIP). */
export function toHFConfig(c: CLIPConfig): Json {
  const towerJson = (t: TowerConfig) => ({
    hidden_size: t.hiddenSize, intermediate_size: t.intermediateSize, num_attention_heads: t.numHeads,
    num_hidden_layers: t.numLayers, hidden_act: t.hiddenAct, layer_norm_eps: t.layerNormEps,
    attention_dropout: 0.0, initializer_range: 0.02, initializer_factor: 1.0, projection_dim: c.projectionDim,
  });
  return {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: c.projectionDim,
    logit_scale_init_value: c.logitScaleInit,
    initializer_factor: 1.0,
    torch_dtype: 'float32',
    text_config: {
      model_type: 'clip_text_model', vocab_size: c.text.vocabSize, ...towerJson(c.text),
      max_position_embeddings: c.text.maxPositions, pad_token_id: c.text.padTokenId,
      bos_token_id: c.text.bosTokenId, eos_token_id: c.text.eosTokenId,
    },
    vision_config: {
      model_type: 'clip_vision_model', ...towerJson(c.vision), image_size: c.vision.imageSize,
      patch_size: c.vision.patchSize, num_channels: c.vision.numChannels,
    },
  };
}

/** Number of patch tokens (without CLS). */
export function numPatches(v: VisionConfig): number {
  return (v.imageSize / v.patchSize) ** 2;
}

/** Standard configs, for benchmarks and random-weight tests (shapes of openai/clip-vit-base-patch16). */
export const VIT_B_16: CLIPConfig = parseCLIPConfig({
  model_type: 'clip', projection_dim: 512,
  text_config: { hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8, num_hidden_layers: 12 },
  vision_config: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, image_size: 224, patch_size: 16 },
}, 'ViT-B/16');
