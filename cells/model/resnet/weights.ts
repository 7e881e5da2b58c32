// Every tensor a CIFAR ResNet checkpoint holds, with PyTorch's names and layouts (so a state_dict saved
// from torch loads as is): convolutions [out, in, kh, kw], the head [labels, features]. In memory the
// convolutions are tfjs's [kh, kw, in, out] and the head [features, labels].
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import type { ResNetConfig } from './config.ts';
import { resNetConfigJSON } from './config.ts';

export type ResNetLayout = 'conv' | 'linear' | 'same';

export interface ResNetTensorSpec {
  name: string;
  /** Shape as stored in the checkpoint (PyTorch layout). */
  shape: number[];
  layout: ResNetLayout;
  /** BatchNorm running statistics: never trainable, updated by training-mode forward passes. */
  buffer: boolean;
}

export class ResNetWeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResNetWeightError';
  }
}

/** One basic block: where it reads from and how it changes the shape. */
export interface BlockPlan {
  prefix: string;
  inChannels: number;
  outChannels: number;
  stride: number;
  /** A 1×1 convolution + BatchNorm on the shortcut (when the shape changes). */
  projection: boolean;
}

/** The blocks of each stage, in order. Stage s > 0 starts with a stride-2 block. */
export function blockPlan(c: ResNetConfig): BlockPlan[][] {
  let inC = c.embedding_size;
  return c.hidden_sizes.map((width, s) => Array.from({ length: c.depths[s] }, (_, b) => {
    const stride = s > 0 && b === 0 ? 2 : 1;
    const plan: BlockPlan = { prefix: `stages.${s}.blocks.${b}`, inChannels: inC, outChannels: width, stride, projection: stride !== 1 || inC !== width };
    inC = width;
    return plan;
  }));
}

function conv(name: string, out: number, inC: number, k: number): ResNetTensorSpec {
  return { name, shape: [out, inC, k, k], layout: 'conv', buffer: false };
}
function batchNorm(prefix: string, channels: number): ResNetTensorSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [channels], layout: 'same', buffer: false },
    { name: `${prefix}.bias`, shape: [channels], layout: 'same', buffer: false },
    { name: `${prefix}.running_mean`, shape: [channels], layout: 'same', buffer: true },
    { name: `${prefix}.running_var`, shape: [channels], layout: 'same', buffer: true },
  ];
}

/** Every tensor of the checkpoint, in forward order. */
export function resNetTensorSpecs(c: ResNetConfig): ResNetTensorSpec[] {
  const specs: ResNetTensorSpec[] = [conv('stem.conv.weight', c.embedding_size, c.num_channels, 3), ...batchNorm('stem.bn', c.embedding_size)];
  for (const block of blockPlan(c).flat()) {
    specs.push(conv(`${block.prefix}.conv1.weight`, block.outChannels, block.inChannels, 3), ...batchNorm(`${block.prefix}.bn1`, block.outChannels));
    specs.push(conv(`${block.prefix}.conv2.weight`, block.outChannels, block.outChannels, 3), ...batchNorm(`${block.prefix}.bn2`, block.outChannels));
    if (block.projection) {
      specs.push(conv(`${block.prefix}.shortcut.conv.weight`, block.outChannels, block.inChannels, 1), ...batchNorm(`${block.prefix}.shortcut.bn`, block.outChannels));
    }
  }
  const last = c.hidden_sizes[c.hidden_sizes.length - 1];
  specs.push({ name: 'classifier.weight', shape: [c.num_labels, last], layout: 'linear', buffer: false });
  specs.push({ name: 'classifier.bias', shape: [c.num_labels], layout: 'same', buffer: false });
  return specs;
}

/** Checkpoint layout → tfjs layout. */
export function fromCheckpointLayout(data: Float32Array, spec: ResNetTensorSpec): tf.Tensor {
  const t = tf.tensor(data, spec.shape, 'float32');
  if (spec.layout === 'same') return t;
  const out = spec.layout === 'conv' ? tf.transpose(t, [2, 3, 1, 0]) : tf.transpose(t, [1, 0]);
  t.dispose();
  return out;
}

/** tfjs layout → checkpoint layout (the inverse of fromCheckpointLayout). */
export function toCheckpointLayout(v: tf.Tensor, spec: ResNetTensorSpec): tf.Tensor {
  if (spec.layout === 'same') return v.clone();
  return spec.layout === 'conv' ? tf.transpose(v, [3, 2, 0, 1]) : tf.transpose(v, [1, 0]);
}

/** sha256 over the config text and every tensor (name, checkpoint shape, float32 bytes in checkpoint layout). */
export function resNetFingerprint(c: ResNetConfig, tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): string {
  const h = createHash('sha256');
  h.update(resNetConfigJSON(c));
  for (const t of tensors) {
    h.update(`${t.name}:${t.shape.join('x')}:`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}
