// Child process for the resume-after-kill test: trains a CoOp prompt into the cache directory given as
// argv[2]; the parent kills it with SIGKILL mid-run.
import { initBackend } from '../../cells/model/backend.ts';
import { fewShotTask } from '../../cells/prompts/task.ts';
import { trainPrompt } from '../../cells/prompts/train.ts';
import { fixtureModel, mnistSmall, testCell } from './helpers.ts';
import { RESUME_RUN } from './resume-run.ts';

await initBackend('wasm');
const model = await fixtureModel();
const source = await mnistSmall();
const cell = testCell(process.argv[2]);
await cell.run(async () => {
  const task = await fewShotTask(model, source, RESUME_RUN.task);
  process.stdout.write('training\n');
  await trainPrompt(model, task, RESUME_RUN.train);
  process.stdout.write('finished\n');
});
