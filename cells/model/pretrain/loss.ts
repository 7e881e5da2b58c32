// Symmetric InfoNCE with class-aware soft targets. In a batch drawn from 20 classes most captions have
// several same-class partners; one-hot targets would push an image away from a correct caption of its
// own class. So the target row of image i spreads evenly over every caption of i's class (and likewise
// for each caption over the images), which is what the PyTorch probe of the issue used.
import * as tf from '@tensorflow/tfjs';

/** Row-normalised same-class matrix [n, n]: T[i, j] = [c_i = c_j] / #{j : c_j = c_i}. */
export function softTargets(classes: ArrayLike<number>): Float32Array {
  const n = classes.length;
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let j = 0; j < n; j++) if (classes[j] === classes[i]) k++;
    for (let j = 0; j < n; j++) if (classes[j] === classes[i]) t[i * n + j] = 1 / k;
  }
  return t;
}

/**
 * Mean of the image→text and text→image soft cross-entropies. `img` and `txt` are L2-normalised [n, P];
 * `logitScale` is the log temperature (a scalar variable); `targets` from softTargets.
 */
export function contrastiveLoss(img: tf.Tensor2D, txt: tf.Tensor2D, logitScale: tf.Tensor, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = img.shape[0];
    // explicit transpose + plain 2-D product: the fast kernel on wasm
    const logits = tf.matMul(img, txt.transpose()).mul(logitScale.exp());
    // the same-class relation is symmetric, so one target matrix serves both directions
    const i2t = tf.logSoftmax(logits, 1).mul(targets).sum().neg();
    const t2i = tf.logSoftmax(logits.transpose(), 1).mul(targets).sum().neg();
    return i2t.add(t2i).div(2 * n) as tf.Scalar;
  });
}
