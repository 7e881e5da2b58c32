// TaI-DPT's two training phases timed apart, outside the notebook and the cache (bench/README.md, issue #22):
// the frozen caption features (`captionFeatures`) and the 160 steps (`fitDualPrompts`), wall and process CPU,
// with SHA-256 prefixes of the features and the trained prompts (to tell a bit-identical change from one
// that rounds differently) and the per-epoch losses.
//   node --import tsx bench/taidpt-phases.ts        EPOCHS=20 (the recipe's)
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../cells/library.ts';
import { loadCorpus } from '../cells/data/corpus.ts';
import { backboneOf, type CLIPModel } from '../cells/model/index.ts';
import { textTrainingSet } from '../cells/prompts/caption-labels.ts';
import { CIFAR10_SYNONYMS } from '../cells/prompts/tai-synonyms.ts';
import { captionFeatures, fitDualPrompts, TaIDPTPrompts, TAIDPT_DEFAULTS, TAIDPT_OPTIM } from '../cells/prompts/taidpt.ts';
const h = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
const epochs = Number(process.env.EPOCHS ?? '20');
const model = await loadModel('mini-clip') as CLIPModel;
const set = textTrainingSet((await loadCorpus('wordnet-cifar10')).map((t: { text: string }) => t.text), CIFAR10_SYNONYMS);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let t0 = performance.now(), c0 = cpu();
const feats = await captionFeatures(model, set.texts, TAIDPT_DEFAULTS.maxTokens);
console.log(`captionFeatures ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${(cpu() - c0).toFixed(2)} CPU s; tokens ${h(feats.tokens)} global ${h(feats.global)} mask ${h(feats.mask)}`);
const backbone = await backboneOf(model);
const prompts = new TaIDPTPrompts(backbone, set.classNames, TAIDPT_DEFAULTS, 1);
const ctx = { signal: new AbortController().signal, progress: () => undefined, log: () => undefined };
t0 = performance.now(); c0 = cpu();
const fit = await fitDualPrompts(prompts, { ...feats, L: feats.T, local: feats.tokens, labels: set.labels, C: set.classNames.length }, TAIDPT_DEFAULTS.tauText,
  { optim: TAIDPT_OPTIM, epochs, seed: 1 }, ctx, { label: 'x', format: 'x' });
console.log(`fit ${epochs} epochs ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${(cpu() - c0).toFixed(2)} CPU s; ${fit.steps} steps; loss ${fit.curve.map((p) => p.loss.toFixed(5)).join(' ')}`);
console.log(`prompts ${h(prompts.ctxGlobal.dataSync() as Float32Array)} ${h(prompts.ctxLocal.dataSync() as Float32Array)}`);
