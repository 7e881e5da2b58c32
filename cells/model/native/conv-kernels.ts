// tfjs's 2-D convolution kernels on the wasm backend, on the tensors' bytes in the wasm heap.
//
// tfjs-backend-wasm 4.22 has Conv2D, Conv2DBackpropInput and DepthwiseConv2dNative (XNNPACK) but no
// Conv2DBackpropFilter and no depthwise gradients, so no convolutional network can train on it. Here:
// - the native versions (conv.c: im2col + cblas_sgemm for dense convolutions, direct loops for depthwise),
//   installed by kernels.ts's useNativeKernels;
// - plain-JS versions of the three missing kernels with the same contract, registered whenever wasm starts
//   (registerConvFallbacks), so training still works, slowly, when the addon is off (PROMPTSCOPE_NATIVE=off,
//   no compiler, no BLAS, wasm threads, the browser).
// Geometry (stride, dilation, SAME/VALID/explicit padding, dimRoundingMode) comes from tfjs's own
// backend_util.computeConv2DInfo, called with the attributes exactly as tfjs's cpu kernels do. NHWC only:
// the wasm backend's own Conv2D is NHWC-only too.
import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from './index.ts';

/** 0: y = conv(x, w); 1: dx from dy and w; 2: dw from x and dy. */
export type ConvMode = 0 | 1 | 2;

/** One convolution's sizes, in the order conv.c reads them. Pads are the top/left padding in pixels. */
export interface ConvGeometry {
  batch: number; inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  fH: number; fW: number; strideH: number; strideW: number; dilationH: number; dilationW: number;
  padTop: number; padLeft: number;
}

export function geometryOf(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels,
    fH: info.filterHeight, fW: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth,
    dilationH: info.dilationHeight, dilationW: info.dilationWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

/**
 * Plain-JS dense convolution with conv.c's contract: mode 0 writes y, 1 writes x (= dx, from y = dy),
 * 2 writes w (= dw). Sums run in float64 (JS numbers) and are rounded to float32 once.
 */
export function conv2dJS(mode: ConvMode, g: ConvGeometry, x: Float32Array, w: Float32Array, y: Float32Array): void {
  const { inH, inW, inC: ic, outH, outW, outC: oc, fH, fW } = g;
  const acc = new Float64Array(mode === 0 ? oc : mode === 1 ? g.batch * inH * inW * ic : fH * fW * ic * oc);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const yo = ((b * outH + oy) * outW + ox) * oc;
        if (mode === 0) acc.fill(0);
        for (let ky = 0; ky < fH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < fW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (ix < 0 || ix >= inW) continue;
            const xi = ((b * inH + iy) * inW + ix) * ic;
            for (let c = 0; c < ic; c++) {
              const wk = ((ky * fW + kx) * ic + c) * oc;
              if (mode === 0) {
                const xv = x[xi + c];
                for (let o = 0; o < oc; o++) acc[o] += xv * w[wk + o];
              } else if (mode === 1) {
                let s = 0;
                for (let o = 0; o < oc; o++) s += y[yo + o] * w[wk + o];
                acc[xi + c] += s;
              } else {
                const xv = x[xi + c];
                for (let o = 0; o < oc; o++) acc[wk + o] += xv * y[yo + o];
              }
            }
          }
        }
        if (mode === 0) y.set(acc, yo);
      }
    }
  }
  if (mode === 1) x.set(acc);
  if (mode === 2) w.set(acc);
}

/** Plain-JS depthwise convolution (filter [fH, fW, inC, m], output channel c·m + q), conv.c's contract. */
export function depthwiseConv2dJS(mode: ConvMode, g: ConvGeometry, x: Float32Array, w: Float32Array, y: Float32Array): void {
  const { inH, inW, inC: ic, outH, outW, outC: oc, fH, fW } = g;
  const m = oc / ic;
  const acc = new Float64Array(mode === 0 ? g.batch * outH * outW * oc : mode === 1 ? g.batch * inH * inW * ic : fH * fW * oc);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const yo = ((b * outH + oy) * outW + ox) * oc;
        for (let ky = 0; ky < fH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < fW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (ix < 0 || ix >= inW) continue;
            const xi = ((b * inH + iy) * inW + ix) * ic;
            const wk = (ky * fW + kx) * oc;
            for (let o = 0; o < oc; o++) {
              const c = Math.floor(o / m);
              if (mode === 0) acc[yo + o] += x[xi + c] * w[wk + o];
              else if (mode === 1) acc[xi + c] += y[yo + o] * w[wk + o];
              else acc[wk + o] += x[xi + c] * y[yo + o];
            }
          }
        }
      }
    }
  }
  (mode === 0 ? y : mode === 1 ? x : w).set(acc);
}

/** The slice of tfjs-wasm's backend these kernels use. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** Computes one convolution on the heap: tensors given as float offsets. */
type Compute = (depthwise: boolean, mode: ConvMode, g: ConvGeometry, heap: ArrayBufferLike, x: number, w: number, y: number) => void;

const count = (s: number[]) => s.reduce((p, d) => p * d, 1);

