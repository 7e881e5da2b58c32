// The linear probe fits every λ of its sweep at once as matrix products in float32 (linearProbe.ts
// fitSweep). It must be the same optimisation as fitting each λ alone: checked here against a plain
// float64 fit written out scalar by scalar (full-batch Adam, lr 0.05, zero start, L2 on W only), on
// the backend a run uses (wasm, with the native BLAS matmul where it is built) and on tfjs's cpu backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type PromptBackbone } from '../../cells/model/index.ts';
import { LinearProbeTrainer, LINEAR_PROBE_DEFAULTS } from '../../cells/prompts/linearProbe.ts';
import { lcgValues } from '../support/lcg-values.ts';

const D = 24, C = 5, N = 60, NV = 40, ITER = 300;

/** Features with a class signal (a per-class mean plus noise), so the λ matter and the fit converges. */
function toy(n: number, seed: number): { features: Float32Array; labels: Int32Array } {
  const means = lcgValues(C * D, 7), noise = lcgValues(n * D, seed);
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 3 + seed) % C);
  const features = new Float32Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) features[i * D + d] = means[labels[i] * D + d] + 1.5 * noise[i * D + d];
  return { features, labels };
}

/** The reference: one λ, float64, scalar loops. Returns W [D, C] row-major, b [C], the last step's loss. */
function referenceFit(x: Float32Array, y: Int32Array, lambda: number): { W: Float64Array; b: Float64Array; loss: number } {
  const W = new Float64Array(D * C), b = new Float64Array(C);
  const mW = new Float64Array(D * C), vW = new Float64Array(D * C), mb = new Float64Array(C), vb = new Float64Array(C);
  let loss = 0;
  for (let it = 1; it <= ITER; it++) {
    const gW = new Float64Array(D * C), gb = new Float64Array(C);
    loss = 0;
    for (let i = 0; i < N; i++) {
      const z = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        z[c] = b[c];
        for (let d = 0; d < D; d++) z[c] += x[i * D + d] * W[d * C + c];
      }
      const max = Math.max(...z);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(z[c] - max);
      loss += -(z[y[i]] - max - Math.log(sum)) / N;
      for (let c = 0; c < C; c++) {
        const g = (Math.exp(z[c] - max) / sum - (c === y[i] ? 1 : 0)) / N;
        gb[c] += g;
        for (let d = 0; d < D; d++) gW[d * C + c] += g * x[i * D + d];
      }
    }
    for (let k = 0; k < D * C; k++) {
      loss += (lambda / 2) * W[k] ** 2;
      gW[k] += lambda * W[k];
    }
    const adam = (p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array) => {
      for (let k = 0; k < p.length; k++) {
        m[k] = 0.9 * m[k] + 0.1 * g[k];
        v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2;
        p[k] -= (0.05 * m[k] / (1 - 0.9 ** it)) / (Math.sqrt(v[k] / (1 - 0.999 ** it)) + 1e-8);
      }
    };
    adam(W, gW, mW, vW);
    adam(b, gb, mb, vb);
  }
  return { W, b, loss };
}

function accuracy(x: Float32Array, y: Int32Array, W: ArrayLike<number>, b: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) {
    let best = 0, bestZ = -Infinity;
    for (let c = 0; c < C; c++) {
      let z = b[c];
      for (let d = 0; d < D; d++) z += x[i * D + d] * W[d * C + c];
      if (z > bestZ) { bestZ = z; best = c; }
    }
    if (best === y[i]) ok++;
  }
  return ok / y.length;
}

const train = toy(N, 11), val = toy(NV, 12);
const model = { config: { projectionDim: D } } as unknown as PromptBackbone;
const task = { name: 'toy', classNames: Array.from({ length: C }, (_, c) => `class ${c}`) };
const lambdas = LINEAR_PROBE_DEFAULTS.lambdas;
const refs = lambdas.map((l) => referenceFit(train.features, train.labels, l));

for (const backend of ['wasm', 'cpu'] as const) {
  test(`the batched λ sweep matches a float64 fit of each λ alone (${backend})`, async () => {
    if (backend === 'wasm') await initBackend('wasm'); else await tf.setBackend('cpu');
    const probe = new LinearProbeTrainer();
    probe.init(model, task, { lambdas, iterations: ITER }, 1);
    const report = probe.fit({ train, val, dim: D }, new AbortController().signal, () => undefined);
    const refAcc = refs.map((r) => accuracy(val.features, val.labels, r.W, r.b));
    assert.deepEqual(report.sweep.map((s) => s.lambda), lambdas);
    assert.deepEqual(report.sweep.map((s) => s.valAcc), refAcc, 'validation accuracy per λ');
    report.sweep.forEach((s, i) => assert.ok(Math.abs(s.trainLoss - refs[i].loss) <= 1e-4 * Math.max(1, refs[i].loss), `λ=${s.lambda}: loss ${s.trainLoss} vs float64 ${refs[i].loss}`));
    // Chosen as the rule says: the best validation accuracy, ties to the larger λ.
    let best = 0;
    refAcc.forEach((a, i) => { if (a > refAcc[best] || (a === refAcc[best] && lambdas[i] > lambdas[best])) best = i; });
    assert.equal(report.chosen, lambdas[best]);
    // The kept weights are that λ's fit.
    const [W, b] = probe.variables().map((v) => v.dataSync());
    const ref = refs[best];
    const scale = Math.max(...ref.W.map(Math.abs));
    for (let k = 0; k < D * C; k++) assert.ok(Math.abs(W[k] - ref.W[k]) <= 1e-4 * scale, `W[${k}] = ${W[k]} vs float64 ${ref.W[k]}`);
    // Softmax ignores a shift of every bias by one constant, so the biases' mean is a flat direction: its
    // gradient is zero up to rounding, which Adam's normalisation turns into steps of ~lr (measured 1e-3
    // apart between float32 and float64). The biases are compared after removing their mean.
    const centred = (v: ArrayLike<number>) => { const mean = Array.from(v).reduce((p, q) => p + q, 0) / C; return Array.from(v, (q) => q - mean); };
    const [bc, rc] = [centred(b), centred(ref.b)];
    for (let c = 0; c < C; c++) assert.ok(Math.abs(bc[c] - rc[c]) <= 1e-4 * scale, `b[${c}] - mean = ${bc[c]} vs float64 ${rc[c]}`);
    probe.dispose();
  });
}
