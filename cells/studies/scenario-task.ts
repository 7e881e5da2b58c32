// A scenario as the task a learner trains and is tested on. Unlike a K-shot task, training uses every image
// of the scenario's training view (a long-tailed set must keep its tail), and the test subset is the whole
// test view. Pool, features and training are the prompt layer's cached stages, so two scenarios with the
// same training view train each method once, and a scenario's test set can score a method trained on another
// scenario with the same classes (`evaluatePrompt(model, scenarioTask(…), trained)`).
import { backboneOf, type ModelLike } from '../model/index.ts';
import { imageFeatures, promptPool, taskFromPool, type PromptTask, type TaskSource } from '../prompts/task.ts';
import type { Scenario } from './scenarios.ts';

export async function scenarioTask(modelLike: ModelLike, scenario: Scenario, opts: { seed?: number } = {}): Promise<PromptTask> {
  const model = await backboneOf(modelLike);
  const seed = opts.seed ?? 1;
  const source: TaskSource = { name: scenario.name, classNames: scenario.classNames, train: scenario.train, test: scenario.test };
  const testCounts = new Array<number>(scenario.classNames.length).fill(0);
  for (const l of scenario.test.rows.getChild('label')!.toArray() as Int32Array) testCounts[l]++;
  const maxTrain = Math.max(...scenario.trainCounts);
  // Per-class caps at the largest class: the pool is then every training image and every test image.
  const pool = await promptPool(source, { poolPerClass: maxTrain, testPerClass: Math.max(...testCounts) });
  const feats = await imageFeatures(model, source, pool);
  const split = { train: Int32Array.from(pool.trainIds, (_, r) => r), val: new Int32Array(0) };
  return taskFromPool(model, source, pool, feats, split, { shots: maxTrain, seed });
}
