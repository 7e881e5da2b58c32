// The native kernels of the wasm backend in Node (cells/model/native): the addon loads here, BatchMatMul and
// HeadMatMul agree with float64 references computed in plain JS, Identity-by-reference keeps values and
// memory right, the addon refuses calls that would touch memory outside the heap, PROMPTSCOPE_NATIVE=off
// turns everything off, and the build never fails an install.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initBackend, currentBackend } from '../../cells/model/backend.ts';
import { nativeAddon, nativeStatus } from '../../cells/model/native/index.ts';
import { HEAD_MATMUL, type HeadMatMulAttrs } from '../../cells/model/native/kernels.ts';
import * as fast from '../../cells/model/ops/index.ts';
import type { ChildReport } from './native-child.ts';
import { lcgValues, sizeOf } from '../support/lcg-values.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const TOL = 1e-5;

before(async () => {
  await initBackend('wasm');
});



/** ‖got − want‖ / ‖want‖, in float64. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'element counts differ');
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  assert.ok(Number.isFinite(num), 'non-finite values');
  return Math.sqrt(num / den);
}

/** Row-major strides of a shape. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * tf.matMul's meaning, written out in float64: the outer (batch) dimensions broadcast NumPy-style, the
 * last two are the matrices, and transposeA/B transpose them.
 */
function matMulReference(a: Float32Array, sa: number[], b: Float32Array, sb: number[], ta: boolean, tb: boolean): { data: Float64Array; shape: number[] } {
  const oa = sa.slice(0, -2), ob = sb.slice(0, -2);
  const rank = Math.max(oa.length, ob.length);
  const pa = [...new Array(rank - oa.length).fill(1), ...oa], pb = [...new Array(rank - ob.length).fill(1), ...ob];
  const outer = pa.map((d, i) => {
    if (d !== pb[i] && d !== 1 && pb[i] !== 1) throw new Error(`reference: outer shapes ${oa} and ${ob} do not broadcast`);
    return Math.max(d, pb[i]);
  });
  const [ra, ca] = sa.slice(-2), [rb, cb] = sb.slice(-2);
  const m = ta ? ca : ra, k = ta ? ra : ca, n = tb ? rb : cb;
  const sOut = strides(outer), sA = strides(pa), sB = strides(pb);
  const data = new Float64Array(sizeOf(outer) * m * n);
  for (let o = 0; o < sizeOf(outer); o++) {
    let offA = 0, offB = 0;
    for (let d = 0; d < rank; d++) {
      const idx = Math.floor(o / sOut[d]) % outer[d];
      if (pa[d] !== 1) offA += idx * sA[d];
      if (pb[d] !== 1) offB += idx * sB[d];
    }
    offA *= ra * ca; offB *= rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          sum += a[offA + (ta ? p * ca + i : i * ca + p)] * b[offB + (tb ? j * cb + p : p * cb + j)];
        }
        data[o * m * n + i * n + j] = sum;
      }
    }
  }
  return { data, shape: [...outer, m, n] };
}

/** Runs tf.matMul on the active backend (wasm+blas) and checks value and shape against the reference. */
function checkMatMul(sa: number[], sb: number[], ta: boolean, tb: boolean, seed: number): void {
  const av = lcgValues(sizeOf(sa), seed), bv = lcgValues(sizeOf(sb), seed + 1);
  const want = matMulReference(av, sa, bv, sb, ta, tb);
  const y = tf.tidy(() => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), ta, tb));
  const label = `[${sa}]${ta ? 'ᵀ' : ''} · [${sb}]${tb ? 'ᵀ' : ''}`;
  assert.deepEqual(y.shape, want.shape, `${label}: shape`);
  const e = relErr(y.dataSync(), want.data);
  assert.ok(e < TOL, `${label}: relative error ${e}`);
  y.dispose();
}

/** The stored shape of the operand whose op() is rows×cols, in the transpose flag's orientation. */
function stored(rows: number, cols: number, transposed: boolean): [number, number] {
  return transposed ? [cols, rows] : [rows, cols];
}

test('the native addon builds and loads, with a CBLAS library (CI: libopenblas0-pthread)', () => {
  const s = nativeStatus();
  assert.ok(s.loaded, `native kernels not loaded: ${s.detail}`);
  assert.ok(nativeAddon(), 'nativeAddon() is undefined although the status says loaded');
  assert.equal(currentBackend(), 'wasm+blas');
  // The replacements are installed: ours need no setup function, tfjs-wasm's originals have one.
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')?.setupFunc, undefined, 'BatchMatMul is still tfjs-wasm\'s own');
  assert.ok(tf.getKernel(HEAD_MATMUL, 'wasm'), 'HeadMatMul is not registered on wasm');
});

