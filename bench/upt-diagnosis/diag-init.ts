// Epoch-0 diagnostics on the quickstart's CIFAR-10 task (4-shot, seed 1, 50 test/class):
// norms of UPT's text context / visual prompts vs real embeddings, accuracy before the first step,
// per-half gradient norms at init.
// node --import tsx bench/upt-diagnosis/diag-init.ts [dataset]
import * as tf from '@tensorflow/tfjs';
import { backbone, cell, quickTask, testAcc, fresh, model } from './common.ts';
import { zeroShotPrompt } from '../../cells/prompts/evaluate.ts';
import { wordEmbeddings } from '../../cells/prompts/text-prompt.ts';
import { taskData, disposeBatch } from '../../cells/prompts/train.ts';
import { softmaxCrossEntropy } from '../../cells/model/ops/index.ts';
import type { UPTTrainer } from '../../cells/prompts/upt.ts';

const name = process.argv[2] ?? 'cifar10';
const task = await quickTask(name);
const zs = await cell.run(() => zeroShotPrompt(model, task));
console.log(`${name}: zero-shot (template) ${(zs.top1 * 100).toFixed(1)}%  n=${zs.n}`);
const rowNorms = (t: tf.Tensor) => tf.tidy(() => Array.from(t.reshape([-1, t.shape.at(-1)!]).norm('euclidean', -1).dataSync()));
const fmt = (a: number[]) => `mean ${(a.reduce((x, y) => x + y, 0) / a.length).toFixed(3)} [${Math.min(...a).toFixed(3)}, ${Math.max(...a).toFixed(3)}]`;
const words = wordEmbeddings(backbone, 'a photo of a');
console.log('word embeddings "a photo of a" per-token L2:', fmt(rowNorms(words)));
const pos = (model as any).variables.get('text_model.embeddings.position_embedding.weight') as tf.Tensor;
console.log('text positional embeddings per-row L2:', fmt(rowNorms(pos.slice([0, 0], [20, -1]))));
const vpos = (model as any).variables.get('vision_model.embeddings.position_embedding.weight') as tf.Tensor;
console.log('vision positional per-row L2:', fmt(rowNorms(vpos)));
const cls = (model as any).variables.get('vision_model.embeddings.class_embedding') as tf.Tensor;
console.log('vision class embedding L2:', fmt(rowNorms(cls.reshape([1, -1]))));
for (const seed of [1, 2, 3]) {
  const upt = fresh(task, 'upt', { n: 4 }, seed) as UPTTrainer;
  const p = tf.tidy(() => { const q = upt.prompts(false); return { ctx: tf.keep(q.ctx), sh: tf.keep(q.shallow) }; });
  console.log(`seed ${seed} UPT ctx per-token L2: ${fmt(rowNorms(p.ctx))}; shallow visual L2: ${fmt(rowNorms(p.sh))}; unified raw: ${fmt(rowNorms((upt as any).vars.unified))}`);
  const uq = fresh(task, 'upt', { n: 4, releasedQuirk: true }, seed);
  const coopR = fresh(task, 'coop', { nCtx: 4 }, seed);
  const coopCS = fresh(task, 'coop', { nCtx: 4, classSpecific: true }, seed);
  const coopW = fresh(task, 'coop', { init: 'a photo of a' }, seed);
  const vpt = fresh(task, 'vpt', { tokens: 4, depth: 'deep' }, seed);
  console.log(`seed ${seed} epoch-0 test top-1: UPT ${(testAcc(upt, task) * 100).toFixed(1)}  UPT-quirk ${(testAcc(uq, task) * 100).toFixed(1)}  CoOp rand ${(testAcc(coopR, task) * 100).toFixed(1)}  CoOp CSC rand ${(testAcc(coopCS, task) * 100).toFixed(1)}  CoOp "a photo of a" ${(testAcc(coopW, task) * 100).toFixed(1)}  VPT deep ${(testAcc(vpt, task) * 100).toFixed(1)}`);
  // gradient norms at init on the whole 40-image training set (no dropout)
  const data = taskData(task, 'pixels', 'train');
  const { batch } = data.batch(Array.from({ length: data.count }, (_, i) => i));
  const labels = tf.tensor1d(batch.labels, 'int32');
  const vars = upt.variables();
  const { value, grads } = tf.variableGrads(() => softmaxCrossEntropy(upt.logits(batch, false), labels), vars);
  const named = Object.entries((upt as any).vars as Record<string, tf.Variable>);
  const gn = (k: string) => { const v = (upt as any).vars[k] as tf.Variable; const g = grads[v.name]; return g ? g.norm().dataSync()[0] : 0; };
  const uni = (upt as any).vars.unified as tf.Variable;
  const gu = grads[uni.name];
  const gText = tf.tidy(() => gu.slice([0, 0], [4, -1]).norm().dataSync()[0]), gVis = tf.tidy(() => gu.slice([4, 0], [4, -1]).norm().dataSync()[0]);
  // gradient w.r.t. the layer outputs (text ctx vs visual half)
  const { grads: g2 } = tf.tidy(() => {
    const out = upt.prompts(false);
    const ctxV = tf.variable(out.ctx), shV = tf.variable(out.shallow);
    const r = tf.variableGrads(() => softmaxCrossEntropy(
      (require_cos)(backbone.encodeImage(batch.pixels!, { shallow: shV }), backbone.encodeTextEmbeddings(assembleEnd(upt, ctxV), (upt as any).parts.eot)), labels), [ctxV, shV]);
    return { grads: { ctx: tf.keep(r.grads[ctxV.name].norm()), sh: tf.keep(r.grads[shV.name].norm()) } };
  });
  console.log(`seed ${seed} init loss ${value.dataSync()[0].toFixed(3)}; |grad unified text half| ${gText.toExponential(2)}  |visual half| ${gVis.toExponential(2)}; |dL/d ctx out| ${g2.ctx.dataSync()[0].toExponential(2)} |dL/d shallow out| ${g2.sh.dataSync()[0].toExponential(2)}; layer:`,
    named.filter(([k]) => k !== 'unified').map(([k]) => `${k}=${gn(k).toExponential(1)}`).join(' '));
  tf.dispose([value, labels, ...Object.values(grads)]);
  disposeBatch(batch);
  for (const t of [upt, uq, coopR, coopCS, coopW, vpt]) t.dispose();
}
import { assemblePrompts } from '../../cells/prompts/text-prompt.ts';
import { cosineLogits as require_cos0 } from '../../cells/prompts/cosine-logits.ts';
function require_cos(img: tf.Tensor2D, text: tf.Tensor2D) { return require_cos0(img, text, backbone.logitScale); }
function assembleEnd(upt: any, ctx: tf.Tensor) { return assemblePrompts(upt.parts, ctx, 'end'); }
