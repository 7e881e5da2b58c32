// Small ops as single tape nodes: L2 normalisation and softmax cross-entropy (the prompt learners' head),
// attention's masked softmax and the insertion of visual prompts after the class token, each a fixed chain of the backend's own kernels called directly, forward and backward, instead of one engine op
// per kernel (~30 ops each with their gradients, at batch 8 mostly engine bookkeeping: ~15 µs an op
// against ~3 µs for the kernel). The chains run exactly the kernels tfjs's autograd runs for plain.ts's
// formulation — the same kernels, attributes and operand order, gradients as tfjs's gradient functions
// write them (RealDiv, Maximum, Sqrt, Sum, Square, Mean, Neg, Multiply, Add, Softmax, Slice, Concat,
// Reshape, logSoftmax's custom gradient and fast.ts's repeatBatch) — so values and gradients are the same bytes (test/ops/chains.test.ts;
// bench/step-ops.ts hashes). Used where Promptscope's native kernels are registered (wasm in Node), with
// `chainTuning.on`.
import * as tf from '@tensorflow/tfjs';
import * as plain from './plain.ts';
import { gradOp, native } from './grad-op.ts';
import { COLUMN_SUMS } from './accelerated.ts';

type T = tf.Tensor;
type Info = tf.TensorInfo;

/**
 * Backend kernels called without the engine: each output is owned here until `keep` hands it to the
 * engine as a tensor; `dispose` frees the rest. Inputs may be engine tensors (read, never freed).
 */
class Chain {
  private readonly backend = tf.backend();
  private readonly backendName = tf.getBackend();
  private readonly owned: Info[] = [];

  run(kernel: string, inputs: Record<string, Info>, attrs: Record<string, unknown> = {}): Info {
    const k = tf.getKernel(kernel, this.backendName);
    if (!k) throw new Error(`chains: ${this.backendName} has no ${kernel} kernel`);
    const out = k.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap }) as Info;
    this.owned.push(out);
    return out;
  }

  /** A kernel with several outputs (SplitV). */
  runMany(kernel: string, inputs: Record<string, Info>, attrs: Record<string, unknown> = {}): Info[] {
    const k = tf.getKernel(kernel, this.backendName);
    if (!k) throw new Error(`chains: ${this.backendName} has no ${kernel} kernel`);
    const outs = k.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap }) as Info[];
    this.owned.push(...outs);
    return outs;
  }

  /** A float32 tensor of `shape` filled with `value` (what tfjs's ones() and number operands upload). */
  fill(shape: number[], value: number): Info {
    return this.run('Fill', {}, { shape, value, dtype: 'float32' });
  }

  /** Hands an output to the engine as a tensor (its reference moves with it). */
  keep<R extends T>(info: Info): R {
    const i = this.owned.indexOf(info);
    if (i < 0) throw new Error('chains: keep() of an output this chain does not own');
    this.owned.splice(i, 1);
    const engine = tf.engine() as unknown as { makeTensorFromTensorInfo(info: Info, backend?: unknown): R };
    return engine.makeTensorFromTensorInfo(info, this.backend);
  }

  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.length = 0;
  }
}

/** Runs `body` on a fresh chain, freeing every output it did not keep, also when it throws. */
function chained<R>(body: (c: Chain) => R): R {
  const c = new Chain();
  try {
    return body(c);
  } finally {
    c.dispose();
  }
}

/** Off: every op here takes plain tfjs ops (bench/step-ops.ts compares). */
export const chainTuning = { on: true };

function useChains(): boolean {
  return chainTuning.on && native();
}

