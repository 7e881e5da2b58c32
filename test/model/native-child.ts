// Child process for native-kernels.test.ts: starts wasm under whatever PROMPTSCOPE_NATIVE /
// PROMPTSCOPE_BLAS the parent set (they are read once per process, so each setting needs its own
// process) and prints what it got as one JSON line.
import * as tf from '@tensorflow/tfjs';
import { initBackend, currentBackend } from '../../cells/model/backend.ts';
import { nativeStatus } from '../../cells/model/native/index.ts';

export interface ChildReport {
  backend: string;
  status: { loaded: boolean; detail: string };
  /** [[1,2],[3,4]]·[[5,6],[7,8]] flattened, and the same product with b transposed. */
  product: number[];
  productTransposed: number[];
}

await initBackend('wasm');
const a = tf.tensor2d([[1, 2], [3, 4]]);
const b = tf.tensor2d([[5, 6], [7, 8]]);
const report: ChildReport = {
  backend: currentBackend(),
  status: nativeStatus(),
  product: Array.from(tf.matMul(a, b).dataSync()),
  productTransposed: Array.from(tf.matMul(a, b, false, true).dataSync()),
};
console.log(JSON.stringify(report));
