// The model card (data/models/mini-clip/README.md), written from measured numbers only.
import type { PriorPhases, TrainOptions, TrainState } from './train.ts';
import type { RetrievalResult, ZeroShotResult } from './evaluate.ts';
import { HELDOUT_TEMPLATES, TRAIN_TEMPLATES, TRAIN_CONTEXT } from './captions.ts';

export interface CardInput {
  options: TrainOptions;
  state: TrainState;
  /** Every phase flattened (a single run is one phase). */
  phases: PriorPhases;
  checkpointStep: number;
  backend: string;
  hardware: string;
  trainImages: number;
  valImages: number;
  poolSizes: { cifar10: number; fashion: number };
  fileBytes: number;
  logitScale: number;
  zeroShot: ZeroShotResult[];
  zeroShotBundled: ZeroShotResult[];
  retrieval: RetrievalResult;
  vocabRows: number;
  params: number;
  /** True when zeroShot was measured on the full test sets of ../shared; false: on the bundled subsets. */
  fullTestSets: boolean;
  /** What the machine's load was like during the run (measured, free text). */
  loadNote: string;
  /** Measured throughput beside PyTorch (bench/pretrain.ts), free text; omitted when absent. */
  benchNote?: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

export function modelCard(c: CardInput): string {
  const o = c.options;
  const s = o.shape;
  const P = c.phases;
  const wallMin = P.wallSec / 60;
  const last = c.state.history[c.state.history.length - 1];
  const avg = (a: number, b: number) => {
    const w = P.history.slice(Math.max(0, a), b);
    return w.reduce((x, p) => x + p.loss, 0) / Math.max(1, w.length);
  };
  const bars: Record<string, number> = { cifar10: 0.4, 'fashion-mnist': 0.75 };
  const zsRows = c.zeroShot.map((z) => {
    const bar = bars[z.dataset];
    const verdict = bar === undefined ? 'reported only (never in pretraining)' : z.top1 >= bar ? `meets the ≥ ${pct(bar)} bar` : `**below** the ≥ ${pct(bar)} bar`;
    return `| ${z.dataset} | ${z.images.toLocaleString('en')} | ${z.classes} | **${pct(z.top1)}** | ${pct(z.chance)} | ${verdict} |`;
  }).join('\n');
  const bundledRows = c.zeroShotBundled.map((z) => `| ${z.dataset} | ${z.images.toLocaleString('en')} | ${pct(z.top1)} |`).join('\n');
  return `# mini-CLIP

Promptscope's own small CLIP, pretrained from scratch by this project's code (\`cells/model/pretrain/\`) on real
images and real text, so that the quickstart and the tests run offline. It is a Hugging Face \`CLIPModel\`
checkpoint (\`config.json\` + \`model.safetensors\`, float16 storage, ${(c.fileBytes / 1e6).toFixed(1)} MB) and loads
through the same code path as any CLIP checkpoint (\`load('mini-clip')\` from cells/model, \`promptscope model ls\`).

It is a *small, briefly trained* model: good enough to exercise zero-shot classification and prompt tuning on
the bundled datasets, nowhere near a real CLIP. Numbers below are measured, not targets.

## Architecture

| | vision (ViT) | text (transformer) |
|---|---|---|
| width / layers / heads | ${s.visionWidth} / ${s.visionLayers} / ${s.visionHeads} | ${s.textWidth} / ${s.textLayers} / ${s.textHeads} |
| MLP | ${4 * s.visionWidth}, quick-GELU | ${4 * s.textWidth}, quick-GELU |
| input | 32×32 RGB, patch ${s.patchSize} (${(32 / s.patchSize) ** 2} patches + CLS) | CLIP BPE, vocabulary 49,408, context 77 |

Projection dimension ${s.projectionDim}; ${(c.params / 1e6).toFixed(2)} M parameters in the file (6.3 M of them are the
token table: only ${c.vocabRows} rows were trainable, those of the tokens in the training captions and the
zero-shot prompts (words that occur only in held-out templates never received a gradient); the other rows keep
their small random initial values, std 0.02). Learned temperature: logit_scale = ${c.logitScale.toFixed(3)}, i.e. logits are
cos-similarity × **${Math.exp(c.logitScale).toFixed(1)}** (initialised at ${Math.exp(s.logitScaleInit).toFixed(0)}, clamped at 100).

## Data

- **Images**: CIFAR-10 train (\`../shared/datasets/cifar10/train.tar\`, 3,000 per class, JPEG q≈75) and
  Fashion-MNIST train (60,000; 28×28 gray, bicubic-resized to 32×32 and replicated to RGB), minus
  - the **few-shot pool**: \`holdOutPool(dataset, {fraction: 0.1, seed: ${o.seed}})\` from \`cells/data/splits.ts\`
    (per class, images ranked by sha256("pool", seed, file name), the first 10 % held out) — ${c.poolSizes.cifar10.toLocaleString('en')} CIFAR-10
    and ${c.poolSizes.fashion.toLocaleString('en')} Fashion-MNIST images that prompt learners sample their shots from and pretraining never saw;
  - a validation slice of 50 images per class (${c.valImages.toLocaleString('en')} in all) used only to pick the checkpoint.

  That leaves **${c.trainImages.toLocaleString('en')} training images**. Test splits are used for evaluation only. **MNIST and GTSRB
  were never used in pretraining.**
- **Text**: captions sampled per image from its class's WordNet entry (\`data/lexicon/lexicon.json\`, derived from
  Princeton WordNet 3.0 by \`data/lexicon/make.ts\`; WordNet licence beside it): the class name (50 %), a synonym
  (22 %), "name, a kind of *hypernym*" (16 %) or "*template*: *gloss*" (12 %), inside one of ${TRAIN_TEMPLATES.length}
  training templates; cut at ${TRAIN_CONTEXT} tokens. ${HELDOUT_TEMPLATES.length} templates are **held out** of pretraining
  (${HELDOUT_TEMPLATES.map((t) => `"${t}"`).join(', ')}); every zero-shot number below uses only those.

## Recipe

- Symmetric InfoNCE with **class-aware soft targets** (captions of the same class are all positives, the
  target row spread evenly over them), batch ${o.batchSize} (${Math.round(o.cifarShare * o.batchSize)} CIFAR-10 + ${o.batchSize - Math.round(o.cifarShare * o.batchSize)} Fashion-MNIST per batch).
- AdamW (β = 0.9, 0.98; ε = 1e-6), lr ${o.lr}, weight decay ${o.weightDecay} on matrices only, linear warmup
  ${o.warmupSteps} steps then cosine to ${o.minLrFraction}× at step ${o.totalSteps}; the temperature has ${o.logitScaleLrScale}× the learning rate and no decay;
  gradient-norm clip ${o.gradClip}.
${P.options.length > 1 ? `- **${P.options.length} phases** (a warm restart): ${P.options.map((p, i) => `phase ${i + 1}: ${i === 0 ? 'from random init' : 'from the end of phase ' + i}, lr ${p.lr}, warmup ${p.warmupSteps}, cosine over ${p.totalSteps} steps`).join('; ')}. The numbers above describe the last phase; optimizer moments carry over.
` : ''}- Augmentation: random shift ≤ ${o.augment.maxShift} px (edge-clamped) and horizontal flip.
- Text cut at the batch's last end token; only the used vocabulary rows trainable (no gather gradient on wasm).
- Seeded (seed ${o.seed}): each step's batch, augmentation and captions come from (seed, step) only, and the
  checkpoint holds the optimizer state, so a resumed run continues exactly as an uninterrupted one (tested in
  \`test/pretrain/loop.test.ts\`).

## Training run

- Hardware: ${c.hardware}. Backend: tfjs-${c.backend}, **one thread** (the data-parallel workers were not used for
  this run), while other jobs shared the machine's 2 cores (${c.loadNote}).
- **Wall time: ${wallMin.toFixed(0)} min** of training (${P.steps} steps, ${P.imagesSeen.toLocaleString('en')} images seen ≈ ${(P.imagesSeen / c.trainImages).toFixed(1)} epochs),
  ${(P.imagesSeen / P.wallSec).toFixed(1)} images/s on average. The issue allowed ≈ 3 h; this run had the time left in one session.
${c.state.step < o.totalSteps ? `- The run was stopped at step ${c.state.step} of the ${o.totalSteps} its schedule planned, when the session's time ran out (lr had decayed to ${last ? (last.lr / o.lr).toFixed(2) : '–'}× its peak).
` : ''}- Shipped checkpoint: step ${c.checkpointStep} (best mean validation zero-shot accuracy, measured every 150 steps).
- Loss: ${avg(0, 10).toFixed(3)} (first 10 steps) → ${avg(P.history.length - 25, P.history.length).toFixed(3)} (last 25 steps); last lr ${last ? last.lr.toExponential(2) : '–'}.

${c.benchNote ? `- Throughput of the same step, \`bench/pretrain.ts\` on this machine: ${c.benchNote}
` : ''}
![loss curve](loss-curve.png)

## Zero-shot top-1 (held-out templates, ${c.fullTestSets ? 'full test sets from \`../shared/datasets\`' : 'the bundled test subsets in \`data/datasets/\`'})

| dataset | test images | classes | top-1 | chance | |
|---|---:|---:|---:|---:|---|
${zsRows}

Quality bars of the issue: CIFAR-10 ≥ 40 %, Fashion-MNIST ≥ 75 %.${c.fullTestSets ? ` On the bundled test subsets (\`data/datasets/\`,
what \`test/pretrain/mini-clip.test.ts\` checks):

| dataset | images | top-1 |
|---|---:|---:|
${bundledRows}` : ` The bundled subsets are the first 100 (CIFAR-10) or 200 (MNIST, Fashion-MNIST) test images per class and
20 per GTSRB sign (\`data/README.md\`); \`test/pretrain/mini-clip.test.ts\` re-checks these numbers.`}

## Image → text retrieval

${c.retrieval.images.toLocaleString('en')} test images (CIFAR-10 and Fashion-MNIST) against a gallery of ${c.retrieval.captions} held-out-template captions
(name, synonym, hypernym and gloss forms of the ${c.retrieval.classes} classes). These datasets have no per-image captions, so a hit is a
caption of the image's class: **R@1 ${pct(c.retrieval.r1)}**, R@5 ${pct(c.retrieval.r5)}, precision@10 ${pct(c.retrieval.p10)}.

## Reproduce

\`\`\`sh
npx promptscope run notebooks/pretrain-mini-clip.html --out out/pretrain-mini-clip
# or, headless and resumable (each command resumes from its work directory's last checkpoint):
${P.options.map((p, i) => `node --import tsx cli/pretrain.ts --work out/pretrain-mini-clip${i ? `-${i + 1}` : ''} --steps ${p.totalSteps} --warmup ${p.warmupSteps} --lr ${p.lr}${i ? ` --init out/pretrain-mini-clip${i > 1 ? `-${i}` : ''}/last.safetensors` : ''}`).join('\n')}
node --import tsx cli/finalize-mini-clip.ts --work out/pretrain-mini-clip${P.options.length > 1 ? `-${P.options.length}` : ''}
\`\`\`

## Licences

Weights: produced by this project. Training data: CIFAR-10 (no formal licence; cite Krizhevsky 2009),
Fashion-MNIST (MIT, © Zalando SE). Captions: WordNet 3.0 (Princeton WordNet licence). Tokenizer: OpenAI CLIP BPE (MIT).
`;
}
