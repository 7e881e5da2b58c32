// AdamW (decoupled weight decay, Loshchilov & Hutter) with state kept as plain tensors so that a
// checkpoint can hold it and a resumed run continues bit-for-bit. tfjs's Adam has no decoupled decay.
import * as tf from '@tensorflow/tfjs';

export interface ParamGroup {
  /** Multiplies the base learning rate (e.g. the temperature gets its own). */
  lrScale: number;
  weightDecay: number;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
}

export class AdamW {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  /** Number of updates applied so far (bias correction uses it). */
  t = 0;

  constructor(readonly params: Map<string, tf.Variable>, readonly groups: Map<string, ParamGroup>, readonly opts: AdamWOptions = { beta1: 0.9, beta2: 0.98, eps: 1e-6 }) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** One update with learning rate `lr` from gradients keyed like `params`. */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const { beta1, beta2, eps } = this.opts;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    for (const [name, p] of this.params) {
      const g = grads[name];
      if (!g) continue;
      const grp = this.groups.get(name) ?? { lrScale: 1, weightDecay: 0 };
      const a = lr * grp.lrScale;
      tf.tidy(() => {
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const m2 = m.mul(beta1).add(g.mul(1 - beta1));
        const v2 = v.mul(beta2).add(g.square().mul(1 - beta2));
        m.assign(m2);
        v.assign(v2);
        const upd = m2.div(bc1).div(v2.div(bc2).sqrt().add(eps));
        let next = p.sub(upd.mul(a));
        if (grp.weightDecay) next = next.sub(p.mul(a * grp.weightDecay));
        p.assign(next);
      });
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}
