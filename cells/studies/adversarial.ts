// Pro-tuning's adversarial-robustness scenario: test images perturbed by an L∞ PGD attack (Madry et al.
// 2018) crafted against one FIXED source model — a CIFAR ResNet with its own supervised head — then
// quantised to uint8, so the perturbed set is a real image set: a fingerprinted dataset view that any method
// is trained beside and tested on, like the corruption views.
//
// It is a TRANSFER attack, not a white-box attack on each tuned model: the scenario must be one dataset view
// that every method runs on (and the cache stores once), and a white-box attack per method would need each
// learner's input gradient through its own prompts, head and text side. So the numbers measure robustness to
// adversarial images made for the source model; models close to the source (the ResNet's frozen features
// and anything tuned from them) see the strongest attack, other backbones a transferred one.
//
// PGD on pixels in [0, 1]: a seeded uniform start in the ε-ball, then `steps` steps of
// x ← Π_{‖x − x₀‖∞ ≤ ε, 0 ≤ x ≤ 1}(x + α·sign(∇ₓ CE(f(x), y))), with BatchNorm on its running statistics.
// The final image is rounded to uint8 and clamped to ±⌊255ε⌋ levels of the clean one, so ‖δ‖∞ ≤ ε holds on
// the stored bytes. Each image's start is seeded from (seed, its id) and its gradient depends on it alone,
// so an image's attack does not depend on which other images are attacked or in what batches. The bytes are
// the backend's floating point: the same on one machine and backend every run (a test checks), possibly
// differing in a few pixels between backends (a gradient's sign where it is ~0).
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { stage, valueCodec } from '../exec/index.ts';
import type { Dataset, ImageStore } from '../data/dataset.ts';
import type { DecodedImage } from '../data/images.ts';
import { mixSeed, mulberry32 } from '../util/random.ts';
import { resNetCacheIdentity, type ResNetModel } from '../model/resnet/index.ts';
import type { CNNBackbone } from '../model/index.ts';
import { softmaxCrossEntropy } from '../model/ops/index.ts';

/** Bumped whenever the attack's pixels change, so cached views of the old pixels are not reused. */
// 2: the source ResNet's forward folds BatchNorm into its convolutions (gradients round differently).
const ATTACK_VERSION = 2;
/** Images per attack batch (part of the key: batched kernels may round differently). */
const ATTACK_BATCH = 50;

export interface PGDSpec {
  /** L∞ radius on [0, 1] pixels (default 8/255); at least 1/255, or uint8 rounding would erase it. */
  epsilon?: number;
  /** Step size α (default 2/255). */
  stepSize?: number;
  /** PGD steps (default 10). */
  steps?: number;
  /** Seed of the random start (default 0). */
  seed?: number;
}

export const PGD_DEFAULTS: Required<PGDSpec> = { epsilon: 8 / 255, stepSize: 2 / 255, steps: 10, seed: 0 };

/** What the attack stage stores: the perturbed images of the attacked ids and the source model's accuracy. */
export interface AdversarialImages {
  ids: Int32Array;
  /** uint8 RGB HWC of every attacked image, in `ids` order. */
  pixels: Uint8Array;
  size: number;
  /** The source model's top-1 on the clean images and on the stored (quantised) adversarial ones. */
  sourceTop1Clean: number;
  sourceTop1Adversarial: number;
  /** Largest |adversarial − clean| over all stored bytes, in uint8 levels (≤ ⌊255ε⌋). */
  maxLevels: number;
}

export function checkPGD(spec: PGDSpec): Required<PGDSpec> {
  const s = { ...PGD_DEFAULTS, ...spec };
  if (!(Number.isFinite(s.epsilon) && s.epsilon > 0 && s.epsilon <= 1)) {
    throw new Error(`PGD attack: epsilon is an L∞ radius on [0, 1] pixels and must be in (0, 1], got ${s.epsilon} (8/255 ≈ 0.0314 is the usual CIFAR setting)`);
  }
  if (Math.floor(s.epsilon * 255 + 1e-9) < 1) {
    throw new Error(`PGD attack: epsilon ${s.epsilon} is below one uint8 level (1/255 ≈ 0.0039); the stored images would equal the clean ones. Use at least 1/255`);
  }
  if (!(Number.isFinite(s.stepSize) && s.stepSize > 0 && s.stepSize <= 1)) throw new Error(`PGD attack: stepSize must be in (0, 1], got ${s.stepSize}`);
  if (!(Number.isInteger(s.steps) && s.steps >= 1 && s.steps <= 1000)) throw new Error(`PGD attack: steps must be an integer in 1..1000, got ${s.steps}`);
  if (!(Number.isInteger(s.seed) && s.seed >= 0 && s.seed <= 0xffffffff)) throw new Error(`PGD attack: seed must be an integer in [0, 2^32), got ${s.seed}`);
  return s;
}

