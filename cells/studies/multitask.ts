// Multitask vision-language prompt tuning (Shen et al., "Multitask Vision-Language Prompt Tuning", MVLPT)
// on the prompt learners of cells/prompts, as cached stages:
//
//   (i)  source → target: one prompt trained on the union of the source tasks, then the target task's
//        prompt initialised from it and fine-tuned few-shot. Transfer gain = accuracy(source init) −
//        accuracy(default init), with the same K, seed, epochs and optimiser.
//   (ii) joint tuning: one prompt trained on a group of target tasks; each task's accuracy against its
//        single-task prompt under the same K, seed and epochs.
//
// Task sampling (what a multitask batch holds), following MVLPT's released trainer (trainers/mvlpt.py,
// MVLPTCOOPDataManager): every task's few-shot examples are pooled into one training set with label
// offsets, and batches are drawn by one uniform shuffle of the pool (Dassl's RandomSampler). A batch thus
// mixes tasks, each task in proportion to its number of examples (K × its classes); there is no per-task
// balancing. The released code then computes logits over the union of all tasks' classes and, by
// default, takes the cross-entropy over that union; the issue asks that each task be classified against
// its own class names, so here every row's logits of other tasks' classes are masked out (−1e4 before the
// softmax). The cross-entropy is then exactly each row's own-task cross-entropy. (MVLPT's optional
// MULTITASK_LABEL_PERTASK multiplies the other logits by 0 instead, which leaves them in the softmax.)
//
// Which methods can share a prompt across tasks: CoOp with a unified context, VPT and UPT learn prompts
// that do not depend on the classes (the class names enter only through frozen text), so one prompt
// serves every task and initialises any other. Class-specific CoOp (one context per class) and the linear
// probe (one weight row per class) are tied to one label space: there is nothing to share with a task that
// has other classes, and they are rejected with an error that says so.
import { join } from 'node:path';
import { Float64, Int32, Table, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import { stage, keyOf, type StageSpec } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { currentBackend, type PromptBackbone } from '../model/index.ts';
import { getTrainer, resolveConfig } from '../prompts/registry.ts';
import { fewShotTask, type PromptTask } from '../prompts/task.ts';
import { makeTrainer, trainLoop, trainPrompt, type TrainedPrompt } from '../prompts/train.ts';
import { evaluatePrompt } from '../prompts/evaluate.ts';
import type { TaskClasses } from '../prompts/trainer.ts';
import { OPTIM_DEFAULTS, epochsForShots, type OptimConfig } from '../prompts/optim.ts';
import '../prompts/methods.ts';
import { pooledData, TaskMaskedTrainer } from './pooled-data.ts';
import { taskSource, type StudyTask } from './tasks.ts';

/** A prompt learner and its training budget, as a study names it. */
export interface PromptMethod {
  /** Registry name: 'coop', 'vpt', 'upt' or 'upt-mvlpt'. */
  method: string;
  config?: Record<string, unknown>;
  /** Default: CoOp's schedule by shots. */
  epochs?: number;
  optim?: Partial<OptimConfig>;
}

/** The complete method configuration that joins every cache key (defaults filled in). */
export interface ResolvedMethod {
  method: string;
  config: Record<string, unknown>;
  optim: OptimConfig;
  epochs: number;
}

/** Few-shot setting of one run. */
export interface FewShotSetting {
  shots: number;
  seed: number;
  /** Evaluation images per class (a fixed subset of the task's evaluation split). Default 30. */
  testPerClass?: number;
}

export const DEFAULT_TEST_PER_CLASS = 30;
/** Logit added to other tasks' classes in a multitask batch: exp(−1e4) is 0 in float32. */
export function resolveMethod(m: PromptMethod, shots: number): ResolvedMethod {
  const epochs = m.epochs ?? epochsForShots(shots);
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`${m.method}: epochs must be a positive integer, got ${epochs}`);
  return { method: m.method, config: resolveConfig(m.method, m.config), optim: { ...OPTIM_DEFAULTS, ...m.optim }, epochs };
}

/** Throws, saying why, for methods whose learned state is tied to one task's classes. */
export function assertShareable(m: ResolvedMethod, what: string): void {
  // Methods outside the shared SGD loop (`fit`: the linear probe) learn per-class weights of one task.
  if (m.method === 'linear-probe' || getTrainer(m.method).create().fit) {
    throw new Error(`${what}: ${m.method} learns one weight row per class of one task, so it has nothing to share with (or initialise) a task with other classes; use coop, vpt or upt`);
  }
  if (m.method === 'coop' && m.config.classSpecific) {
    throw new Error(`${what}: class-specific CoOp learns one context per class of one task, so it cannot be shared across tasks; set config.classSpecific = false (a unified context)`);
  }
}