test('BatchMatMul matches a float64 reference: all transpose flags, 2-D, batched, broadcast, 4-D', () => {
  // m, k, n all different so a swapped dimension cannot go unnoticed.
  const m = 5, k = 7, n = 3;
  const cases: Array<[number[], number[]]> = [
    [[], []], // 2-D × 2-D
    [[4], [4]], // batched
    [[1], [4]], [[4], [1]], // batch 1 broadcast against batch 4
    [[], [4]], [[4], []], // 2-D against batched
    [[2, 3], [2, 3]], // 4-D, same outer shape
    [[1], [2, 3]], [[2, 3], []], // lower rank batch-1 / 2-D against 4-D
  ];
  let seed = 1;
  for (const [oa, ob] of cases) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        checkMatMul([...oa, ...stored(m, k, ta)], [...ob, ...stored(k, n, tb)], ta, tb, seed += 2);
      }
    }
  }
});

test('BatchMatMul shapes the native path does not handle fall back and stay right', () => {
  // Outer shapes that differ with neither side of batch 1 go to tfjs-wasm's own kernel. Only shapes whose
  // flattened batches broadcast by repetition are here: tfjs itself (cpu and wasm alike) gets [2,1]×[2,3]
  // wrong and returns 60 values for the [2,3,·,·] product of [2,1]×[1,3].
  const cases: Array<[number[], number[]]> = [[[2, 3], [3]], [[3], [2, 3]], [[2, 3], [1, 3]], [[1, 3], [2, 3]]];
  let seed = 100;
  for (const [oa, ob] of cases) {
    checkMatMul([...oa, 4, 6], [...ob, 6, 5], false, false, seed += 2);
    checkMatMul([...oa, 6, 4], [...ob, 5, 6], true, true, seed += 2);
  }
  // Integer products go to tfjs-wasm too, which refuses them: the int32 bytes are never read as floats.
  const ints = [tf.tensor2d([[1, 2], [3, 4]], undefined, 'int32'), tf.tensor2d([[5, 6], [7, 8]], undefined, 'int32')];
  assert.throws(() => tf.matMul(ints[0], ints[1]), /non-float32/);
  tf.dispose(ints);
  // Inner sizes that do not agree are an error, not garbage.
  assert.throws(() => tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 5]))), /inner shapes/);
});

type Layout = 'heads' | 'dense';

/**
 * HeadMatMul's meaning in float64: per (batch, head), out = alpha·op(A)·op(B), where matrix (b, h) of an
 * operand is [b, :, h, :] in 'heads' [B, R, H, C] and [b, h, :, :] in 'dense' [B, H, R, C].
 */
function headMatMulReference(
  a: Float32Array, sa: number[], b: Float32Array, sb: number[], at: HeadMatMulAttrs, batch: number, heads: number,
): { data: Float64Array; shape: number[] } {
  const at2 = (x: Float32Array, s: number[], layout: Layout, bi: number, h: number, r: number, c: number) =>
    layout === 'heads' ? x[((bi * s[1] + r) * s[2] + h) * s[3] + c] : x[((bi * s[1] + h) * s[2] + r) * s[3] + c];
  const [ra, ca] = at.aLayout === 'heads' ? [sa[1], sa[3]] : [sa[2], sa[3]];
  const [rb, cb] = at.bLayout === 'heads' ? [sb[1], sb[3]] : [sb[2], sb[3]];
  const m = at.transposeA ? ca : ra, k = at.transposeA ? ra : ca, n = at.transposeB ? rb : cb;
  const shape = at.outLayout === 'heads' ? [batch, m, heads, n] : [batch, heads, m, n];
  const data = new Float64Array(sizeOf(shape));
  for (let bi = 0; bi < batch; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let p = 0; p < k; p++) {
            const x = at.transposeA ? at2(a, sa, at.aLayout, bi, h, p, i) : at2(a, sa, at.aLayout, bi, h, i, p);
            const y = at.transposeB ? at2(b, sb, at.bLayout, bi, h, j, p) : at2(b, sb, at.bLayout, bi, h, p, j);
            sum += x * y;
          }
          const o = at.outLayout === 'heads' ? ((bi * m + i) * heads + h) * n + j : ((bi * heads + h) * m + i) * n + j;
          data[o] = at.alpha * sum;
        }
      }
    }
  }
  return { data, shape };
}

const shapeIn = (layout: Layout, batch: number, heads: number, [r, c]: [number, number]) =>
  layout === 'heads' ? [batch, r, heads, c] : [batch, heads, r, c];