function jsCompute(depthwise: boolean, mode: ConvMode, g: ConvGeometry, heap: ArrayBufferLike, x: number, w: number, y: number): void {
  const wSize = depthwise ? g.fH * g.fW * g.outC : g.fH * g.fW * g.inC * g.outC;
  const f = depthwise ? depthwiseConv2dJS : conv2dJS;
  f(mode, g, new Float32Array(heap, x * 4, g.batch * g.inH * g.inW * g.inC), new Float32Array(heap, w * 4, wSize),
    new Float32Array(heap, y * 4, g.batch * g.outH * g.outW * g.outC));
}

/** conv.c's parameters: the geometry and offsets (19 numbers), then, for conv2d, [biasOff, activation]. */
function setParams(p: Float64Array, mode: ConvMode, g: ConvGeometry, x: number, w: number, y: number, bias = -1, activation = 0): void {
  p.set([mode, g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.fH, g.fW, g.strideH, g.strideW,
    g.dilationH, g.dilationW, g.padTop, g.padLeft, x, w, y]);
  if (p.length === 21) { p[19] = bias; p[20] = activation; }
}

function nativeCompute(native: NativeAddon): Compute {
  const dense = new Float64Array(21), depth = new Float64Array(19);
  return (depthwise, mode, g, heap, x, w, y) => {
    const p = depthwise ? depth : dense;
    setParams(p, mode, g, x, w, y);
    (depthwise ? native.depthwiseConv2d : native.conv2d)(heap as ArrayBuffer, p);
  };
}

export type ConvKernelName = 'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter' |
  'DepthwiseConv2dNative' | 'DepthwiseConv2dNativeBackpropInput' | 'DepthwiseConv2dNativeBackpropFilter';

interface ConvAttrs {
  strides: number | [number, number]; pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW'; dilations?: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number]; inputShape?: [number, number, number, number];
}

/** Which tensors each kernel reads (tfjs's input names) and what it computes. */
const kinds: Record<ConvKernelName, { depthwise: boolean; mode: ConvMode; inputs: [string, string] }> = {
  Conv2D: { depthwise: false, mode: 0, inputs: ['x', 'filter'] },
  Conv2DBackpropInput: { depthwise: false, mode: 1, inputs: ['dy', 'filter'] },
  Conv2DBackpropFilter: { depthwise: false, mode: 2, inputs: ['x', 'dy'] },
  DepthwiseConv2dNative: { depthwise: true, mode: 0, inputs: ['x', 'filter'] },
  DepthwiseConv2dNativeBackpropInput: { depthwise: true, mode: 1, inputs: ['dy', 'filter'] },
  DepthwiseConv2dNativeBackpropFilter: { depthwise: true, mode: 2, inputs: ['x', 'dy'] },
};

function convKernel(name: ConvKernelName, compute: Compute): tf.KernelFunc {
  const { depthwise, mode, inputs: [an, bn] } = kinds[name];
  return (args) => {
    const inputs = args.inputs as Record<string, tf.TensorInfo>;
    const a = inputs[an], b = inputs[bn];
    const at = args.attrs as unknown as ConvAttrs;
    const backend = args.backend as unknown as WasmBackend;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`${name} on wasm: float32 tensors only, got ${a.dtype} and ${b.dtype}`);
    if (at.dataFormat === 'NCHW') throw new Error(`${name} on wasm: NCHW is not supported; transpose the input to NHWC`);
    // Shapes of x and filter, as tfjs's cpu kernels feed computeConv2DInfo.
    const xShape = (mode === 1 ? at.inputShape! : a.shape) as [number, number, number, number];
    const filterShape = (mode === 2 ? at.filterShape! : b.shape) as [number, number, number, number];
    // tfjs's dense gradient kernels take no dilations (its conv2d gradient refuses dilated convolutions).
    const dilations = depthwise || mode === 0 ? at.dilations ?? 1 : 1;
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, at.strides, dilations, at.pad, at.dimRoundingMode, depthwise, 'channelsLast');
    const g = geometryOf(info);
    const outShape = mode === 0 ? info.outShape : mode === 1 ? xShape : filterShape;
    const out = backend.makeOutput([...outShape], 'float32');
    if (count(outShape) === 0 || count(a.shape) === 0 || count(b.shape) === 0) {
      if (count(outShape) > 0) new Float32Array(backend.wasm.HEAPU8.buffer, backend.dataIdMap.get(out.dataId).memoryOffset, count(outShape)).fill(0);
      return out;
    }
    const off = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
    // The heap is read after makeOutput: allocating may grow (and replace) it.
    const [x, w, y] = mode === 0 ? [off(a), off(b), off(out)] : mode === 1 ? [off(out), off(b), off(a)] : [off(a), off(out), off(b)];
    compute(depthwise, mode, g, backend.wasm.HEAPU8.buffer, x, w, y);
    return out;
  };
}

/** The kernels tfjs-wasm lacks; registerConvFallbacks adds them in JS, useNativeKernels natively. */
export const MISSING_CONV_KERNELS: readonly ConvKernelName[] = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'];