/** The few-shot PromptTask of a study task: pool → cached features → K-shot split (prompts layer stages). */
export function promptTaskFor(model: PromptBackbone, task: StudyTask, s: FewShotSetting): Promise<PromptTask> {
  return fewShotTask(model, taskSource(task), {
    shots: s.shots, seed: s.seed, poolPerClass: task.poolPerClass, testPerClass: s.testPerClass ?? DEFAULT_TEST_PER_CLASS,
  });
}

/** Single-task training from the default initialisation or from `init` (the prompts layer's stage). */
export async function trainOnTask(model: PromptBackbone, task: StudyTask, m: PromptMethod, s: FewShotSetting, init?: TrainedPrompt): Promise<TrainedPrompt> {
  const r = resolveMethod(m, s.shots);
  const ptask = await promptTaskFor(model, task, s);
  return trainPrompt(model, ptask, { method: r.method, config: r.config, epochs: r.epochs, optim: r.optim, seed: s.seed, init });
}

/** Tasks in fingerprint order: a set of tasks gives one prompt whatever order a user lists them in. */
function canonical(tasks: readonly StudyTask[], what: string): StudyTask[] {
  if (tasks.length === 0) throw new Error(`${what}: no tasks`);
  const seen = new Set<string>();
  for (const t of tasks) {
    if (seen.has(t.fingerprint)) throw new Error(`${what}: task "${t.name}" is listed twice`);
    seen.add(t.fingerprint);
  }
  return [...tasks].sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1));
}

const modelPin = (model: PromptBackbone) => ({ kind: 'model', name: model.name, fingerprint: model.fingerprint });

export function multitaskPromptSpec(model: PromptBackbone, tasks: readonly StudyTask[], r: ResolvedMethod, s: FewShotSetting): StageSpec {
  return {
    // A training run like trainPrompt's: on a cluster it is a job of its own, not work for the driver.
    name: 'multitaskPrompt', version: 1, heavy: true,
    params: { ...r, shots: s.shots, seed: s.seed, testPerClass: s.testPerClass ?? DEFAULT_TEST_PER_CLASS, sampling: 'mvlpt-pooled', taskMask: true },
    inputs: [`clip:${model.fingerprint}`, ...tasks.map((t) => `task:${t.fingerprint}`)],
    pins: [modelPin(model)],
  };
}

/**
 * One prompt trained on the union of `tasks` (MVLPT pooled sampling, each row classified against its own
 * task's classes). One task: exactly the single-task `trainPrompt` (same cache entry). Cached, resumable
 * from its per-epoch checkpoint, cancellable.
 */
export async function multitaskPrompt(model: PromptBackbone, tasks: readonly StudyTask[], m: PromptMethod, s: FewShotSetting): Promise<TrainedPrompt> {
  const list = canonical(tasks, 'multitaskPrompt');
  if (list.length === 1) return trainOnTask(model, list[0], m, s);
  const r = resolveMethod(m, s.shots);
  assertShareable(r, 'multitaskPrompt');
  return stage(multitaskPromptSpec(model, list, r, s), valueCodec<TrainedPrompt>(), async (ctx) => {
    const ptasks: PromptTask[] = [];
    for (const t of list) ptasks.push(await promptTaskFor(model, t, s));
    const union: TaskClasses = { name: list.map((t) => t.name).join(' + '), classNames: ptasks.flatMap((t) => t.classNames) };
    const masked = new TaskMaskedTrainer(makeTrainer(model, union, r.method, r.config, s.seed));
    // The tasks' frozen features are computed on demand, for a method that reads them.
    if (masked.input === 'features') for (const t of ptasks) await t.loadFeatures();
    const label = `multitaskPrompt(${r.method} on ${union.name}, ${s.shots}-shot, seed ${s.seed})`;
    try {
      const out = await trainLoop(masked, pooledData(ptasks, masked.input, masked), {
        epochs: r.epochs, optim: r.optim, seed: s.seed, signal: ctx.signal, label,
        progress: (f, msg) => ctx.progress(f, msg),
        checkpoint: join(await ctx.workDir(), 'checkpoint.safetensors'),
      });
      if (out.resumedAfterEpoch >= 0) ctx.log(`${label}: resumed after epoch ${out.resumedAfterEpoch + 1} from its checkpoint`);
      return {
        method: r.method, config: r.config, optim: r.optim, epochs: r.epochs, seed: s.seed, task: union.name, classNames: union.classNames,
        shots: s.shots, modelFingerprint: model.fingerprint, taskKey: keyOf(ptasks.map((t) => t.key)), state: masked.save(),
        curve: out.curve, backend: currentBackend(), resumedAfterEpoch: out.resumedAfterEpoch, steps: out.steps, msPerStep: out.msPerStep,
      };
    } finally {
      masked.dispose();
    }
  });
}

