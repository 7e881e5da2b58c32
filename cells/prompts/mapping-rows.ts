// A label mapping as rows a person can read: per downstream class, the source label it maps to, with how
// similar the two names read to the model — so a data-driven mapping (FLM, ILM) can be read against the
// semantic one it did not choose.
import { stage, valueCodec } from '../exec/index.ts';
import { backboneOf, isCNNBackbone, type ModelLike } from '../model/index.ts';
import { mappingFromMatrix } from './label-mapping.ts';
import { sourceTemplates } from './source-labels.ts';
import { nameEncoderFiles, sourceNamesFor } from './source-model.ts';
import type { PromptTask } from './task.ts';
import type { TrainedPrompt } from './train.ts';
import { nameSimilarityFor, VISUAL_REPROGRAMMING_DEFAULTS, type ZeroShotTransferResult } from './visual-reprogramming.ts';

/** One downstream class → one of its source labels, with how similar their names read to the model. */
export interface MappingRow {
  class: string;
  source: string;
  /** Cosine similarity of the class name's and the source label's text features (the name encoder: a CLIP's own). */
  similarity: number;
  /** The source label's rank among all source labels by that similarity (1: the most similar). */
  rank: number;
}

/**
 * Stage: a visual-reprogramming label mapping as rows — from a trained `visual-reprogramming` prompt (the
 * mapping it ended with) or a `zeroShotTransfer` result — each with the name similarity that semantic
 * mapping maximises, so a data-driven mapping (FLM, ILM) can be read against it.
 */
export async function labelMappingRows(modelLike: ModelLike, task: PromptTask, from: TrainedPrompt | ZeroShotTransferResult, opts: { nameEncoder?: string } = {}): Promise<MappingRow[]> {
  const model = await backboneOf(modelLike);
  const defaults = VISUAL_REPROGRAMMING_DEFAULTS;
  const trained = 'state' in from ? from : undefined;
  if (trained && trained.method !== 'visual-reprogramming') throw new Error(`labelMappingRows: a ${trained.method} prompt has no label mapping`);
  const config = (trained?.config ?? {}) as Partial<typeof defaults>;
  const cnn = isCNNBackbone(model);
  const sourceLabels = config.sourceLabels ?? (cnn ? 'model' : defaults.sourceLabels);
  const templates = config.sourceTemplates ?? defaults.sourceTemplates;
  // A CNN source has no text encoder: its similarities are read with the trained config's name encoder, else mini-CLIP's.
  const nameEncoder = opts.nameEncoder ?? (config.nameEncoder && config.nameEncoder !== 'own' ? config.nameEncoder : cnn ? 'mini-clip' : 'own');
  // The shipped ImageNet list's bytes reach this key through `from` (trainPrompt's and zeroShotTransfer's keys hold them).
  return stage(
    {
      name: 'labelMappingRows', version: 1, inputs: [model.fingerprint, from], files: nameEncoderFiles(nameEncoder),
      params: { sourceLabels, templates, classNames: task.classNames, ...(nameEncoder === 'own' ? {} : { nameEncoder }) },
    },
    valueCodec<MappingRow[]>(),
    async () => {
      const names = sourceNamesFor(model, sourceLabels);
      const C = task.classNames.length, Ns = names.length;
      let sources: number[][];
      if (trained) {
        const m = trained.state.mapping;
        if (!m) throw new Error('labelMappingRows: the trained prompt has no "mapping" tensor');
        sources = mappingFromMatrix(config.mapping ?? defaults.mapping, m.data, Ns, C).sources;
      } else {
        const index = new Map(names.map((n, i) => [n, i]));
        sources = (from as ZeroShotTransferResult).mapping.map((r) => r.sources.map((n) => index.get(n)!));
      }
      const sim = await nameSimilarityFor(model, task.classNames, names, sourceTemplates(templates), nameEncoder);
      return sources.flatMap((list, t) => list.map((s) => {
        const v = sim[t * Ns + s];
        let rank = 1;
        for (let j = 0; j < Ns; j++) if (sim[t * Ns + j] > v) rank++;
        return { class: task.classNames[t], source: names[s], similarity: v, rank };
      }));
    },
  );
}
