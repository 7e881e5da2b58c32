// The convolution kernels of the wasm backend (cells/model/native/conv-kernels.ts, conv.c): every kernel —
// native and plain JS — against a float64 reference written here from the definition (zero-pad the image,
// then correlate), and against tfjs's cpu backend, for odd sizes, strides, dilations and every padding form
// tfjs accepts; a conv net's gradient on wasm equals cpu's; with PROMPTSCOPE_NATIVE=off conv training still
// runs on wasm (the JS kernels are registered).
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { initBackend } from '../../cells/model/backend.ts';
import { nativeAddon } from '../../cells/model/native/index.ts';
import { jsConvKernel, nativeConvKernel, type ConvKernelName } from '../../cells/model/native/conv-kernels.ts';
import { lcgValues, sizeOf } from '../support/lcg-values.ts';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string; x: [number, number, number, number]; filter: [number, number, number, number];
  strides: [number, number]; pad: Pad; dilations: [number, number]; depthwise: boolean;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const cases: Case[] = [
  { name: '3×3 same stride 1', x: [2, 5, 6, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same', dilations: [1, 1], depthwise: false },
  { name: '3×3 same stride 2, odd size', x: [3, 7, 5, 2], filter: [3, 3, 2, 5], strides: [2, 2], pad: 'same', dilations: [1, 1], depthwise: false },
  { name: '2×3 valid strides 2,1', x: [1, 6, 7, 3], filter: [2, 3, 3, 2], strides: [2, 1], pad: 'valid', dilations: [1, 1], depthwise: false },
  { name: 'explicit uneven pad', x: [2, 5, 4, 2], filter: [3, 2, 2, 3], strides: [1, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]], dilations: [1, 1], depthwise: false },
  { name: 'numeric pad 1, rounding ceil', x: [1, 6, 6, 2], filter: [3, 3, 2, 2], strides: [2, 2], pad: 1, dilations: [1, 1], depthwise: false, dimRoundingMode: 'ceil' },
  { name: '1×1 stride 1 (no patch copy)', x: [2, 4, 3, 5], filter: [1, 1, 5, 3], strides: [1, 1], pad: 'valid', dilations: [1, 1], depthwise: false },
  { name: '1×1 stride 2 (shortcut)', x: [2, 5, 5, 3], filter: [1, 1, 3, 4], strides: [2, 2], pad: 'valid', dilations: [1, 1], depthwise: false },
  // Output channels a multiple of 8: the forward (and, at stride 1 with input channels a multiple of 8, the
  // input gradient) take conv-direct.c's AVX2 kernel where the CPU has it. Row widths that are not a
  // multiple of its 6-pixel tiles, 8- and 16-channel blocks, C = 3 input, stride 2, uneven padding.
  { name: 'direct: 3×3 same, 3 → 16 channels, width 9', x: [2, 7, 9, 3], filter: [3, 3, 3, 16], strides: [1, 1], pad: 'same', dilations: [1, 1], depthwise: false },
  { name: 'direct: 3×3 pad 1, 8 → 24 channels, width 13', x: [2, 6, 13, 8], filter: [3, 3, 8, 24], strides: [1, 1], pad: [[0, 0], [1, 1], [1, 1], [0, 0]], dilations: [1, 1], depthwise: false },
  { name: 'direct: 3×3 pad 1 stride 2, odd size, 16 → 8', x: [2, 9, 7, 16], filter: [3, 3, 16, 8], strides: [2, 2], pad: [[0, 0], [1, 1], [1, 1], [0, 0]], dilations: [1, 1], depthwise: false },
  { name: 'direct: 3×3 same stride 2, even size, 8 → 16', x: [2, 8, 8, 8], filter: [3, 3, 8, 16], strides: [2, 2], pad: 'same', dilations: [1, 1], depthwise: false },
  { name: 'direct: 1×1 stride 2, 8 → 16', x: [1, 5, 5, 8], filter: [1, 1, 8, 16], strides: [2, 2], pad: 'valid', dilations: [1, 1], depthwise: false },
  { name: 'direct: 2×3 uneven pad, 8 → 8', x: [1, 5, 6, 8], filter: [2, 3, 8, 8], strides: [1, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]], dilations: [1, 1], depthwise: false },
  { name: 'direct: 3×3 valid, 16 → 32, width 20', x: [1, 5, 20, 16], filter: [3, 3, 16, 32], strides: [1, 1], pad: 'valid', dilations: [1, 1], depthwise: false },
  // 8M multiply-adds: enough for conv-direct.c to split the batch over threads where setThreads allows two.
  { name: 'direct: 3×3 same, 32 → 32, batch 6 (images in parallel)', x: [6, 12, 12, 32], filter: [3, 3, 32, 32], strides: [1, 1], pad: 'same', dilations: [1, 1], depthwise: false },
  { name: 'depthwise 3×3 same', x: [2, 5, 6, 4], filter: [3, 3, 4, 1], strides: [1, 1], pad: 'same', dilations: [1, 1], depthwise: true },
  { name: 'depthwise multiplier 2 stride 2', x: [2, 7, 5, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: 'same', dilations: [1, 1], depthwise: true },
  { name: 'depthwise dilation 2 valid', x: [1, 8, 7, 2], filter: [3, 2, 2, 3], strides: [1, 1], pad: 'valid', dilations: [2, 2], depthwise: true },
  { name: 'depthwise explicit pad', x: [2, 4, 5, 3], filter: [2, 3, 3, 1], strides: [1, 1], pad: [[0, 0], [0, 1], [2, 1], [0, 0]], dilations: [1, 1], depthwise: true },
];

const outShapeOf = (c: Case) => {
  const { oh, ow } = geometry(c);
  return [c.x[0], oh, ow, c.depthwise ? c.x[3] * c.filter[3] : c.filter[3]];
};

/** Output size and top/left pad by TensorFlow's documented rules (not tfjs's code). */
function geometry(c: Case): { oh: number; ow: number; pt: number; pl: number } {
  const [, h, w] = c.x, [fh, fw] = c.filter, [sh, sw] = c.strides, [dh, dw] = c.dilations;
  const eh = (fh - 1) * dh + 1, ew = (fw - 1) * dw + 1;
  if (c.pad === 'same') {
    const oh = Math.ceil(h / sh), ow = Math.ceil(w / sw);
    const ph = Math.max(0, (oh - 1) * sh + eh - h), pw = Math.max(0, (ow - 1) * sw + ew - w);
    return { oh, ow, pt: Math.floor(ph / 2), pl: Math.floor(pw / 2) };
  }
  if (c.pad === 'valid') return { oh: Math.ceil((h - eh + 1) / sh), ow: Math.ceil((w - ew + 1) / sw), pt: 0, pl: 0 };
  if (typeof c.pad === 'number') {
    const round = Math[c.dimRoundingMode ?? 'floor'];
    return { oh: round((h - eh + 2 * c.pad) / sh + 1), ow: round((w - ew + 2 * c.pad) / sw + 1), pt: c.pad, pl: c.pad };
  }
  const [, [t, b], [l, r]] = c.pad;
  return { oh: Math.floor((h + t + b - eh) / sh) + 1, ow: Math.floor((w + l + r - ew) / sw) + 1, pt: t, pl: l };
}

/**
 * float64 reference: the image copied into a zero border wide enough for every tap, then
 * y[b,oy,ox,o] = Σ xp[b, oy·sh + ky·dh, ox·sw + kx·dw, c]·w[ky,kx,c,·]; dx and dw by the same sum read the
 * other way (each output's dy spread back over its taps), then cropped out of the padded image.
 */
function reference(c: Case, x: Float32Array, w: Float32Array, dy: Float32Array): { y: Float64Array; dx: Float64Array; dw: Float64Array; outShape: number[] } {
  const [B, H, W, C] = c.x, [fh, fw, , q] = c.filter, [sh, sw] = c.strides, [dh, dwl] = c.dilations;
  const { oh, ow, pt, pl } = geometry(c);
  const O = c.depthwise ? C * q : q;
  const PH = Math.max(H + pt, (oh - 1) * sh + (fh - 1) * dh + 1) + 1, PW = Math.max(W + pl, (ow - 1) * sw + (fw - 1) * dwl + 1) + 1;
  const xp = new Float64Array(B * PH * PW * C);
  for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let ch = 0; ch < C; ch++) {
    xp[((b * PH + i + pt) * PW + j + pl) * C + ch] = x[((b * H + i) * W + j) * C + ch];
  }
  const y = new Float64Array(B * oh * ow * O), dxp = new Float64Array(xp.length), dw = new Float64Array(w.length);
  const tap = (ch: number, o: number) => (c.depthwise ? ch === Math.floor(o / q) : true);
  const wIndex = (ky: number, kx: number, ch: number, o: number) => c.depthwise ? ((ky * fw + kx) * C + ch) * q + (o % q) : ((ky * fw + kx) * C + ch) * q + o;
  for (let b = 0; b < B; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let o = 0; o < O; o++) {
    const yi = ((b * oh + oy) * ow + ox) * O + o;
    for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) for (let ch = 0; ch < C; ch++) {
      if (!tap(ch, o)) continue;
      const xi = ((b * PH + oy * sh + ky * dh) * PW + ox * sw + kx * dwl) * C + ch, wi = wIndex(ky, kx, ch, o);
      y[yi] += xp[xi] * w[wi];
      dxp[xi] += dy[yi] * w[wi];
      dw[wi] += xp[xi] * dy[yi];
    }
  }
  const dx = new Float64Array(x.length);
  for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let ch = 0; ch < C; ch++) {
    dx[((b * H + i) * W + j) * C + ch] = dxp[((b * PH + i + pt) * PW + j + pl) * C + ch];
  }
  return { y, dx, dw, outShape: [B, oh, ow, O] };
}

