// Seeded random CLIP weights (transformers' initialisation), for benchmarks, tests and as the starting
// point of mini-CLIP pretraining.
import { clipWeightSpecs } from './weight-spec.ts';
import type { RawTensor } from './weight-spec.ts';
import type { CLIPConfig } from './config.ts';
import { mulberry32, normalPairs } from '../util/random.ts';

/**
 * Seeded random weights in HF layout following transformers' CLIP initialisation (std 0.02 embeddings,
 * depth-scaled attention/MLP, LayerNorm 1/0, zero biases, logit scale from config). For benchmarks and as
 * the starting point of pretraining.
 */
export function randomCLIPWeights(config: CLIPConfig, seed = 0): Record<string, RawTensor> {
  const rand = normalPairs(mulberry32(seed));
  const out: Record<string, RawTensor> = {};
  const fill = (shape: number[], std: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    if (std === 0) d.fill(mean);
    else for (let i = 0; i < n; i++) d[i] = mean + std * rand();
    return d;
  };
  for (const s of clipWeightSpecs(config)) {
    const tower = s.name.startsWith('text_model') ? config.text : config.vision;
    const d = tower.hiddenSize;
    const L = tower.numLayers;
    let std = 0.02;
    let mean = 0;
    if (s.name === 'logit_scale') { std = 0; mean = config.logitScaleInit; }
    else if (/layer_?norm|layrnorm/.test(s.name)) { std = 0; mean = s.name.endsWith('weight') ? 1 : 0; }
    else if (s.name.endsWith('.bias')) std = 0;
    else if (/_proj\.weight$/.test(s.name) && s.name.includes('self_attn')) std = s.name.includes('out_proj') ? d ** -0.5 : d ** -0.5 * (2 * L) ** -0.5;
    else if (s.name.endsWith('fc1.weight')) std = (2 * d) ** -0.5;
    else if (s.name.endsWith('fc2.weight')) std = d ** -0.5 * (2 * L) ** -0.5;
    else if (s.name === 'vision_model.embeddings.class_embedding') std = d ** -0.5;
    else if (s.name === 'text_projection.weight') std = config.text.hiddenSize ** -0.5;
    else if (s.name === 'visual_projection.weight') std = config.vision.hiddenSize ** -0.5;
    out[s.name] = { shape: s.shape, data: fill(s.shape, std, mean) };
  }
  return out;
}
