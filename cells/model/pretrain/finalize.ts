// Checkpoint → shipped model: export data/models/mini-clip (HF layout), load it back through the HF path,
// evaluate (zero-shot per dataset, retrieval), write the loss curve, metrics.json and the model card.
//   (command line: cli/finalize-mini-clip.ts)
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { load } from '../load.ts';
import { bundledDataset } from '../../data/bundled.ts';
import { loadManifest, readClassNamesCsv } from '../../data/load-manifest.ts';
import type { Dataset } from '../../data/dataset.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { loadCheckpointModel, exportModel, writeLossCurve } from './export.ts';
import { imageFeatures, imageToTextRetrieval, labelsOfIds, zeroShotAccuracy } from './evaluate.ts';
import type { ZeroShotResult } from './evaluate.ts';
import { loadCifarTest, loadFashion, loadMnistTest, defaultDatasetsRoot } from './data.ts';
import { loadLexicon } from './lexicon.ts';
import { flattenPhases, pretrainEntries } from './train.ts';
import { modelCard } from './card.ts';

export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../../data/models/mini-clip/', import.meta.url));

async function loadGtsrbTest(root: string): Promise<Dataset> {
  return loadManifest({
    manifest: 'GTSRB/Final_Test/Images/GT-final_test.csv', root: join(root, 'gtsrb/test.tar'), pathColumn: 'Filename',
    labelColumn: 'ClassId', delimiter: ';', classNames: readClassNamesCsv(join(root, 'gtsrb/classes.csv')), name: 'gtsrb', split: 'test',
  });
}

export interface FinalizeOptions {
  /** The (last phase's) checkpoint directory. */
  workDir: string;
  /** Where the image cache's images.json lies (default: workDir). */
  dataDir?: string;
  outDir?: string;
  /** Only the bundled subsets (fast); the card then reports those. */
  quick?: boolean;
  datasetsRoot?: string;
  /** A measured note on the machine's load during training, for the card. */
  loadNote?: string;
  benchNote?: string;
  log?: (s: string) => void;
}

export async function finalizeMiniClip(o: FinalizeOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? (() => undefined);
  const outDir = o.outDir ?? DEFAULT_MODEL_DIR;
  const best = join(o.workDir, 'best.safetensors');
  const lastPath = join(o.workDir, 'last.safetensors');
  const ckpt = existsSync(best) ? best : lastPath;
  const last = await loadCheckpointModel(lastPath);
  const chosen = ckpt === lastPath ? last : await loadCheckpointModel(ckpt);
  log(`exporting ${ckpt} (step ${chosen.state.step}) → ${outDir}`);
  const fileBytes = await exportModel(chosen.model, outDir);
  const vocabRows = chosen.model.vocabIds.length;
  let params = 0;
  for (const v of chosen.model.clip.variables.values()) params += v.size;
  chosen.model.dispose();
  if (chosen !== last) last.model.dispose();
  const phases = flattenPhases(last.state, last.options);
  await writeLossCurve(phases, outDir, last.options.batchSize);

  // Evaluate through the HF loading path, exactly as users load the shipped files.
  const model = await load(outDir, { id: 'mini-clip' });
  const logitScale = (await model.logitScale.data())[0];
  const root = o.datasetsRoot ?? defaultDatasetsRoot();
  const zeroShotBundled: ZeroShotResult[] = [];
  for (const name of ['cifar10', 'fashion-mnist', 'mnist', 'gtsrb'] as const) {
    const ds = await bundledDataset(name);
    zeroShotBundled.push(zeroShotAccuracy(model, ds));
    log(`bundled ${name}: ${(100 * zeroShotBundled[zeroShotBundled.length - 1].top1).toFixed(1)}%`);
    ds.images.close();
  }
  let zeroShot = zeroShotBundled;
  const lex = loadLexicon();
  let retrievalSets: Dataset[];
  if (!o.quick) {
    zeroShot = [];
    const sets = [await loadCifarTest(root), await loadFashion('test', root), await loadMnistTest(root), await loadGtsrbTest(root)];
    const { MNIST_CLASSES, FASHION_MNIST_CLASSES } = await import('../../data/bundled.ts');
    sets[1].classNames = FASHION_MNIST_CLASSES;
    sets[2].classNames = MNIST_CLASSES; // spelled-out digits, as the bundled set names them
    for (const ds of sets) {
      zeroShot.push(zeroShotAccuracy(model, ds));
      log(`full ${ds.name}: ${(100 * zeroShot[zeroShot.length - 1].top1).toFixed(1)}% of ${ds.images.count}`);
    }
    retrievalSets = sets.slice(0, 2);
  } else {
    retrievalSets = [await bundledDataset('cifar10'), await bundledDataset('fashion-mnist')];
  }
  // Retrieval: up to 1,000 test images of each pretraining domain against the 20-class caption gallery.
  const feats: tf.Tensor2D[] = [];
  const classes: number[] = [];
  retrievalSets.forEach((ds, d) => {
    const ids = Array.from((ds.rows.getChild('id')!.toArray() as Int32Array).filter((_, i) => i % Math.max(1, Math.floor(ds.images.count / 1000)) === 0)).slice(0, 1000);
    feats.push(imageFeatures(model, ds, ids));
    labelsOfIds(ds, ids).forEach((l) => classes.push(l + 10 * d));
  });
  const all = tf.concat(feats, 0) as tf.Tensor2D;
  const retrieval = imageToTextRetrieval(all, classes, model, pretrainEntries(lex));
  all.dispose();
  feats.forEach((f) => f.dispose());
  log(`retrieval R@1 ${(100 * retrieval.r1).toFixed(1)}%`);
  model.dispose();

  const meta = JSON.parse(readFileSync(join(o.dataDir ?? o.workDir, 'images.json'), 'utf8')) as { train: number; val: number; poolSizes: { cifar10: number; fashion: number } };
  const hardware = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} (no GPU), Node ${process.versions.node}`;
  const metrics = {
    checkpointStep: (chosen.state.prior?.steps ?? 0) + chosen.state.step, stepsTrained: phases.steps, wallSec: phases.wallSec, imagesSeen: phases.imagesSeen,
    logitScale, temperature: Math.exp(logitScale), zeroShot, zeroShotBundled, retrieval, fileBytes, backend: last.backend, hardware,
    options: last.options, phases: phases.options, val: phases.val,
    history: phases.history.map((h) => ({ step: h.step, loss: h.loss, lr: h.lr, logitScale: h.logitScale, wallSec: h.wallSec })),
  };
  await writeFileAtomic(join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 1) + '\n');
  await writeFileAtomic(join(outDir, 'README.md'), modelCard({
    options: last.options, state: last.state, phases, checkpointStep: (chosen.state.prior?.steps ?? 0) + chosen.state.step, backend: last.backend, hardware,
    trainImages: meta.train, valImages: meta.val, poolSizes: meta.poolSizes, fileBytes, logitScale, zeroShot, zeroShotBundled,
    retrieval, vocabRows, params, fullTestSets: !o.quick, loadNote: o.loadNote ?? 'machine load not recorded', benchNote: o.benchNote,
  }));
  return metrics;
}
