// Prompt state ⇄ variables, with errors that name the method and tensor when a checkpoint does not fit.
import * as tf from '@tensorflow/tfjs';
import type { PromptState } from './trainer.ts';

export function saveState(vars: Record<string, tf.Tensor>): PromptState {
  const out: PromptState = {};
  for (const [name, v] of Object.entries(vars)) out[name] = { shape: v.shape.slice(), data: v.dataSync() as Float32Array };
  return out;
}

/** Assigns every named entry; shapes must match. Entries of `state` with no variable are an error too. */
export function loadState(method: string, state: PromptState, vars: Record<string, tf.Variable>, partial = false): void {
  for (const name of Object.keys(state)) {
    if (!(name in vars)) throw new Error(`${method}: prompt state has "${name}", which this configuration does not learn (has: ${Object.keys(vars).join(', ')})`);
  }
  for (const [name, v] of Object.entries(vars)) {
    const s = state[name];
    if (!s) {
      if (partial) continue;
      throw new Error(`${method}: prompt state lacks "${name}"`);
    }
    if (s.shape.length !== v.shape.length || s.shape.some((d, i) => d !== v.shape[i])) {
      throw new Error(`${method}: prompt state "${name}" has shape [${s.shape}], this configuration needs [${v.shape}]`);
    }
    const t = tf.tensor(s.data, s.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}

/** A trainable variable initialised from `init`, which is then released (tf.variable keeps its own reference). */
export function variableFrom(init: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(init, trainable);
  init.dispose();
  return v;
}