/** max |got − want| / max |want|. */
function err(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'element counts differ');
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]), `non-finite value at ${i}`);
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

function attrs(c: Case, extra: Record<string, unknown>): tf.NamedAttrMap {
  return { strides: c.strides, pad: c.pad, dilations: c.dilations, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode, ...extra } as unknown as tf.NamedAttrMap;
}

/** Runs the three kernels of a case on the active backend. */
function runCase(c: Case, x: Float32Array, w: Float32Array, dy: Float32Array, outShape: number[]): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x), wt = tf.tensor4d(w, c.filter), dyt = tf.tensor(dy, outShape);
    const names = c.depthwise
      ? ['DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']
      : ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];
    const y = tf.engine().runKernel(names[0], { x: xt, filter: wt }, attrs(c, {})) as tf.Tensor;
    const dx = tf.engine().runKernel(names[1], { dy: dyt, filter: wt }, attrs(c, { inputShape: c.x })) as tf.Tensor;
    const dw = tf.engine().runKernel(names[2], { x: xt, dy: dyt }, attrs(c, { filterShape: c.filter })) as tf.Tensor;
    assert.deepEqual(y.shape, outShape, `${c.name}: output shape`);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** Runs `body` with the wasm kernels `names` swapped for `make(name)`, then puts the registered ones back. */