/** Accuracy of one run on a task's evaluation subset. */
export interface RunAccuracy {
  task: string;
  method: string;
  shots: number;
  seed: number;
  top1: number;
  perClass: number[];
  n: number;
  /** Training steps taken (same budget check: equal epochs give these per task size). */
  steps: number;
}

const accCodec = valueCodec<RunAccuracy>();

function accuracyParams(r: ResolvedMethod, s: FewShotSetting) {
  return { ...r, shots: s.shots, seed: s.seed, testPerClass: s.testPerClass ?? DEFAULT_TEST_PER_CLASS };
}

export function baselineSpec(model: PromptBackbone, target: StudyTask, r: ResolvedMethod, s: FewShotSetting): StageSpec {
  return {
    name: 'transferBaseline', version: 1, params: accuracyParams(r, s),
    inputs: [`clip:${model.fingerprint}`, `task:${target.fingerprint}`], pins: [modelPin(model)],
  };
}

/** Stage: the target's prompt from the method's default initialisation, trained and evaluated (gain's reference). */
export function defaultInitAccuracy(model: PromptBackbone, target: StudyTask, m: PromptMethod, s: FewShotSetting): Promise<RunAccuracy> {
  const r = resolveMethod(m, s.shots);
  return stage(baselineSpec(model, target, r, s), accCodec, async () => {
    const ptask = await promptTaskFor(model, target, s);
    const trained = await trainPrompt(model, ptask, { method: r.method, config: r.config, epochs: r.epochs, optim: r.optim, seed: s.seed });
    const ev = await evaluatePrompt(model, ptask, trained);
    return { task: target.name, method: r.method, shots: s.shots, seed: s.seed, top1: ev.top1, perClass: ev.perClass, n: ev.n, steps: trained.steps };
  });
}

/** Budget of the source prompt when it differs from the target's (MVLPT may train sources longer). */
export interface SourceBudget {
  shots?: number;
  epochs?: number;
}

export function transferCellSpec(model: PromptBackbone, sources: readonly StudyTask[], target: StudyTask, r: ResolvedMethod, s: FewShotSetting, source: SourceBudget = {}): StageSpec {
  return {
    name: 'transferCell', version: 1,
    params: { ...accuracyParams(r, s), sourceShots: source.shots ?? s.shots, sourceEpochs: source.epochs ?? r.epochs },
    inputs: [`clip:${model.fingerprint}`, ...sources.map((t) => `source:${t.fingerprint}`), `target:${target.fingerprint}`],
    pins: [modelPin(model)],
  };
}

/**
 * Stage: the target prompt initialised from the (multitask) source prompt and fine-tuned few-shot, then
 * evaluated. Keyed by (method config, source task fingerprints, target fingerprint, K, seed, model).
 */
export function sourceInitAccuracy(
  model: PromptBackbone, sources: readonly StudyTask[], target: StudyTask, m: PromptMethod, s: FewShotSetting, source: SourceBudget = {},
): Promise<RunAccuracy> {
  const list = canonical(sources, 'sourceInitAccuracy');
  const r = resolveMethod(m, s.shots);
  assertShareable(r, 'sourceInitAccuracy');
  return stage(transferCellSpec(model, list, target, r, s, source), accCodec, async () => {
    const srcSetting: FewShotSetting = { ...s, shots: source.shots ?? s.shots };
    const srcMethod: PromptMethod = { ...m, epochs: source.epochs ?? r.epochs };
    const sourcePrompt = await multitaskPrompt(model, list, srcMethod, srcSetting);
    const ptask = await promptTaskFor(model, target, s);
    const trained = await trainPrompt(model, ptask, { method: r.method, config: r.config, epochs: r.epochs, optim: r.optim, seed: s.seed, init: sourcePrompt });
    const ev = await evaluatePrompt(model, ptask, trained);
    return { task: target.name, method: r.method, shots: s.shots, seed: s.seed, top1: ev.top1, perClass: ev.perClass, n: ev.n, steps: trained.steps };
  });
}

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one seed. */
  std: number;
  n: number;
}

export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export interface TransferGain {
  sources: string[];
  target: string;
  method: string;
  shots: number;
  seeds: number[];
  /** Per seed, paired: accuracy from the source init, from the default init, and their difference. */
  perSeed: { seed: number; sourceInit: number; defaultInit: number; gain: number }[];
  gain: MeanStd;
  sourceInit: MeanStd;
  defaultInit: MeanStd;
}