test('HeadMatMul matches a float64 einsum for every transpose and layout combination', () => {
  const batch = 2, heads = 3, m = 4, k = 6, n = 5;
  const layouts: Layout[] = ['heads', 'dense'];
  let seed = 200, checked = 0;
  const key = (p: Omit<HeadMatMulAttrs, 'alpha'>) => `${p.transposeA}${p.transposeB}${p.aLayout}${p.bLayout}${p.outLayout}`;
  const done = new Set<string>();
  for (const transposeA of [false, true]) for (const transposeB of [false, true]) {
    for (const aLayout of layouts) for (const bLayout of layouts) for (const outLayout of layouts) {
      const attrs: HeadMatMulAttrs = { transposeA, transposeB, aLayout, bLayout, outLayout, alpha: checked % 2 ? 0.375 : 1 };
      const sa = shapeIn(aLayout, batch, heads, stored(m, k, transposeA));
      const sb = shapeIn(bLayout, batch, heads, stored(k, n, transposeB));
      const av = lcgValues(sizeOf(sa), seed += 2), bv = lcgValues(sizeOf(sb), seed + 1);
      const want = headMatMulReference(av, sa, bv, sb, attrs, batch, heads);
      const y = tf.tidy(() => tf.engine().runKernel(HEAD_MATMUL, { a: tf.tensor(av, sa), b: tf.tensor(bv, sb) },
        attrs as unknown as tf.NamedAttrMap) as tf.Tensor);
      const label = JSON.stringify(attrs);
      assert.deepEqual(y.shape, want.shape, `${label}: shape`);
      const e = relErr(y.dataSync(), want.data);
      assert.ok(e < TOL, `${label}: relative error ${e}`);
      y.dispose();
      done.add(key(attrs));
      checked++;
    }
  }
  assert.equal(checked, 32);
  // The six products of ops/fast.ts headAttention (scores, context, and the gradients of both) are among them.
  const used: Array<Omit<HeadMatMulAttrs, 'alpha'>> = [
    { transposeA: false, transposeB: true, aLayout: 'heads', bLayout: 'heads', outLayout: 'dense' }, // q·kᵀ; d(probs)
    { transposeA: false, transposeB: false, aLayout: 'dense', bLayout: 'heads', outLayout: 'heads' }, // probs·v; dq
    { transposeA: true, transposeB: false, aLayout: 'dense', bLayout: 'heads', outLayout: 'heads' }, // dk, dv
  ];
  for (const p of used) assert.ok(done.has(key(p)), `not checked: ${JSON.stringify(p)}`);
});

test('HeadMatMul rejects operands that do not multiply', () => {
  const attrs = { transposeA: false, transposeB: false, aLayout: 'heads', bLayout: 'heads', outLayout: 'heads', alpha: 1 };
  const product = (sa: number[], sb: number[]) => () => tf.tidy(() => {
    tf.engine().runKernel(HEAD_MATMUL, { a: tf.zeros(sa), b: tf.zeros(sb) }, attrs);
  });
  assert.throws(product([2, 4, 3, 6], [2, 5, 3, 7]), /do not multiply/); // inner sizes 6 and 5
  assert.throws(product([2, 4, 3, 6], [2, 6, 2, 7]), /do not multiply/); // 3 and 2 heads
  assert.throws(product([2, 4, 3, 6], [1, 6, 3, 7]), /do not multiply/); // batch 2 and 1
  assert.throws(product([2, 4, 3, 6], [6, 7]), /4-D/);
});

