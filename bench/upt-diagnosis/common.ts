// Shared set-up for the UPT diagnosis (cells/prompts/README.md, *UPT's scale*): mini-CLIP, the quickstart's
// CIFAR-10 task, a persistent cache under out/.
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { initBackend, load, backboneOf } from '../../cells/model/index.ts';
import { bundledSource, fewShotTask, type PromptTask } from '../../cells/prompts/task.ts';
import { makeTrainer, taskData, disposeBatch } from '../../cells/prompts/train.ts';
import { resolveConfig } from '../../cells/prompts/registry.ts';
import type { PromptTrainer } from '../../cells/prompts/trainer.ts';
import { testCell } from '../../test/prompts/helpers.ts';

await initBackend('wasm');
export const MINI = fileURLToPath(new URL('../../data/models/mini-clip/', import.meta.url));
export const model = await load(MINI);
export const backbone = await backboneOf(model);
export const cell = testCell(fileURLToPath(new URL('../../out/upt-diagnosis-cache/', import.meta.url)));
export const testPerClass = (name: string) => (name.startsWith('gtsrb') ? 10 : 50);
export async function quickTask(name: string, shots = 4, seed = 1): Promise<PromptTask> {
  const s = await bundledSource(name as never);
  return cell.run(async () => {
    const task = await fewShotTask(model, s, { shots, seed, testPerClass: testPerClass(name) });
    // testAcc reads features synchronously for a feature-trained method.
    await task.loadFeatures();
    return task;
  });
}
export function testAcc(trainer: PromptTrainer, task: PromptTask, split: 'test' | 'train' = 'test'): number {
  const data = taskData(task, trainer.input, split);
  let ok = 0;
  for (let s = 0; s < data.count; s += 100) {
    const rows = Array.from({ length: Math.min(100, data.count - s) }, (_, i) => s + i);
    const { batch } = data.batch(rows);
    const p = tf.tidy(() => trainer.logits(batch).argMax(-1).dataSync());
    rows.forEach((r, i) => { if (p[i] === data.labels[r]) ok++; });
    disposeBatch(batch);
  }
  return ok / data.count;
}
export function fresh(task: PromptTask, method: string, config: Record<string, unknown>, seed: number): PromptTrainer {
  return makeTrainer(backbone, task, method, resolveConfig(method, config), seed);
}
