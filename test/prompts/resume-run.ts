// The run shared by the resume test and its child process.
export const RESUME_RUN = {
  task: { shots: 2, seed: 4, poolPerClass: 6, testPerClass: 4 },
  train: { method: 'coop', config: { nCtx: 2 }, epochs: 30, optim: { batchSize: 4, lr: 0.01 } },
};