function withKernels(names: ConvKernelName[], make: (n: ConvKernelName) => tf.KernelFunc, body: () => void): void {
  const saved = names.map((n) => tf.getKernel(n, 'wasm'));
  try {
    for (const n of names) {
      if (tf.getKernel(n, 'wasm')) tf.unregisterKernel(n, 'wasm');
      tf.registerKernel({ kernelName: n, backendName: 'wasm', kernelFunc: make(n) });
    }
    body();
  } finally {
    names.forEach((n, i) => {
      tf.unregisterKernel(n, 'wasm');
      if (saved[i]) tf.registerKernel(saved[i]!);
    });
  }
}

const ALL: ConvKernelName[] = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'];
const TOL = 2e-6;

before(async () => {
  await initBackend('wasm');
});

function checkAll(label: string): void {
  cases.forEach((c, i) => {
    const x = lcgValues(sizeOf(c.x), 11 + i), w = lcgValues(sizeOf(c.filter), 101 + i);
    const dy = lcgValues(sizeOf(outShapeOf(c)), 1001 + i);
    const ref = reference(c, x, w, dy);
    const got = runCase(c, x, w, dy, ref.outShape);
    assert.ok(err(got.y, ref.y) < TOL, `${label} ${c.name}: forward error ${err(got.y, ref.y)}`);
    assert.ok(err(got.dx, ref.dx) < TOL, `${label} ${c.name}: input gradient error ${err(got.dx, ref.dx)}`);
    assert.ok(err(got.dw, ref.dw) < TOL, `${label} ${c.name}: filter gradient error ${err(got.dw, ref.dw)}`);
  });
}

