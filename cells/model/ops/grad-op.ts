// The one custom-gradient entry point the fast ops and the kernel chains build on, and the test for
// Promptscope's native kernels on the active backend.
import * as tf from '@tensorflow/tfjs';
import { HEAD_MATMUL } from './accelerated.ts';

type T = tf.Tensor;

interface KernelFuncParams {
  forwardFunc: (backend: unknown, save: (tensors: T[]) => void) => T;
  backwardsFunc: (dy: T, saved: T[]) => Record<string, () => T>;
  inputs: Record<string, T>;
}

/**
 * A differentiable op with a hand-written gradient, like tf.customGrad, except that each input's gradient
 * is a thunk: tfjs's backprop only calls the thunks of inputs that lead to the variables being trained.
 * So a frozen weight's gradient (e.g. a CLIP tower under prompt tuning) is never computed — tf.customGrad
 * would compute all of them. Built on the engine's own custom-gradient entry point (runKernelFunc,
 * private in the typings): `save` keeps clones of what the backward pass needs, only while a tape records.
 * Variables (weights) are kept by reference instead: they outlive the step and the forward pass does not
 * change them, and the engine's clone per weight per op is a measurable share of a small prompt step.
 */
export function gradOp(
  inputs: T[],
  forward: (save: (tensors: T[]) => void) => T,
  backward: (dy: T, saved: T[]) => Array<() => T>,
): T {
  const engine = tf.engine() as unknown as { runKernelFunc(p: KernelFuncParams): T };
  let byRef: Array<T | undefined> = [];
  return engine.runKernelFunc({
    forwardFunc: (_backend, save) => forward((tensors) => {
      byRef = tensors.map((t) => (t instanceof tf.Variable ? t : undefined));
      save(tensors.filter((t) => !(t instanceof tf.Variable)));
    }),
    backwardsFunc: (dy, saved) => {
      let next = 0;
      const all = byRef.map((v) => v ?? saved[next++]);
      return Object.fromEntries(backward(dy, all).map((g, i) => [String(i), g]));
    },
    inputs: Object.fromEntries(inputs.map((t, i) => [String(i), t])),
  });
}

/**
 * True where Promptscope's native kernels are registered for the active backend (wasm in Node with a
 * BLAS library, cells/model/native): there transpose flags are free and fused kernels exist.
 */
export function native(): boolean {
  return tf.getKernel(HEAD_MATMUL, tf.getBackend()) != null;
}