function resnetOf(source: ResNetModel | CNNBackbone): ResNetModel {
  if ('resnet' in source) return source.resnet;
  if ('stageChannels' in source) return source;
  throw new Error('adversarial attack: the source model must be a CIFAR ResNet with its supervised head (e.g. loadModel("resnet-cifar10"))');
}

/** Logits of [0, 1] NHWC pixels: the config's normalisation as tf ops, so the gradient reaches the pixels. */
function logitsOf01(resnet: ResNetModel, x01: tf.Tensor4D): tf.Tensor2D {
  const c = resnet.config;
  return resnet.forward(x01.sub(tf.tensor1d(c.image_mean)).div(tf.tensor1d(c.image_std)) as tf.Tensor4D).logits;
}

function argmaxRows(logits: tf.Tensor2D): Int32Array {
  return tf.tidy(() => logits.argMax(1).dataSync() as Int32Array);
}

/** Stage: PGD images of every row of `test` against `source`; cached by the model, the view and the attack. */
export function pgdImages(source: ResNetModel | CNNBackbone, test: Dataset, spec: PGDSpec = {}): Promise<AdversarialImages> {
  const resnet = resnetOf(source);
  const s = checkPGD(spec);
  if (test.multiLabel) throw new Error(`adversarial attack: "${test.name}" is multi-label; the attack needs one label per image`);
  if (test.classNames.join('\n') !== resnet.classNames.join('\n')) {
    throw new Error(`adversarial attack: the source model's classes (${resnet.classNames.join(', ')}) are not the dataset's (${test.classNames.join(', ')}); the attack uses the model's own head, so they must be the same, in order`);
  }
  const S = resnet.config.image_size;
  return stage(
    {
      name: 'pgdAttack', version: ATTACK_VERSION, heavy: true,
      params: { ...s, batch: ATTACK_BATCH },
      inputs: [resNetCacheIdentity(resnet), test.fingerprint],
      pins: [{ kind: 'model', name: resnet.id, fingerprint: resNetCacheIdentity(resnet) }, { kind: 'dataset', name: test.name, fingerprint: test.fingerprint }],
    },
    valueCodec<AdversarialImages>(),
    async (ctx) => {
      const ids = Int32Array.from(test.rows.getChild('id')!.toArray() as Int32Array);
      const labels = Int32Array.from(test.rows.getChild('label')!.toArray() as Int32Array);
      const per = S * S * 3;
      const out = new Uint8Array(ids.length * per);
      const levels = Math.floor(s.epsilon * 255 + 1e-9);
      let clean = 0, fooled = 0, maxLevels = 0;
      for (let start = 0; start < ids.length; start += ATTACK_BATCH) {
        ctx.signal.throwIfAborted();
        const n = Math.min(ATTACK_BATCH, ids.length - start);
        const x0 = new Uint8Array(n * per);
        const init = new Float32Array(n * per);
        for (let k = 0; k < n; k++) {
          const img: DecodedImage = test.images.get(ids[start + k]);
          if (img.width !== S || img.height !== S || img.channels !== 3) {
            throw new Error(`adversarial attack: image ${ids[start + k]} of "${test.name}" is ${img.width}×${img.height}×${img.channels}; the source model takes ${S}×${S} RGB images`);
          }
          x0.set(img.data, k * per);
          // Uniform start in the ε-ball, seeded per image.
          const rand = mulberry32(mixSeed(s.seed, ids[start + k], 0xad5));
          for (let i = 0; i < per; i++) init[k * per + i] = (2 * rand() - 1) * s.epsilon;
        }
        const y = tf.tensor1d(labels.subarray(start, start + n), 'int32');
        const clean01 = tf.tidy(() => tf.tensor4d(x0, [n, S, S, 3], 'float32').div(255) as tf.Tensor4D);
        const lo = tf.tidy(() => clean01.sub(s.epsilon).maximum(0) as tf.Tensor4D);
        const hi = tf.tidy(() => clean01.add(s.epsilon).minimum(1) as tf.Tensor4D);
        let x = tf.tidy(() => clean01.add(tf.tensor4d(init, [n, S, S, 3])).clipByValue(0, 1) as tf.Tensor4D);
        const lossGrad = tf.grad((xi: tf.Tensor) => softmaxCrossEntropy(logitsOf01(resnet, xi as tf.Tensor4D), y));
        for (let step = 0; step < s.steps; step++) {
          const next = tf.tidy(() => x.add(lossGrad(x).sign().mul(s.stepSize)).minimum(hi).maximum(lo) as tf.Tensor4D);
          x.dispose();
          x = next;
          ctx.progress((start + n * (step + 1) / s.steps) / ids.length, `PGD on ${test.name}: image ${start + n} of ${ids.length}, step ${step + 1}/${s.steps}`);
        }
        const adv01 = x.dataSync();
        const adv = new Uint8Array(n * per);
        for (let i = 0; i < adv.length; i++) {
          const q = Math.round(adv01[i] * 255);
          const v = Math.min(255, Math.max(0, Math.min(x0[i] + levels, Math.max(x0[i] - levels, q))));
          adv[i] = v;
          maxLevels = Math.max(maxLevels, Math.abs(v - x0[i]));
        }
        out.set(adv, start * per);
        const [pc, pa] = tf.tidy(() => [
          argmaxRows(logitsOf01(resnet, clean01)),
          argmaxRows(logitsOf01(resnet, tf.tensor4d(adv, [n, S, S, 3], 'float32').div(255) as tf.Tensor4D)),
        ]);
        for (let k = 0; k < n; k++) {
          if (pc[k] === labels[start + k]) clean++;
          if (pa[k] === labels[start + k]) fooled++;
        }
        tf.dispose([x, y, clean01, lo, hi]);
      }
      return {
        ids, pixels: out, size: S, maxLevels,
        sourceTop1Clean: clean / Math.max(1, ids.length), sourceTop1Adversarial: fooled / Math.max(1, ids.length),
      };
    },
  );
}

