// The CIFAR-style ResNet backbone (a frozen CNN for Pro-tuning and the baselines): config, checkpoint
// layout, forward pass with a hook before every stage, preprocessing, loading and saving.
export { parseResNetConfig, classNamesOf, resNetConfigJSON, ResNetConfigError, RESNET_MODEL_TYPE, type ResNetConfig } from './config.ts';
export { buildResNet, resNetCacheIdentity, RESNET_FORWARD_VERSION, type ResNetModel, type ResNetForwardOptions, type ResNetOutput, type ResNetRawTensor } from './model.ts';
export { resNetTensorSpecs, blockPlan, ResNetWeightError, type ResNetTensorSpec, type BlockPlan } from './weights.ts';
export { preprocessResNet, normalizePixels } from './preprocess.ts';
export { saveResNet, resNetSafetensors, DEFAULT_RESNET } from './load.ts';
export { randomResNetWeights } from './random-init.ts';
