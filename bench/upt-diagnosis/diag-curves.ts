// Per-epoch training curves on the quickstart's task (default CIFAR-10, 4-shot, seed 1):
// node --import tsx bench/upt-diagnosis/diag-curves.ts <dataset> <seed> <epochs> <evalEvery> '<json [{label, method, config, optim}]>'
import * as tf from '@tensorflow/tfjs';
import { quickTask, testAcc, fresh, cell, model } from './common.ts';
import { trainLoop, taskData } from '../../cells/prompts/train.ts';
import { OPTIM_DEFAULTS } from '../../cells/prompts/optim.ts';
import { zeroShotPrompt } from '../../cells/prompts/evaluate.ts';

const [name = 'cifar10', seedS = '1', epochsS = '30', everyS = '5', specS] = process.argv.slice(2);
const seed = Number(seedS), epochs = Number(epochsS), every = Number(everyS);
const specs = JSON.parse(specS!) as { label: string; method: string; config: Record<string, unknown>; optim: Record<string, unknown> }[];
const task = await quickTask(name, 4, seed);
const zs = await cell.run(() => zeroShotPrompt(model, task));
console.log(`${name} seed ${seed}: zero-shot ${(zs.top1 * 100).toFixed(1)}%, ${task.train.count} train images`);
for (const s of specs) {
  const tr = fresh(task, s.method, s.config, seed);
  const optim = { ...OPTIM_DEFAULTS, ...s.optim };
  const extra = () => {
    const t = tr as any;
    if (!t.prompts || t.config.variant !== 'upt') return '';
    return tf.tidy(() => {
      const p = t.prompts(false);
      const all = tf.concat([p.ctx], 0);
      const n = all.div(all.norm('euclidean', -1, true));
      const cos = n.matMul(n.transpose()).dataSync();
      const k = all.shape[0]; let sum = 0, c = 0;
      for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) { sum += cos[i * k + j]; c++; }
      const u = t.vars.unified as tf.Tensor;
      return ` |U| ${u.norm('euclidean', -1).mean().dataSync()[0].toFixed(2)} |ob| ${t.vars['layer.ob'].norm().dataSync()[0].toFixed(2)} |vb| ${t.vars['layer.vb'].norm().dataSync()[0].toFixed(2)} ctx-cos ${(sum / c).toFixed(3)}`;
    });
  };
  const perEpoch = Math.floor(task.train.count / optim.batchSize) || 1;
  const lines: string[] = [`  epoch 0: test ${(testAcc(tr, task) * 100).toFixed(1)}${extra()}`];
  let epochSeen = 0;
  const t0 = Date.now();
  const r = await trainLoop(tr, taskData(task, tr.input), {
    epochs, optim, seed, signal: new AbortController().signal, label: s.label,
    progress: (_f, msg) => {
      const m = /epoch (\d+)\/\d+ step (\d+)\/(\d+) loss ([\d.]+) acc ([\d.]+)/.exec(msg)!;
      const e = Number(m[1]);
      if (Number(m[2]) === Number(m[3]) && e !== epochSeen) {
        epochSeen = e;
        if (e % every === 0 || e <= 2 || e === epochs) lines.push(`  epoch ${e}: last-step loss ${m[4]} test ${(testAcc(tr, task) * 100).toFixed(1)}${extra()}`);
      }
    },
  });
  console.log(`${s.label} (${JSON.stringify(s.config)} ${JSON.stringify(s.optim)}), ${perEpoch} steps/epoch, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log('  curve loss/acc per epoch:', r.curve.map((c) => `${c.loss.toFixed(2)}/${(c.acc * 100).toFixed(0)}`).join(' '));
  console.log(lines.join('\n'));
  tr.dispose();
}
