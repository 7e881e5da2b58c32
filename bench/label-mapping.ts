// Visual reprogramming's mapping comparison for cells/prompts/README.md: mini-CLIP, bundled datasets, 3 seeds.
//   node --import tsx bench/label-mapping.ts cifar10,fashion-mnist,mnist 10   (datasets, epochs; cache: $VR_CACHE or /tmp/vr/cache)
import * as P from '../cells/prompts/index.ts';
import { load } from '../cells/model/index.ts';
import { testCell } from '../test/prompts/helpers.ts';
const datasets = (process.argv[2] ?? 'cifar10,fashion-mnist,mnist').split(',') as ('cifar10' | 'mnist' | 'fashion-mnist' | 'gtsrb')[];
const epochs = Number(process.argv[3] ?? 10);
const cell = testCell(process.env.VR_CACHE ?? '/tmp/vr/cache');
const out: Record<string, unknown>[] = [];
await cell.run(async () => {
  const model = await load('mini-clip', { backend: 'wasm' });
  for (const name of datasets) {
    const src = await P.bundledSource(name);
    for (const seed of [1, 2, 3]) {
      const task = await P.fewShotTask(model, src, { shots: 16, seed, poolPerClass: 24, testPerClass: 50 });
      const zs = await P.zeroShotPrompt(model, task);
      const zst = await P.zeroShotTransfer(model, task);
      out.push({ dataset: name, seed, row: 'zero-shot (own head)', top1: zs.top1 }, { dataset: name, seed, row: 'zero-shot transfer (semantic, no prompt)', top1: zst.top1 });
      if (seed === 1) console.log(name, 'semantic mapping', JSON.stringify(zst.mapping));
      for (const mapping of ['semantic', 'frequency', 'random']) {
        const tr = await P.trainPrompt(model, task, { method: 'visual-reprogramming', config: { design: 'frame', mapping }, epochs, optim: { ...P.REPROGRAMMING_PRESETS.bahng.optim, batchSize: 32 } });
        const ev = await P.evaluatePrompt(model, task, tr);
        out.push({ dataset: name, seed, row: `frame + ${mapping}`, top1: ev.top1 });
        console.log(name, seed, mapping, ev.top1, tr.curve.map((c) => c.loss.toFixed(2)).join(' '));
      }
    }
  }
});
const groups = new Map<string, number[]>();
for (const r of out) { const k = `${r.dataset} | ${r.row}`; groups.set(k, [...(groups.get(k) ?? []), r.top1 as number]); }
for (const [k, v] of groups) {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
  console.log(`${k} | ${(m * 100).toFixed(1)} ± ${(sd * 100).toFixed(1)} | ${v.map((x) => (x * 100).toFixed(1)).join(' / ')}`);
}