test('fast.multiHeadAttention runs its products, forward and backward, through HeadMatMul', async () => {
  const b = 2, t = 5, d = 12, heads = 3;
  let seed = 400;
  const t2 = (r: number, c: number) => tf.tensor2d(lcgValues(r * c, seed++), [r, c]);
  const t1 = (c: number) => tf.tensor1d(lcgValues(c, seed++));
  const w: fast.AttentionWeights = {
    qKernel: t2(d, d), qBias: t1(d), kKernel: t2(d, d), kBias: t1(d),
    vKernel: t2(d, d), vBias: t1(d), oKernel: t2(d, d), oBias: t1(d),
  };
  const x = tf.tensor3d(lcgValues(b * t * d, seed++), [b, t, d]);
  const forward = await tf.profile(() => fast.multiHeadAttention(x, w, heads, 'causal'));
  const calls = (p: Awaited<ReturnType<typeof tf.profile>>) => p.kernels.filter((kn) => kn.name === HEAD_MATMUL).length;
  assert.equal(calls(forward), 2, `forward kernels: ${forward.kernelNames.join(', ')}`);
  // Gradients with respect to x and the q, k, v kernels need all four backward products.
  const backward = await tf.profile(() => tf.grads((xx: tf.Tensor, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    fast.multiHeadAttention(xx, { ...w, qKernel: q as tf.Tensor2D, kKernel: k as tf.Tensor2D, vKernel: v as tf.Tensor2D }, heads, 'causal').sum(),
  )([x, w.qKernel, w.kKernel, w.vKernel]));
  assert.equal(calls(backward), 6, `forward + backward kernels: ${backward.kernelNames.join(', ')}`);
  tf.dispose([forward.result as tf.Tensor, ...(backward.result as tf.Tensor[]), x, ...Object.values(w)]);
});

/** Backend data buffers alive: a shared buffer that is never freed shows here, not in tf.memory().numBytes. */
const dataIds = () => tf.engine().backend.numDataIds();

test('Identity by reference: clones outlive their source and ignore later assignments; no leaks', () => {
  const startBytes = tf.memory().numBytes, startIds = dataIds();
  const data = lcgValues(24, 500);
  const x = tf.tensor(data, [4, 6]);
  const c = tf.clone(x);
  x.dispose();
  assert.deepEqual(c.dataSync(), data, 'clone changed when its source was disposed');

  const init = tf.tensor(data, [4, 6]);
  const v = tf.variable(init);
  init.dispose();
  const cv = tf.clone(v);
  const other = lcgValues(24, 501);
  const next = tf.tensor(other, [4, 6]);
  v.assign(next);
  next.dispose();
  assert.deepEqual(v.dataSync(), other);
  assert.deepEqual(cv.dataSync(), data, 'clone of a variable followed the variable\'s assign');

  // Gradients save clones of their inputs: the values and the memory must come out right there too.
  const y = tf.tensor1d([1, -2, 3]);
  const g = tf.grad((z: tf.Tensor) => z.square().sum())(y);
  assert.deepEqual(Array.from(g.dataSync()), [2, -4, 6]);

  tf.dispose([c, cv, y, g]);
  v.dispose();
  tf.disposeVariables();
  assert.equal(tf.memory().numBytes, startBytes, 'engine bytes did not return to the baseline');
  assert.equal(dataIds(), startIds, 'wasm data buffers did not return to the baseline');
});

test('the addon rejects bad calls with an error instead of touching memory outside the heap', () => {
  const addon = nativeAddon();
  assert.ok(addon, nativeStatus().detail);
  // A 2×3 · 3×2 product with alpha 2, accumulated into C (beta 1), as a baseline that the layout is right.
  const heap = new Float32Array(32);
  heap.set([1, 2, 3, 4, 5, 6], 0); // A at 0
  heap.set([1, 0, 0, 1, 1, 1], 8); // B at 8
  heap.set([10, 20, 30, 40], 16); // C at 16
  const p = (over: Record<number, number> = {}) => {
    const q = Float64Array.of(0, 0, 2, 2, 3, 1, 1, 0, 0, 0, 3, 8, 0, 0, 2, 16, 0, 0, 2, 2, 1);
    for (const [i, val] of Object.entries(over)) q[Number(i)] = val;
    return q;
  };
  addon.gemm(heap, p());
  assert.deepEqual(Array.from(heap.subarray(16, 20)), [10 + 2 * 4, 20 + 2 * 5, 30 + 2 * 10, 40 + 2 * 11]);
  const snapshot = heap.slice();

  const outside: Array<[string, Record<number, number>]> = [
    ['A offset past the end', { 7: 30 }],
    ['B offset past the end', { 11: 29 }],
    ['C offset past the end', { 15: 31 }],
    ['negative offset', { 15: -1 }],
    ['batch of matrices past the end', { 5: 3, 16: 8 }],
    ['inner stride past the end', { 6: 2, 17: 20 }],
    ['C leading dimension past the end', { 18: 20 }],
    ['leading dimension below the row length', { 10: 2 }],
    ['m = 0', { 2: 0 }],
  ];
  for (const [what, over] of outside) {
    assert.throws(() => addon.gemm(heap, p(over)), RangeError, what);
  }
  // A Float32Array view is bounded by its own length, not its buffer's.
  assert.throws(() => addon.gemm(heap.subarray(0, 16), p()), RangeError, 'view shorter than C');
  assert.deepEqual(heap, snapshot, 'a rejected call wrote to the heap');

  assert.throws(() => addon.gemm(heap, new Float64Array(20)), TypeError, 'params of 20 numbers');
  assert.throws(() => addon.gemm(heap, new Float32Array(21) as unknown as Float64Array), TypeError, 'Float32Array params');
  assert.throws(() => addon.gemm(new Int32Array(32) as unknown as Float32Array, p()), TypeError, 'Int32Array heap');
  assert.throws(() => (addon.gemm as (...a: unknown[]) => void)(heap), TypeError, 'missing params');
});

async function child(env: Record<string, string | undefined>): Promise<ChildReport> {
  const clean = { ...process.env };
  for (const name of ['PROMPTSCOPE_NATIVE', 'PROMPTSCOPE_BLAS', 'PROMPTSCOPE_BACKEND', 'PROMPTSCOPE_WASM_THREADS']) delete clean[name];
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'test/model/native-child.ts')],
    { cwd: root, env: { ...clean, ...env } as NodeJS.ProcessEnv });
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `child printed no report: ${stdout}`);
  return JSON.parse(line) as ChildReport;
}