/** x / max(‖x‖₂, 1e-12) along the last axis of a 2-D x; plain.ts's l2Normalize elsewhere. */
export function l2Normalize(x: T, axis = -1): T {
  if (!useChains() || x.rank !== 2 || (axis !== -1 && axis !== 1) || x.dtype !== 'float32') return plain.l2Normalize(x, axis);
  const [n, d] = x.shape;
  return gradOp([x], (save) => chained((c) => {
    const s = c.run('Sum', { x: c.run('Square', { x }) }, { axis: -1, keepDims: true });
    const r = c.run('Sqrt', { x: s });
    const m = c.run('Maximum', { a: r, b: c.fill([], 1e-12) });
    const y = c.keep(c.run('RealDiv', { a: x, b: m }));
    const saved = [c.keep(s), c.keep(r), c.keep(m)];
    save([x, ...saved]);
    tf.dispose(saved); // the tape holds its own references
    return y;
  }), (dy, [sx, s, r, m]) => [() => chained((c) => {
    const f32 = (t: Info) => c.run('Cast', { x: t }, { dtype: 'float32' });
    // RealDiv(x, m): the gradient for x, then for m.
    const fromDiv = c.run('RealDiv', { a: dy, b: f32(m) });
    const dmSum = c.run('Sum', { x: c.run('Multiply', { a: dy, b: f32(sx) }) }, { axis: [1], keepDims: false });
    const dm = c.run('Neg', { x: c.run('RealDiv', { a: c.run('Reshape', { x: dmSum }, { shape: [n, 1] }), b: f32(c.run('Square', { x: m })) }) });
    // Maximum(r, 1e-12): dy where r ≥ 1e-12.
    const dr = c.run('Multiply', { a: dm, b: f32(c.run('GreaterEqual', { a: r, b: c.fill([], 1e-12) })) });
    // Sqrt(s): dy / (2·sqrt(s)).
    const ds = c.run('RealDiv', { a: dr, b: c.run('Multiply', { a: c.run('Sqrt', { x: f32(s) }), b: c.fill([], 2) }) });
    // Sum(x², last axis, keepDims): dy broadcast over the row (times ones).
    const dsq = c.run('Multiply', { a: c.run('Reshape', { x: ds }, { shape: [n, 1] }), b: c.fill([n, d], 1) });
    // Square(x): dy · 2x; x's two gradients summed as tfjs's backprop accumulates them.
    const fromSquare = c.run('Multiply', { a: dsq, b: c.run('Multiply', { a: f32(sx), b: c.fill([], 2) }) });
    return c.keep(c.run('Add', { a: fromDiv, b: fromSquare }));
  })]);
}

/** Mean softmax cross-entropy of logits [B, C] against int labels [B]; plain.ts's elsewhere (or for one-hot / soft labels). */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D | tf.Tensor2D): tf.Scalar {
  if (!useChains() || labels.rank !== 1 || logits.rank !== 2 || logits.dtype !== 'float32' || labels.dtype !== 'int32') return plain.softmaxCrossEntropy(logits, labels);
  const [b, classes] = logits.shape;
  return gradOp([logits], (save) => chained((c) => {
    const ids = c.run('Cast', { x: labels }, { dtype: 'int32' });
    const targets = c.run('Cast', { x: c.run('OneHot', { indices: ids }, { dtype: 'int32', depth: classes, onValue: 1, offValue: 0 }) }, { dtype: 'float32' });
    // logSoftmax: shifted − log Σ exp(shifted), shifted = logits − max.
    const shifted = c.run('Sub', { a: logits, b: c.run('Max', { x: logits }, { reductionIndices: 1, keepDims: true }) });
    const logSum = c.run('Log', { x: c.run('Sum', { x: c.run('Exp', { x: shifted }) }, { axis: 1, keepDims: true }) });
    const value = c.run('Sub', { a: c.run('Cast', { x: shifted }, { dtype: 'float32' }), b: logSum });
    const perRow = c.run('Sum', { x: c.run('Multiply', { a: value, b: targets }) }, { axis: -1, keepDims: false });
    const loss = c.keep<tf.Scalar>(c.run('Neg', { x: c.run('Mean', { x: perRow }, { axis: null, keepDims: false }) }));
    const saved = [c.keep(value), c.keep(targets)];
    save(saved);
    tf.dispose(saved);
    return loss;
  }), (dy, [value, targets]) => [() => chained((c) => {
    // Neg, then Mean over B (dy·ones / B), then Sum over the last axis (broadcast back over C).
    const dMean = c.run('Neg', { x: dy });
    const dRow = c.run('RealDiv', { a: c.run('Multiply', { a: c.run('Reshape', { x: dMean }, { shape: [1] }), b: c.fill([b], 1) }), b: c.fill([], b) });
    const dProd = c.run('Multiply', { a: c.run('Reshape', { x: dRow }, { shape: [b, 1] }), b: c.fill([b, classes], 1) });
    // Multiply(value, targets): the gradient for value.
    const dValue = c.run('Multiply', { a: dProd, b: c.run('Cast', { x: targets }, { dtype: 'float32' }) });
    // logSoftmax's gradient: dy − Σdy · exp(value).
    const softmax = c.run('Exp', { x: value });
    const total = c.run('Sum', { x: dValue }, { axis: 1, keepDims: true });
    return c.keep(c.run('Sub', { a: dValue, b: c.run('Multiply', { a: total, b: softmax }) }));
  })]) as tf.Scalar;
}

