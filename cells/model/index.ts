// cells/model's public surface: what the rest of Promptscope (prompts, studies, the cell library, the
// command line, tests and benchmarks) calls. One loader, one backbone view, and the typed calls on them:
//
//   const model = await load('mini-clip', { backend: 'auto' });   // bundled name, pulled repo id, folder, or {config, weights}
//   model.encodeImage(pixels, { normalize: true }); model.encodeText(['a photo of a cat.'])
//   const backbone = await backboneOf(model);                     // the frozen view prompt learners train against
//   const features = await extractFeatures(model, dataset);       // cached stage
//   const result = await zeroShot(model, features);
//
// Files behind it (weight-spec, clip, build, hf-export, random-init, …) are internal to this folder; the
// compute layer keeps its own entries (ops/index.ts, native/index.ts) for code that runs blocks directly.
export { load, resolveModel, DEFAULT_MODEL, type LoadOptions, type InMemoryCheckpoint, type ResolvedModel } from './load.ts';
export {
  CLIPModel, type TokenIds, type TokenEmbeds, type TextForwardOptions, type TextOutput, type VisionPrompts,
  type VisionForwardOptions, type VisionOutput,
} from './clip.ts';
export { CLIPWeightError, type RawTensor, type WeightSource } from './weight-spec.ts';
export { randomCLIPWeights } from './random-init.ts';
export { parseCLIPConfig, toHFConfig, VIT_B_16, CLIPConfigError, type CLIPConfig } from './config.ts';
export { backboneOf, cnnBackbone, isCNNBackbone, type PromptBackbone, type VisualPrompts, type ModelLike, type CNNBackbone, type ImageSite } from './backbone.ts';
export { denseTextFeatures, denseImageFeatures, type DenseText, type DenseImage } from './dense.ts';
export { extractFeatures, featureTensor, type FeatureOptions, type ImageFeatures } from './features.ts';
export {
  zeroShot, textClassifier, templateFor, scorePredictions, PHOTO_ENSEMBLE, DATASET_TEMPLATES,
  type ZeroShotOptions, type ZeroShotResult, type ClassAccuracy,
} from './zeroshot.ts';
export { defaultTokenizer, CLIPTokenizer, type TokenizedBatch } from './tokenizer.ts';
export { initBackend, currentBackend, type BackendName, type BackendPreference } from './backend.ts';
export { verifyModel, formatVerify, type VerifyOptions, type VerifyResult } from './verify.ts';
export { pullModel, listModels, defaultModelStore, bundledModelsDir, HF_ENDPOINT, type PullOptions, type StoredModel } from './hub.ts';
export { isModelPath } from './resolve.ts';
export { pretrainMiniClip, type PretrainMiniClipOptions, type PretrainMiniClipResult } from './pretrain/index.ts';
export { pretrainResNet, type PretrainResNetOptions, type PretrainResNetResult } from './pretrain/resnet.ts';
export {
  saveResNet, preprocessResNet, normalizePixels, parseResNetConfig, buildResNet, randomResNetWeights, DEFAULT_RESNET,
  ResNetConfigError, ResNetWeightError, type ResNetConfig, type ResNetModel, type ResNetForwardOptions, type ResNetOutput,
} from './resnet/index.ts';