test('PROMPTSCOPE_NATIVE=off and a missing BLAS library give plain wasm; the default gives wasm+blas', async () => {
  const [off, missing, normal] = await Promise.all([
    child({ PROMPTSCOPE_NATIVE: 'off' }),
    child({ PROMPTSCOPE_BLAS: '/nonexistent/libcblas.so' }),
    child({}),
  ]);
  assert.equal(off.backend, 'wasm');
  assert.equal(off.status.loaded, false);
  assert.match(off.status.detail, /PROMPTSCOPE_NATIVE/);
  assert.equal(missing.backend, 'wasm');
  assert.match(missing.status.detail, /no CBLAS library found.*\/nonexistent\/libcblas\.so/);
  assert.equal(normal.backend, 'wasm+blas', normal.status.detail);
  for (const r of [off, missing, normal]) {
    assert.deepEqual(r.product, [19, 22, 43, 50], `${r.backend}: a·b`);
    assert.deepEqual(r.productTransposed, [17, 23, 39, 53], `${r.backend}: a·bᵀ`);
  }
});

/** Runs build.mjs with CC set; resolves with its exit code, output and pid (its temp file is named after it). */
function build(cc: string): Promise<{ code: number | null; stderr: string; pid: number }> {
  return new Promise((resolve) => {
    const p = execFile(process.execPath, [join(root, 'cells/model/native/build.mjs')], { cwd: root, env: { ...process.env, CC: cc } },
      (error, _stdout, stderr) => resolve({ code: error ? (error.code as number | null) ?? null : 0, stderr, pid: p.pid! }));
  });
}