/**
 * softmax(scores + mask) over the last axis of scores [B, H, T, S], mask 'causal' (plain.ts's causalMask,
 * [T, S] broadcast) or none; null where the chain does not apply (the caller takes tfjs's ops). The
 * gradient is tfjs's Softmax gradient, then the Add's for the scores (a reshape of dy).
 */
export function maskedSoftmax(scores: T, mask: 'causal' | undefined): T | null {
  if (!useChains() || scores.rank !== 4 || scores.dtype !== 'float32') return null;
  const dim = 3;
  return gradOp([scores], (save) => {
    const maskTensor = mask ? plain.causalMask(scores.shape[2]!) : undefined;
    try {
      return chained((c) => {
        const logits = maskTensor ? c.run('Add', { a: scores, b: maskTensor }) : scores;
        const probs = c.keep(c.run('Softmax', { logits }, { dim }));
        save([probs]);
        return probs;
      });
    } finally {
      maskTensor?.dispose();
    }
  }, (dy, [y]) => [() => chained((c) => {
    const dyTimesY = c.run('Multiply', { a: dy, b: y });
    const grad = c.run('Sub', { a: dyTimesY, b: c.run('Multiply', { a: c.run('Sum', { x: dyTimesY }, { axis: [dim], keepDims: true }), b: y }) });
    return c.keep(mask ? c.run('Reshape', { x: grad }, { shape: scores.shape }) : grad);
  })]);
}

/**
 * [CLS] + prompts + x[:, 1 + replace:] for x [B, T, D] and prompts [P, D] shared by the batch (VPT's and
 * UPT's visual prompts after the class token: replace = 0 inserts, replace = P replaces the previous
 * layer's), or null where the chain does not apply. Runs what clip.ts's reshape → repeatBatch → slice,
 * slice → concat ran, with their gradients: concat's split, each slice's zero padding (summed as tfjs's
 * backprop sums them), and the repeat's column sums.
 */
export function insertPrompts(x: T, prompts: T, replace: number): T | null {
  if (!useChains() || x.rank !== 3 || prompts.rank !== 2 || x.dtype !== 'float32' || prompts.dtype !== 'float32') return null;
  const [b, t, d] = x.shape as [number, number, number];
  const p = prompts.shape[0];
  if (prompts.shape[1] !== d || replace < 0 || 1 + replace > t) return null;
  const rest = t - 1 - replace;
  return gradOp([x, prompts], (save) => chained((c) => {
    const tiled = c.run('Tile', { x: c.run('Reshape', { x: prompts }, { shape: [1, p, d] }) }, { reps: [b, 1, 1] });
    const cls = c.run('Slice', { x }, { begin: [0, 0, 0], size: [b, 1, d] });
    const tail = c.run('Slice', { x }, { begin: [0, 1 + replace, 0], size: [b, rest, d] });
    const out = c.keep(c.run('Concat', [cls, tiled, tail] as unknown as Record<string, Info>, { axis: 1 }));
    save([]);
    return out;
  }), (dy) => {
    // Concat's gradient: dy split back into [CLS], prompts and the rest (run by whichever thunk needs it).
    const pieces = (c: Chain) => c.runMany('SplitV', { x: dy }, { numOrSizeSplits: [1, p, rest], axis: 1 });
    return [
      () => chained((c) => {
        const [fromCls0, , fromTail0] = pieces(c);
        const fromTail = c.run('PadV2', { x: fromTail0 }, { paddings: [[0, 0], [1 + replace, 0], [0, 0]], constantValue: 0 });
        const fromCls = c.run('PadV2', { x: fromCls0 }, { paddings: [[0, 0], [0, t - 1], [0, 0]], constantValue: 0 });
        return c.keep(c.run('Add', { a: fromTail, b: fromCls }));
      }),
      () => chained((c) => {
        const sums = c.run(COLUMN_SUMS, { x: c.run('Reshape', { x: pieces(c)[1] }, { shape: [b, -1] }) });
        return c.keep(c.run('Reshape', { x: c.run('Reshape', { x: sums }, { shape: [1, p, d] }) }, { shape: [p, d] }));
      }),
    ];
  });
}