test('native conv kernels on wasm match the float64 reference', () => {
  const native = nativeAddon();
  assert.ok(native, 'the native addon does not load here (run `npm run build:native`)');
  withKernels(ALL, (n) => nativeConvKernel(native, n), () => checkAll('native'));
});

test('plain-JS conv kernels on wasm match the float64 reference', () => {
  withKernels(ALL, jsConvKernel, () => checkAll('js'));
});

test('the registered wasm kernels (forward: the direct kernel or XNNPACK; ours for the rest) match the float64 reference', () => {
  checkAll('registered');
});

test("wasm's conv kernels agree with tfjs's cpu backend", async () => {
  const results: Record<string, Array<{ y: Float32Array; dx: Float32Array; dw: Float32Array }>> = {};
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    results[backend] = cases.map((c, i) => {
      const x = lcgValues(sizeOf(c.x), 11 + i), w = lcgValues(sizeOf(c.filter), 101 + i);
      const outShape = outShapeOf(c);
      return runCase(c, x, w, lcgValues(sizeOf(outShape), 1001 + i), outShape);
    });
  }
  await tf.setBackend('wasm');
  cases.forEach((c, i) => {
    for (const k of ['y', 'dx', 'dw'] as const) {
      // tfjs's cpu depthwise gradient kernels read their taps without the dilation (tfjs 4.22: both differ
      // from the float64 reference), so for a dilated depthwise case the reference above is the only judge.
      if (k !== 'y' && c.depthwise && c.dilations.some((d) => d > 1)) continue;
      const e = err(results.wasm[i][k], results.cpu[i][k]);
      assert.ok(e < TOL, `${c.name}: ${k} differs from cpu by ${e}`);
    }
  });
});

test('a conv net’s gradients (tf.grads through conv2d, depthwiseConv2d) on wasm equal cpu’s', async () => {
  const grads = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.tensor4d(lcgValues(2 * 9 * 9 * 3, 5), [2, 9, 9, 3]);
      const w1 = tf.tensor4d(lcgValues(3 * 3 * 3 * 6, 6), [3, 3, 3, 6]);
      const wd = tf.tensor4d(lcgValues(3 * 3 * 6 * 1, 7), [3, 3, 6, 1]);
      const w2 = tf.tensor4d(lcgValues(6 * 4, 8), [1, 1, 6, 4]);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
        const h = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'));
        const g = tf.depthwiseConv2d(h, c as tf.Tensor4D, 1, 'same');
        return tf.sum(tf.square(tf.conv2d(g, d as tf.Tensor4D, 1, 'valid')));
      };
      return tf.grads(f)([x, w1, wd, w2]).map((t) => Array.from(t.dataSync()));
    });
  };
  const cpu = await grads('cpu');
  const wasm = await grads('wasm');
  cpu.forEach((g, i) => assert.ok(err(wasm[i], g) < 1e-5, `gradient ${i} differs: ${err(wasm[i], g)}`));
});

