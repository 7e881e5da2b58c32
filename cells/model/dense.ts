// Per-token / per-location features in CLIP's joint space, for methods that score local evidence (TaI-DPT):
//
// - text: every position of a caption through the text tower, the final LayerNorm and text_projection
//   (the same maps the EOT token's pooled feature goes through), [B, T, P]; the EOT row is the usual
//   text embedding.
// - image (ViT): every patch token of the last encoder layer through post_layernorm and visual_projection
//   (the maps the CLS token goes through), [B, N, P] with N = (S / patch)²; the global row is the usual
//   image embedding (CLS). This is the ViT reading of TaI-DPT's dense features (the paper uses ResNet's
//   attention-pool value/out projections on the feature map; a ViT has no such map, and the patch tokens
//   through the CLS token's own head put them in the space the text features live in). No weights change.
import * as tf from '@tensorflow/tfjs';
import type { CLIPModel } from './clip.ts';
import { layerNorm, linear } from './ops/index.ts';

export interface DenseText {
  /** [B, T, P] projected final-LN features per position (T = longest EOT + 1). */
  tokens: tf.Tensor3D;
  /** [B, P] the EOT rows (= encodeText's features). */
  global: tf.Tensor2D;
}

/** Token features of tokenised texts (ids [n, contextLength] as the tokenizer returns them). */
export function denseTextFeatures(model: CLIPModel, ids: Int32Array, n: number, contextLength: number, eotIndex: Int32Array): DenseText {
  return tf.tidy(() => {
    const out = model.textForward({ ids, n, contextLength, eotIndex }, { hidden: true });
    const tokens = linear(out.lastHidden!, model.v<tf.Tensor2D>('text_projection.weight')) as tf.Tensor3D;
    return { tokens, global: out.embeds };
  });
}

export interface DenseImage {
  /** [B, N, P] projected post-LN patch tokens, row-major over the patch grid. */
  patches: tf.Tensor3D;
  /** [B, P] the image embedding (CLS). */
  global: tf.Tensor2D;
}

/** Patch features of CLIP-preprocessed pixels [B, 3, S, S]. */
export function denseImageFeatures(model: CLIPModel, pixels: tf.Tensor4D): DenseImage {
  return tf.tidy(() => {
    const vc = model.config.vision;
    const out = model.visionForward(pixels, { hidden: true });
    const h = out.lastHidden!;
    const [B, T, D] = h.shape;
    const patches = h.slice([0, 1, 0], [B, T - 1, D]);
    const ln = layerNorm(patches, model.v<tf.Tensor1D>('vision_model.post_layernorm.weight'), model.v<tf.Tensor1D>('vision_model.post_layernorm.bias'), vc.layerNormEps);
    return { patches: linear(ln, model.v<tf.Tensor2D>('visual_projection.weight')) as tf.Tensor3D, global: out.embeds };
  });
}
