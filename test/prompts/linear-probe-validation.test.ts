// The linear probe chooses λ on the validation split; a task without one (a scenario task trains on every
// image) must say so rather than let every λ tie at 0 % and quietly keep the strongest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LinearProbeTrainer, LINEAR_PROBE_DEFAULTS } from '../../cells/prompts/linearProbe.ts';
import type { PromptBackbone } from '../../cells/model/index.ts';

await tf.setBackend('cpu');

const model = { config: { projectionDim: 2 } } as unknown as PromptBackbone;
const task = { name: 'toy', classNames: ['a', 'b'] };
const train = { features: Float32Array.from([1, 0, 0, 1, 0.9, 0.1, 0.1, 0.9]), labels: Int32Array.from([0, 1, 0, 1]) };
const noVal = { features: new Float32Array(0), labels: new Int32Array(0) };

test('no validation images with a λ sweep: a clear error; with one λ it fits', () => {
  const sweep = new LinearProbeTrainer();
  sweep.init(model, task, LINEAR_PROBE_DEFAULTS, 1);
  assert.throws(() => sweep.fit({ train, val: noVal, dim: 2 }, new AbortController().signal, () => undefined), /no validation images to choose λ on/);
  const one = new LinearProbeTrainer();
  one.init(model, task, { ...LINEAR_PROBE_DEFAULTS, lambdas: [1e-3] }, 1);
  assert.equal(one.fit({ train, val: noVal, dim: 2 }, new AbortController().signal, () => undefined).chosen, 1e-3);
  sweep.dispose();
  one.dispose();
});