test('build.mjs never fails the install: a broken compiler leaves the built addon as it was', async () => {
  const buildDir = join(root, 'cells/model/native/build');
  const built = join(buildDir, 'native.node');
  const fingerprint = () => {
    const s = statSync(built);
    return { size: s.size, mtime: s.mtimeMs, sha: createHash('sha256').update(readFileSync(built)).digest('hex') };
  };
  const before = fingerprint();
  // A compiler that writes part of its output and then fails, as a link error after writing would.
  const dir = mkdtempSync(join(tmpdir(), 'promptscope-cc-'));
  const halfCc = join(dir, 'cc');
  writeFileSync(halfCc, '#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = -o ]; then echo partial > "$2"; fi; shift; done\nexit 1\n');
  chmodSync(halfCc, 0o755);
  try {
    for (const cc of ['/bin/false', join(dir, 'no-such-cc'), halfCc]) {
      const r = await build(cc);
      // build.mjs does not remove its temp file when the compiler fails; only this run's is removed.
      rmSync(`${built}.${r.pid}.tmp`, { force: true });
      assert.equal(r.code, 0, `CC=${cc}: build.mjs exited ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /could not build the native kernels/, `CC=${cc}: no warning\n${r.stderr}`);
      assert.match(r.stderr, /node cells\/model\/native\/build\.mjs/, `CC=${cc}: the warning does not say how to fix it`);
      // The failure is the compiler's, not (say) missing Node headers that would skip the compiler altogether.
      assert.match(r.stderr, cc.endsWith('no-such-cc') ? /ENOENT/ : /Command failed/, `CC=${cc}\n${r.stderr}`);
      assert.deepEqual(fingerprint(), before, `CC=${cc}: native.node changed`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BatchMatMul output shapes broadcast the outer dims like tfjs; an empty batch gives an empty result', () => {
  assert.deepEqual(tf.matMul(tf.ones([2, 3]), tf.ones([1, 3, 4])).shape, [1, 2, 4]);
  assert.deepEqual(tf.matMul(tf.ones([1, 2, 3]), tf.ones([1, 1, 3, 4])).shape, [1, 1, 2, 4]);
  assert.deepEqual(tf.matMul(tf.ones([1, 1, 2, 3]), tf.ones([5, 3, 4])).shape, [1, 5, 2, 4]);
  const empty = tf.matMul(tf.ones([0, 2, 3]), tf.ones([0, 3, 4]));
  assert.deepEqual(empty.shape, [0, 2, 4]);
  assert.equal(empty.dataSync().length, 0);
});

test('gemm: sizes whose products overflow 64-bit integers are rejected, not used to write', () => {
  const p = new Float64Array(21);
  p.set([0, 0, 1, 1, 1, 2 ** 62, 1, 0, 4, 0, 1, 0, 4, 0, 1, 0, 4, 0, 1, 1, 0]);
  assert.throws(() => nativeAddon()!.gemm(new Float32Array(64), p), RangeError);
  p.set([0, 0, 1, 1, 1, 2 ** 31 - 1, 1, 0, 2 ** 31 - 1, 0, 1, 0, 4, 0, 1, 0, 4, 0, 1, 1, 0]);
  assert.throws(() => nativeAddon()!.gemm(new Float32Array(64), p), RangeError);
});

test('native Adam/AdamW is bit-identical to the same update written in JavaScript', () => {
  const n = 10_007;
  let s = 3;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  const params = Float32Array.from({ length: n }, rnd);
  const m = new Float32Array(n), v = new Float32Array(n);
  const ref = { p: params.slice(), m: m.slice(), v: v.slice() };
  const [b1, b2, eps, lr, wd] = [0.9, 0.98, 1e-6, 3e-3, 0.1];
  for (let t = 1; t <= 5; t++) {
    const grads = Float32Array.from({ length: n }, () => rnd() * 10 ** (t - 3));
    const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t, decay = 1 - lr * wd;
    nativeAddon()!.adamUpdate(params, grads, m, v, Float64Array.of(b1, b2, eps, lr, c1, c2, decay));
    for (let i = 0; i < n; i++) {
      const mi = (ref.m[i] = b1 * ref.m[i] + (1 - b1) * grads[i]);
      const vi = (ref.v[i] = b2 * ref.v[i] + (1 - b2) * grads[i] * grads[i]);
      ref.p[i] = ref.p[i] * decay - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }
  assert.deepEqual(params, ref.p);
  assert.deepEqual(m, ref.m);
  assert.deepEqual(v, ref.v);
  assert.throws(() => nativeAddon()!.adamUpdate(params, new Float32Array(3), m, v, new Float64Array(7)), TypeError);
});

test('fused LayerNorm / GELU / quick-GELU / column-sum kernels match float64 references', () => {
  const [rows, d] = [37, 24];
  const x = tf.randomNormal([rows, d], 0, 2, 'float32', 5);
  const gamma = tf.randomNormal([d], 1, 0.1, 'float32', 6), beta = tf.randomNormal([d], 0, 0.1, 'float32', 7);
  const xs = x.dataSync(), gs = gamma.dataSync(), bs = beta.dataSync();
  const [y] = tf.engine().runKernel('PromptscopeLayerNorm', { x, gamma, beta }, { eps: 1e-5 }) as tf.Tensor[];
  const ys = y.dataSync();
  for (let r = 0; r < rows; r++) {
    let mean = 0, sq = 0;
    for (let i = 0; i < d; i++) mean += xs[r * d + i] / d;
    for (let i = 0; i < d; i++) sq += (xs[r * d + i] - mean) ** 2 / d;
    for (let i = 0; i < d; i++) {
      const want = ((xs[r * d + i] - mean) / Math.sqrt(sq + 1e-5)) * gs[i] + bs[i];
      assert.ok(Math.abs(ys[r * d + i] - want) < 1e-5 * (1 + Math.abs(want)), `layerNorm ${r},${i}: ${ys[r * d + i]} vs ${want}`);
    }
  }
  const erf = (z: number) => { // series, exact enough in float64 for |z| < 6
    let sum = z, term = z;
    for (let k = 1; k < 200; k++) { term *= (-z * z) / k; sum += term / (2 * k + 1); }
    return (2 / Math.sqrt(Math.PI)) * sum;
  };
  const gelu = tf.engine().runKernel('PromptscopeActivation', { x }, { kind: 'gelu' }) as tf.Tensor;
  const quick = tf.engine().runKernel('PromptscopeActivation', { x }, { kind: 'quick_gelu' }) as tf.Tensor;
  const [gv, qv] = [gelu.dataSync(), quick.dataSync()];
  for (let i = 0; i < xs.length; i++) {
    const g = 0.5 * xs[i] * (1 + erf(xs[i] / Math.SQRT2)), q = xs[i] / (1 + Math.exp(-1.702 * xs[i]));
    assert.ok(Math.abs(gv[i] - g) < 2e-6 * (1 + Math.abs(g)), `gelu(${xs[i]}) = ${gv[i]}, want ${g}`);
    assert.ok(Math.abs(qv[i] - q) < 2e-6 * (1 + Math.abs(q)), `quickGelu(${xs[i]}) = ${qv[i]}, want ${q}`);
  }
  const sums = (tf.engine().runKernel('PromptscopeColumnSums', { x }, {}) as tf.Tensor).dataSync();
  for (let j = 0; j < d; j++) {
    let want = 0;
    for (let r = 0; r < rows; r++) want += xs[r * d + j];
    assert.ok(Math.abs(sums[j] - want) < 1e-4 * (1 + Math.abs(want)), `column ${j}`);
  }
  // NaN in, NaN out: the clamps inside the fast exp must not hide a diverged activation.
  const bad = tf.tensor1d([NaN, 1]);
  for (const kind of ['gelu', 'quick_gelu']) {
    const out = (tf.engine().runKernel('PromptscopeActivation', { x: bad }, { kind }) as tf.Tensor).dataSync();
    assert.ok(Number.isNaN(out[0]) && Number.isFinite(out[1]), `${kind}(NaN) must be NaN`);
  }
});

test('GatherV2 along axis 0 copies the right rows (repeats, 2-D ids), rejects bad ids, falls back elsewhere', () => {
  const table = tf.tensor2d(Array.from({ length: 7 * 3 }, (_, i) => i + 0.5), [7, 3]);
  const ids = tf.tensor2d([[6, 0], [3, 3]], [2, 2], 'int32');
  const got = tf.gather(table, ids);
  assert.deepEqual(got.shape, [2, 2, 3]);
  assert.deepEqual(Array.from(got.dataSync()), [6, 0, 3, 3].flatMap((r) => [0, 1, 2].map((c) => r * 3 + c + 0.5)));
  assert.throws(() => tf.gather(table, tf.tensor1d([7], 'int32')), /index value 7 is not in \[0, 6\]/);
  assert.throws(() => tf.gather(table, tf.tensor1d([-1], 'int32')), /not in \[0, 6\]/);
  // Axis 1 goes to tfjs-wasm's own kernel.
  const cols = tf.gather(table, tf.tensor1d([2, 0], 'int32'), 1);
  assert.deepEqual(Array.from(cols.dataSync().slice(0, 2)), [2.5, 0.5]);
});

test('Tile as heap copies: every element from its source index, float bits kept, int32 too, bool falls back', () => {
  const cases: Array<[number[], number[]]> = [[[1, 4, 3], [5, 1, 1]], [[2, 3], [3, 2]], [[3], [4]], [[2, 1, 2, 2], [1, 3, 2, 1]], [[2, 2], [0, 3]]];
  for (const [shape, reps] of cases) {
    const n = sizeOf(shape);
    const values = Float32Array.from({ length: n }, (_, i) => (i % 3 === 1 ? -0 : i + 0.25));
    const got = tf.tile(tf.tensor(values, shape), reps);
    const outShape = shape.map((d, i) => d * reps[i]);
    assert.deepEqual(got.shape, outShape);
    // Output element at index (o_0..o_k) is input element (o_0 mod d_0, ..., o_k mod d_k).
    const data = got.dataSync();
    const inStrides = strides(shape), outStrides = strides(outShape);
    for (let o = 0; o < data.length; o++) {
      let src = 0;
      for (let d = 0; d < shape.length; d++) src += (Math.floor(o / outStrides[d]) % outShape[d] % shape[d]) * inStrides[d];
      assert.ok(Object.is(data[o], values[src]), `[${shape}] × [${reps}]: element ${o} is ${data[o]}, want ${values[src]}`);
    }
  }
  const ints = tf.tile(tf.tensor2d([[1, 2]], [1, 2], 'int32'), [2, 2]);
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(Array.from(ints.dataSync()), [1, 2, 1, 2, 1, 2, 1, 2]);
  assert.deepEqual(Array.from(tf.tile(tf.tensor1d([true, false], 'bool'), [2]).dataSync()), [1, 0, 1, 0]);
});

test('FlatAdam runs the installed native loop, and gives the JavaScript loop\'s parameters bit for bit', async () => {
  const { FlatAdam } = await import('../../bench/support/adam.ts');
  const { getAdamKernel, setAdamKernel } = await import('../../cells/model/ops/accelerated.ts');
  const kernel = getAdamKernel();
  assert.ok(kernel, 'useNativeKernels() did not install the Adam loop');
  const n = 4099;
  const grads = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e-2);
  const run = () => {
    const adam = new FlatAdam(n, { learningRate: 1e-3, weightDecay: 0.05 });
    const p = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
    for (let t = 0; t < 3; t++) adam.update(p, grads);
    return p;
  };
  let calls = 0;
  setAdamKernel((...a) => { calls++; kernel(...a); });
  const native = run();
  setAdamKernel(undefined);
  const js = run();
  setAdamKernel(kernel);
  assert.equal(calls, 3);
  assert.deepEqual(native, js);
});

test('VariablesAdam updates variables in place in the heap: same values as the copying path, clones untouched', async () => {
  const { VariablesAdam } = await import('../../bench/support/adam.ts');
  const { getVariableAdamKernel, setVariableAdamKernel } = await import('../../cells/model/ops/accelerated.ts');
  const inPlace = getVariableAdamKernel();
  assert.ok(inPlace, 'useNativeKernels() did not install the in-place Adam');
  const make = () => [tf.variable(tf.randomNormal([33, 7], 0, 1, 'float32', 1)), tf.variable(tf.randomNormal([7], 0, 1, 'float32', 2))];
  const grads = (step: number) => [tf.randomNormal([33, 7], 0, 1, 'float32', 10 + step), tf.randomNormal([7], 0, 1, 'float32', 20 + step)];
  const config = { learningRate: 1e-2, weightDecay: 0.01 };
  // Native in place for two steps, then the copying path (it must first pick up the in-place values).
  const a = make();
  const adamA = new VariablesAdam(a, config);
  const before = tf.clone(a[0]); // shares a[0]'s buffer: the in-place step must copy first
  const snapshot = before.dataSync().slice();
  for (let s = 0; s < 2; s++) { const g = grads(s); adamA.applyGradients(g); tf.dispose(g); }
  assert.deepEqual(before.dataSync(), snapshot, 'a clone taken before the step changed');
  setVariableAdamKernel(undefined);
  try {
    { const g = grads(2); adamA.applyGradients(g); tf.dispose(g); }
    const b = make();
    const adamB = new VariablesAdam(b, config);
    for (let s = 0; s < 3; s++) { const g = grads(s); adamB.applyGradients(g); tf.dispose(g); }
    for (let i = 0; i < 2; i++) assert.deepEqual(a[i].dataSync(), b[i].dataSync(), `variable ${i}`);
    tf.dispose([...b]);
  } finally {
    setVariableAdamKernel(inPlace);
  }
  tf.dispose([...a, before]);
});

test('Affine (x·W + b in one product) matches a float64 reference; empty shapes are fine', () => {
  const [n, k, m] = [19, 11, 7];
  const x = tf.randomNormal([n, k], 0, 1, 'float32', 31), w = tf.randomNormal([k, m], 0, 1, 'float32', 32), b = tf.randomNormal([m], 0, 1, 'float32', 33);
  const got = (tf.engine().runKernel('PromptscopeAffine', { x, w, b }, {}) as tf.Tensor).dataSync();
  const [xs, ws, bs] = [x.dataSync(), w.dataSync(), b.dataSync()];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < m; c++) {
      let want = bs[c];
      for (let i = 0; i < k; i++) want += xs[r * k + i] * ws[i * m + c];
      assert.ok(Math.abs(got[r * m + c] - want) < 1e-5 * (1 + Math.abs(want)), `(${r}, ${c}): ${got[r * m + c]} vs ${want}`);
    }
  }
  const empty = tf.engine().runKernel('PromptscopeAffine', { x: tf.zeros([0, k]), w, b }, {}) as tf.Tensor;
  assert.deepEqual(empty.shape, [0, m]);
  assert.throws(() => tf.engine().runKernel('PromptscopeAffine', { x, w: tf.zeros([k + 1, m]), b }, {}), /do not fit/);
});

test('a corrupt native.node does not stop wasm from starting: tfjs kernels, a warning that says how to fix it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ps-native-'));
  try {
    // A copy of the loader next to a garbage "build/native.node".
    const src = fileURLToPath(new URL('../../cells/model/native/index.ts', import.meta.url));
    writeFileSync(join(dir, 'index.mts'), readFileSync(src)); // .mts: an ES module outside the package
    mkdirSync(join(dir, 'build'));
    writeFileSync(join(dir, 'build', 'native.node'), 'not a shared object');
    const code = `const m = await import(${JSON.stringify(join(dir, 'index.mts'))}); console.log(JSON.stringify(m.nativeStatus()));`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    const status = JSON.parse(stdout.trim().split('\n').pop()!) as { loaded: boolean; detail: string };
    assert.equal(status.loaded, false);
    assert.match(status.detail, /failed to load.*npm run build:native/);
    assert.match(stderr, /failed to load/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
