// Seeded initial weights for a CIFAR ResNet, as torchvision's ResNet initialises them: convolutions He-normal
// with fan_out (std √(2 / (out·k·k))), BatchNorm γ = 1, β = 0, running mean 0 and variance 1, the last BatchNorm
// γ of every block 0 (torchvision's zero_init_residual: each block starts as the identity, which trains
// faster from scratch), and the head uniform in ±1/√features (torch.nn.Linear's default).
import { mulberry32, murmurMixSeed } from '../../util/random.ts';
import type { ResNetConfig } from './config.ts';
import type { ResNetRawTensor } from './model.ts';
import { resNetTensorSpecs } from './weights.ts';

function gaussian(rand: () => number): number {
  const u = rand() || 1e-12;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function randomResNetWeights(config: ResNetConfig, seed: number): Map<string, ResNetRawTensor> {
  const out = new Map<string, ResNetRawTensor>();
  resNetTensorSpecs(config).forEach((spec, i) => {
    const n = spec.shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    const rand = mulberry32(murmurMixSeed(seed, i));
    const name = spec.name;
    if (spec.layout === 'conv') {
      const [o, , kh, kw] = spec.shape;
      const std = Math.sqrt(2 / (o * kh * kw));
      for (let j = 0; j < n; j++) data[j] = std * gaussian(rand);
    } else if (name.startsWith('classifier.')) {
      const bound = 1 / Math.sqrt(config.hidden_sizes[config.hidden_sizes.length - 1]);
      for (let j = 0; j < n; j++) data[j] = (2 * rand() - 1) * bound;
    } else if (name.endsWith('.running_var')) data.fill(1);
    else if (name.endsWith('.weight')) data.fill(/\.bn2\.weight$/.test(name) ? 0 : 1);
    out.set(name, { shape: spec.shape, data });
  });
  return out;
}