/** MVLPT §(i): transfer gain of a (multi)source prompt on a target, paired over seeds. */
export async function transferGain(
  model: PromptBackbone, sources: readonly StudyTask[], target: StudyTask, m: PromptMethod,
  opts: { shots: number; seeds: readonly number[]; testPerClass?: number; source?: SourceBudget },
): Promise<TransferGain> {
  const perSeed: TransferGain['perSeed'] = [];
  for (const seed of opts.seeds) {
    const s: FewShotSetting = { shots: opts.shots, seed, testPerClass: opts.testPerClass };
    const init = await sourceInitAccuracy(model, sources, target, m, s, opts.source);
    const base = await defaultInitAccuracy(model, target, m, s);
    perSeed.push({ seed, sourceInit: init.top1, defaultInit: base.top1, gain: init.top1 - base.top1 });
  }
  return {
    sources: sources.map((t) => t.name), target: target.name, method: m.method, shots: opts.shots, seeds: [...opts.seeds], perSeed,
    gain: meanStd(perSeed.map((p) => p.gain)), sourceInit: meanStd(perSeed.map((p) => p.sourceInit)), defaultInit: meanStd(perSeed.map((p) => p.defaultInit)),
  };
}

export function jointEvalSpec(model: PromptBackbone, group: readonly StudyTask[], task: StudyTask, r: ResolvedMethod, s: FewShotSetting): StageSpec {
  return {
    name: 'jointTaskAccuracy', version: 1, params: accuracyParams(r, s),
    inputs: [`clip:${model.fingerprint}`, ...group.map((t) => `group:${t.fingerprint}`), `task:${task.fingerprint}`],
    pins: [modelPin(model)],
  };
}

export interface JointResult {
  method: string;
  shots: number;
  seeds: number[];
  tasks: string[];
  /** One row per (task, seed): joint accuracy, single-task accuracy, delta. */
  runs: { task: string; seed: number; joint: number; single: number; delta: number }[];
  /** One row per task: mean ± std over seeds. */
  summary: { task: string; joint: MeanStd; single: MeanStd; delta: MeanStd }[];
  /** Tidy: task, seed, joint, single, delta (Arrow, for SQL and plots). */
  table: Table;
}

/**
 * MVLPT §(ii): one prompt trained jointly on `tasks` (pooled sampling, same epochs), evaluated on each
 * task, against each task's single-task prompt with the same K, seed and epochs.
 */
export async function jointTuning(
  model: PromptBackbone, tasks: readonly StudyTask[], m: PromptMethod, opts: { shots: number; seeds: readonly number[]; testPerClass?: number },
): Promise<JointResult> {
  const group = canonical(tasks, 'jointTuning');
  if (group.length < 2) throw new Error('jointTuning: a group needs at least two tasks');
  const runs: JointResult['runs'] = [];
  for (const seed of opts.seeds) {
    const s: FewShotSetting = { shots: opts.shots, seed, testPerClass: opts.testPerClass };
    const r = resolveMethod(m, s.shots);
    assertShareable(r, 'jointTuning');
    for (const task of tasks) {
      const joint = await stage(jointEvalSpec(model, group, task, r, s), accCodec, async () => {
        const prompt = await multitaskPrompt(model, group, m, s);
        const ptask = await promptTaskFor(model, task, s);
        const ev = await evaluatePrompt(model, ptask, prompt);
        return { task: task.name, method: r.method, shots: s.shots, seed, top1: ev.top1, perClass: ev.perClass, n: ev.n, steps: prompt.steps };
      });
      const single = await defaultInitAccuracy(model, task, m, s);
      runs.push({ task: task.name, seed, joint: joint.top1, single: single.top1, delta: joint.top1 - single.top1 });
    }
  }
  const summary = tasks.map((t) => {
    const mine = runs.filter((x) => x.task === t.name);
    return { task: t.name, joint: meanStd(mine.map((x) => x.joint)), single: meanStd(mine.map((x) => x.single)), delta: meanStd(mine.map((x) => x.delta)) };
  });
  const table = new Table({
    task: vectorFromArray(runs.map((x) => x.task), new Utf8()),
    seed: vectorFromArray(runs.map((x) => x.seed), new Int32()),
    joint: vectorFromArray(runs.map((x) => x.joint), new Float64()),
    single: vectorFromArray(runs.map((x) => x.single), new Float64()),
    delta: makeVector(Float64Array.from(runs, (x) => x.delta)),
  });
  return { method: m.method, shots: opts.shots, seeds: [...opts.seeds], tasks: tasks.map((t) => t.name), runs, summary, table };
}
