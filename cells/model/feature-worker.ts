// One feature-extraction worker: holds its own copy of the frozen CLIP model and turns batches of decoded
// images into projected image features (preprocessing included, so the main thread only reads images).
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { initBackend, currentBackend } from './backend.ts';
import type { BackendPreference } from './backend.ts';
import { load } from './load.ts';
import type { CLIPModel } from './clip.ts';
import type { RawTensor } from './weight-spec.ts';
import type { CLIPConfig } from './config.ts';
import { preprocessBatch } from '../data/preprocess.ts';
import type { PreprocessOptions } from '../data/preprocess.ts';
import type { DecodedImage } from '../data/images.ts';

export type FeatureWorkerInit = {
  type: 'init';
  backend: BackendPreference;
  preprocess: PreprocessOptions;
  /** A checkpoint directory, or the weights themselves (HF layout) for models that exist only in memory. */
  source: { dir: string } | { config: CLIPConfig; weights: Record<string, RawTensor> };
};
export type FeatureWorkerRequest = FeatureWorkerInit | { type: 'encode'; id: number; images: DecodedImage[] };
export type FeatureWorkerReply =
  | { type: 'ready'; fingerprint: string; backend: string }
  | { type: 'features'; id: number; features: Float32Array }
  | { type: 'error'; id: number; message: string };

if (!parentPort) throw new Error('feature-worker.ts must run in a worker thread');
const port = parentPort;
let model: CLIPModel | undefined;
let pre: PreprocessOptions;

port.on('message', async (msg: FeatureWorkerRequest) => {
  try {
    if (msg.type === 'init') {
      await initBackend(msg.backend);
      const backend = currentBackend(); // as recorded with results, e.g. 'wasm+blas'
      model = 'dir' in msg.source ? await load(msg.source.dir) : await load({ config: msg.source.config, weights: msg.source.weights });
      pre = msg.preprocess;
      port.postMessage({ type: 'ready', fingerprint: model.fingerprint, backend } satisfies FeatureWorkerReply);
      return;
    }
    if (!model) throw new Error('feature worker: encode before init');
    const S = model.config.vision.imageSize;
    const px = preprocessBatch(msg.images, pre);
    const out = tf.tidy(() => model!.encodeImage(tf.tensor4d(px, [msg.images.length, 3, S, S])));
    const features = Float32Array.from(await out.data());
    out.dispose();
    port.postMessage({ type: 'features', id: msg.id, features } satisfies FeatureWorkerReply, [features.buffer]);
  } catch (e) {
    port.postMessage({ type: 'error', id: msg.type === 'encode' ? msg.id : -1, message: (e as Error).message } satisfies FeatureWorkerReply);
  }
});