class AdversarialStore implements ImageStore {
  private at = new Map<number, number>();
  constructor(private parentCount: number, private images: AdversarialImages, private name: string) {
    images.ids.forEach((id, k) => this.at.set(id, k));
  }
  get count(): number {
    return this.parentCount;
  }
  get(id: number): DecodedImage {
    const k = this.at.get(id);
    if (k === undefined) throw new Error(`${this.name}: image ${id} was not attacked (only the view's own rows are); build the view from the rows you read`);
    const S = this.images.size, per = S * S * 3;
    return { width: S, height: S, channels: 3, data: this.images.pixels.subarray(k * per, (k + 1) * per) };
  }
  batch(ids: ArrayLike<number>): DecodedImage[] {
    return Array.from(ids, (id) => this.get(id));
  }
  close(): void {
    this.at.clear();
  }
}

/** `test` with every image replaced by its PGD image against `source`; a fingerprinted view, computed once (cached). */
export async function adversarialDataset(source: ResNetModel | CNNBackbone, test: Dataset, spec: PGDSpec = {}): Promise<{ dataset: Dataset; attack: AdversarialImages }> {
  const resnet = resnetOf(source);
  const s = checkPGD(spec);
  const attack = await pgdImages(resnet, test, s);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ view: 'adversarial', version: ATTACK_VERSION, parent: test.fingerprint, source: resNetCacheIdentity(resnet), ...s, batch: ATTACK_BATCH }))
    .digest('hex');
  const name = `${test.name}-pgd`;
  return {
    dataset: {
      name, classNames: test.classNames, fingerprint, multiLabel: false, rows: test.rows,
      images: new AdversarialStore(test.images.count, attack, name), skipped: [], origin: { kind: 'view', parent: test.fingerprint },
    },
    attack,
  };
}
