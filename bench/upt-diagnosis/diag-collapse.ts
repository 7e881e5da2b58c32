// Where the collapse sits: train UPT with the released scale (init N(0, 0.02²), unscaled context) on the
// quickstart recipe for 3 epochs, then look at the class text features and at each half on its own.
// node --import tsx bench/upt-diagnosis/diag-collapse.ts
import * as tf from '@tensorflow/tfjs';
import { quickTask, fresh, backbone } from './common.ts';
import { trainLoop, taskData, disposeBatch } from '../../cells/prompts/train.ts';
import { OPTIM_DEFAULTS } from '../../cells/prompts/optim.ts';
import { assemblePrompts, classTextFeatures } from '../../cells/prompts/text-prompt.ts';
import { cosineLogits } from '../../cells/prompts/cosine-logits.ts';

const task = await quickTask('cifar10');
for (const cfg of [{ initStd: 0.02, matchTextScale: false }, { initStd: 1, matchTextScale: true }]) {
  const tr = fresh(task, 'upt', cfg, 1) as any;
  await trainLoop(tr, taskData(task, 'pixels'), { epochs: 30, optim: { ...OPTIM_DEFAULTS, batchSize: 8, warmupEpochs: 0, lr: 0.1 }, seed: 1, signal: new AbortController().signal, label: 'x', progress: () => undefined });
  const frozenText = classTextFeatures(backbone, task.classNames, ['a photo of a {}.']);
  const p = tr.prompts(false);
  const text = backbone.encodeTextEmbeddings(assemblePrompts(tr.parts, p.ctx, 'end'), tr.parts.eot);
  const tn = text.div(text.norm('euclidean', -1, true));
  const C = task.classNames.length;
  const cos = tn.matMul(tn.transpose()).dataSync();
  let s = 0; for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) if (i !== j) s += cos[i * C + j];
  const data = taskData(task, 'pixels', 'test');
  const acc = (img: (b: tf.Tensor4D) => tf.Tensor2D, txt: tf.Tensor2D) => {
    let ok = 0;
    for (let st = 0; st < data.count; st += 100) {
      const rows = Array.from({ length: Math.min(100, data.count - st) }, (_, i) => st + i);
      const { batch } = data.batch(rows);
      const pr = tf.tidy(() => cosineLogits(img(batch.pixels!), txt, backbone.logitScale).argMax(-1).dataSync());
      rows.forEach((r, i) => { if (pr[i] === data.labels[r]) ok++; });
      disposeBatch(batch);
    }
    return ((ok / data.count) * 100).toFixed(1);
  };
  const withV = (b: tf.Tensor4D) => backbone.encodeImage(b, { shallow: p.shallow });
  const noV = (b: tf.Tensor4D) => backbone.encodeImage(b);
  console.log(`${JSON.stringify(cfg)} after 30 epochs at lr 0.1: mean off-diagonal cos of the 10 class text features ${(s / (C * (C - 1))).toFixed(4)} ` +
    `(frozen "a photo of a {}." features: see below); test top-1 both halves ${acc(withV, text)}, learned text + no visual prompts ${acc(noV, text)}, ` +
    `frozen template text + learned visual prompts ${acc(withV, frozenText)}, ctx per-token L2 ${Array.from(p.ctx.norm('euclidean', -1).dataSync() as Float32Array).map((x) => x.toFixed(2)).join(',')}`);
  const fn = frozenText.matMul(frozenText.transpose()).dataSync();
  let f = 0; for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) if (i !== j) f += fn[i * C + j];
  console.log(`  frozen template class features: mean off-diagonal cos ${(f / (C * (C - 1))).toFixed(4)}`);
  tr.dispose();
}