test('with PROMPTSCOPE_NATIVE=off, conv training runs on wasm through the JS kernels', async () => {
  const code = `
    import * as tf from '@tensorflow/tfjs';
    import { initBackend, currentBackend } from './cells/model/backend.ts';
    await initBackend('wasm');
    const w = tf.variable(tf.ones([3, 3, 2, 1]));
    const x = tf.ones([1, 4, 4, 2]);
    const g = tf.grad((v) => tf.sum(tf.conv2d(x, v, 1, 'same')))(w);
    console.log(JSON.stringify({ backend: currentBackend(), g: Array.from(g.dataSync()) }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)), env: { ...process.env, PROMPTSCOPE_NATIVE: 'off' },
  });
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as { backend: string; g: number[] };
  assert.equal(out.backend, 'wasm');
  // d/dw of Σ conv(1, w) over a 4×4 same-padded image: tap (ky,kx) sees the pixels it overlaps,
  // 3×3 = 9 (centre), 3×4 = 12 (edges), 4×4 = 16 (centre tap).
  const perTap = [9, 12, 9, 12, 16, 12, 9, 12, 9];
  assert.deepEqual(out.g, perTap.flatMap((v) => [v, v]));
});

test('FusedConv2D on wasm (bias + ReLU or linear, the direct kernel where it applies) matches the float64 reference', () => {
  cases.filter((c) => !c.depthwise).forEach((c, i) => {
    const x = lcgValues(sizeOf(c.x), 21 + i), w = lcgValues(sizeOf(c.filter), 201 + i), bias = lcgValues(c.filter[3], 2001 + i);
    const ref = reference(c, x, w, new Float32Array(sizeOf(outShapeOf(c))));
    const q = c.filter[3];
    for (const activation of ['relu', 'linear'] as const) {
      const want = ref.y.map((v, j) => { const s = v + bias[j % q]; return activation === 'relu' ? Math.max(0, s) : s; });
      const got = tf.tidy(() => tf.fused.conv2d({
        x: tf.tensor4d(x, c.x), filter: tf.tensor4d(w, c.filter), strides: c.strides, pad: c.pad as 'same', dilations: c.dilations,
        dimRoundingMode: c.dimRoundingMode, bias: tf.tensor1d(bias), activation,
      }).dataSync());
      if (activation === 'relu') assert.ok(want.some((v) => v === 0) && want.some((v) => v > 0), `${c.name}: ReLU clips some values, not all`);
      assert.ok(err(got, want) < TOL, `${c.name} ${activation}: error ${err(got, want)}`);
    }
  });
});

test('conv.c takes the direct kernel exactly where it applies (AVX2 + FMA, output channels a multiple of 8)', () => {
  const native = nativeAddon();
  assert.ok(native, 'the native addon does not load here (run `npm run build:native`)');
  const flags = process.platform === 'linux' && process.arch === 'x64' ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const simd = /\bavx2\b/.test(flags) && /\bfma\b/.test(flags);
  // 1 image 4×4, 3×3 pad 1; x at 0, w after it, y after that; p[20] = 2: "direct kernel only".
  const heap = new Float32Array(4096);
  const params = (oc: number) => Float64Array.from([0, 1, 4, 4, 8, 4, 4, oc, 3, 3, 1, 1, 1, 1, 1, 1, 0, 128, 128 + 9 * 8 * oc, -1, 2]);
  assert.equal(native.conv2d(heap.buffer, params(16)), simd, `16 output channels on a CPU ${simd ? 'with' : 'without'} AVX2 + FMA`);
  assert.equal(native.conv2d(heap.buffer, params(12)), false, '12 output channels: not a multiple of 8');
});

test('the direct kernels give the same bits on one thread and on two (the batch split over threads)', async () => {
  // 19M multiply-adds per kernel: above conv-direct.c's threshold for splitting the batch.
  const code = `
    import * as tf from '@tensorflow/tfjs';
    import { createHash } from 'node:crypto';
    import { initBackend } from './cells/model/backend.ts';
    import { lcgValues } from './test/support/lcg-values.ts';
    await initBackend('wasm');
    const x = tf.tensor4d(lcgValues(8 * 16 * 16 * 32, 3), [8, 16, 16, 32]);
    const w = tf.tensor4d(lcgValues(9 * 32 * 32, 4), [3, 3, 32, 32]);
    const up = tf.tensor4d(lcgValues(8 * 8 * 8 * 32, 5), [8, 8, 8, 32]);
    const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a, b, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]), up)))([x, w]);
    const y = tf.conv2d(x, w, 1, 'same');
    const [dx1] = tf.grads((a) => tf.sum(tf.mul(tf.conv2d(a, w, 1, 'same'), y)))([x]);
    const h = createHash('sha256');
    for (const t of [y, dx, dw, dx1]) h.update(Buffer.from((t.dataSync()).buffer));
    console.log(h.digest('hex'));`;
  const run = async (threads: string) => (await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)), env: { ...process.env, PROMPTSCOPE_BLAS_THREADS: threads },
  })).stdout.trim().split('\n').pop();
  const [one, two] = await Promise.all([run('1'), run('2')]);
  assert.match(one!, /^[0-9a-f]{64}$/);
  assert.equal(two, one);
});