/**
 * tfjs-wasm's own kernels the native ones replace outright. Measured (scratch timing, one BLAS thread,
 * batch 128, the ResNet's 3×3 layers; bench/README.md): XNNPACK's Conv2DBackpropInput took 40–220 ms
 * against 9–33 ms for im2col + sgemm, while its forward Conv2D was as fast or faster (10–31 vs 14–31 ms),
 * so the forward stays XNNPACK's (see roundingAwareConv2D for the one exception).
 */
export const REPLACED_CONV_KERNELS: readonly ConvKernelName[] = ['Conv2DBackpropInput'];

/** Kernel functions made by roundingAwareConv2D, so that it never wraps itself twice. */
const wrappers = new WeakSet<tf.KernelFunc>();

/**
 * tfjs-wasm's Conv2D ignores dimRoundingMode: with a numeric pad and 'round' or 'ceil' its output has the
 * right shape but wrong values (measured against the cpu backend; test/model/conv-kernels.test.ts). Those
 * calls go to `ours`; every other call to `original`.
 */
export function roundingAwareConv2D(ours: tf.KernelFunc, original: tf.KernelFunc): tf.KernelFunc {
  const f: tf.KernelFunc = (args) => {
    const mode = (args.attrs as unknown as ConvAttrs).dimRoundingMode;
    return mode === 'round' || mode === 'ceil' ? ours(args) : original(args);
  };
  wrappers.add(f);
  return f;
}

/**
 * Registers the JS versions of the missing kernels for wasm and routes the Conv2D calls tfjs-wasm gets
 * wrong to JS (idempotent; a kernel already registered, e.g. the native one, stays).
 */
export function registerConvFallbacks(): void {
  for (const name of MISSING_CONV_KERNELS) {
    if (!tf.getKernel(name, 'wasm')) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: convKernel(name, jsCompute) });
  }
  const conv = tf.getKernel('Conv2D', 'wasm');
  if (conv && !wrappers.has(conv.kernelFunc)) {
    tf.unregisterKernel('Conv2D', 'wasm');
    tf.registerKernel({ ...conv, kernelFunc: roundingAwareConv2D(convKernel('Conv2D', jsCompute), conv.kernelFunc) });
  }
}

/**
 * The forward convolution on conv-direct.c's kernel (AVX2 + FMA, output channels a multiple of 8, no
 * dilation), with FusedConv2D's bias and ReLU in its last pass; calls with 'round'/'ceil' rounding to
 * conv.c too (im2col where the direct kernel does not apply: XNNPACK computes them wrong); every other
 * call (another activation, PReLU weights, a broadcast bias, NCHW, a CPU without AVX2) goes to
 * `original`, XNNPACK's kernel. Measured 2–3× faster than XNNPACK on the CIFAR ResNet's 3×3 layers (bench/resnet.ts).
 */
export function nativeForwardConv(native: NativeAddon, name: 'Conv2D' | 'FusedConv2D', original: tf.KernelFunc): tf.KernelFunc {
  const p = new Float64Array(21);
  return (args) => {
    const inputs = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const x = inputs.x!, filter = inputs.filter!, bias = inputs.bias;
    const at = args.attrs as unknown as ConvAttrs & { activation?: string };
    const activation = at.activation ?? 'linear';
    const outC = filter.shape[3];
    if (x.dtype !== 'float32' || filter.dtype !== 'float32' || at.dataFormat === 'NCHW' || x.shape.length !== 4 || inputs.preluActivationWeights ||
        (activation !== 'linear' && activation !== 'relu') || (bias && (bias.dtype !== 'float32' || count(bias.shape) !== outC || bias.shape.length > 1))) {
      return original(args);
    }
    const backend = args.backend as unknown as WasmBackend & { disposeData(id: object): boolean };
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode, false, 'channelsLast');
    if (count(info.outShape) === 0 || count(x.shape) === 0) return original(args);
    const out = backend.makeOutput([...info.outShape], 'float32');
    // Offsets after makeOutput: allocating may grow (and replace) the heap.
    const off = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
    // XNNPACK ignores 'round'/'ceil' rounding (roundingAwareConv2D): those calls stay here, on im2col if need be.
    const directOnly = at.dimRoundingMode !== 'round' && at.dimRoundingMode !== 'ceil';
    setParams(p, 0, geometryOf(info), off(x), off(filter), off(out), bias ? off(bias) : -1, (activation === 'relu' ? 1 : 0) + (directOnly ? 2 : 0));
    if (native.conv2d(backend.wasm.HEAPU8.buffer as ArrayBuffer, p)) return out;
    backend.disposeData(out.dataId);
    return original(args);
  };
}

/** The native kernel function of one convolution kernel. */
export function nativeConvKernel(native: NativeAddon, name: ConvKernelName): tf.KernelFunc {
  return convKernel(name, nativeCompute(native));
}

/** The JS kernel function (for tests and benchmarks that compare both in one process). */
export function jsConvKernel(name: ConvKernelName): tf.KernelFunc {
  return convKernel(name, jsCompute);
}
