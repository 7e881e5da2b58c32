// UPT's variance explorer (Zang et al. §3): on L2-normalised frozen features, the intra-class variance of
// the *image* features and the inter-class variance of the class-name *text* embeddings, per dataset and
// per class, with nearest-neighbour distances. UPT plots CoOp's gain over zero-shot against the first and
// VPT's gain against the second; `varianceCharts` draws the same two scatters so the claim can be checked.
import { stage } from '../exec/index.ts';
import { valueCodec } from '../exec/index.ts';
import { backboneOf, type ModelLike } from '../model/index.ts';
import { classTextFeatures } from './text-prompt.ts';
import type { PromptTask } from './task.ts';
import type { VegaLiteChart } from '../plots/vegalite.ts';

export interface ClassVariance {
  className: string;
  /** Mean squared distance of the class's image features to their centroid. */
  imageVariance: number;
  /** Squared distance of the class's text embedding to the mean text embedding. */
  textSpread: number;
  /** Euclidean distance from this class's text embedding to the nearest other class's. */
  textNearest: number;
  /** Euclidean distance from this class's image centroid to the nearest other centroid. */
  imageNearest: number;
}

export interface VarianceStats {
  dataset: string;
  /** Intra-class image-feature variance averaged over classes (UPT's x-axis for CoOp's gain). */
  imageVariance: number;
  /** Inter-class text-embedding variance: mean squared distance to the mean embedding (x-axis for VPT's gain). */
  textVariance: number;
  perClass: ClassVariance[];
  templates: string[];
}

/** Pure computation on features: rows [n, d] normalised image features with labels, text [C, d] normalised. */
export function varianceOf(dataset: string, classNames: string[], image: Float32Array, labels: Int32Array, text: Float32Array, d: number, templates: string[] = []): VarianceStats {
  const C = classNames.length;
  const centroid = new Float64Array(C * d), count = new Int32Array(C);
  for (let i = 0; i < labels.length; i++) {
    count[labels[i]]++;
    for (let j = 0; j < d; j++) centroid[labels[i] * d + j] += image[i * d + j];
  }
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) centroid[c * d + j] /= Math.max(1, count[c]);
  const intra = new Float64Array(C);
  for (let i = 0; i < labels.length; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (image[i * d + j] - centroid[labels[i] * d + j]) ** 2;
    intra[labels[i]] += s;
  }
  const mean = new Float64Array(d);
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) mean[j] += text[c * d + j] / C;
  const dist = (a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += (a[ai * d + j] - b[bi * d + j]) ** 2;
    return Math.sqrt(s);
  };
  const perClass: ClassVariance[] = classNames.map((className, c) => {
    let spread = 0;
    for (let j = 0; j < d; j++) spread += (text[c * d + j] - mean[j]) ** 2;
    let tn = Infinity, inn = Infinity;
    for (let o = 0; o < C; o++) {
      if (o === c) continue;
      tn = Math.min(tn, dist(text, c, text, o));
      if (count[o] && count[c]) inn = Math.min(inn, dist(centroid, c, centroid, o));
    }
    return { className, imageVariance: count[c] ? intra[c] / count[c] : NaN, textSpread: spread, textNearest: tn, imageNearest: inn };
  });
  const present = perClass.filter((p) => Number.isFinite(p.imageVariance));
  return {
    dataset,
    imageVariance: present.reduce((a, p) => a + p.imageVariance, 0) / Math.max(1, present.length),
    textVariance: perClass.reduce((a, p) => a + p.textSpread, 0) / C,
    perClass,
    templates,
  };
}

/** Stage: variance statistics of a task's test subset (cached features) and its class-name text embeddings. */
export async function varianceStats(modelLike: ModelLike, task: PromptTask, templates: string[] = ['a photo of a {}.']): Promise<VarianceStats> {
  const model = await backboneOf(modelLike);
  return stage(
    { name: 'varianceStats', version: 1, params: { templates, classNames: task.classNames }, inputs: [model.fingerprint, task.testKey] },
    valueCodec<VarianceStats>(),
    async () => {
      await task.loadFeatures();
      const text = classTextFeatures(model, task.classNames, templates);
      const t = text.dataSync() as Float32Array;
      text.dispose();
      return varianceOf(task.name, task.classNames, task.test.features, task.test.labels, t, task.dim, templates);
    },
  );
}

export interface GainPoint {
  dataset: string;
  /** Accuracy gain over zero-shot (fraction, e.g. 0.12 = +12 points). */
  coopGain?: number;
  vptGain?: number;
}

/**
 * Gains over zero-shot per dataset from few-shot protocol rows: mean top-1 of `coop` / `vpt` (method labels)
 * at `shots` (default: the largest K run) minus the dataset's zero-shot top-1.
 */
export function gainsFromRows(rows: { dataset: string; method: string; shots: number; top1: number }[], opts: { shots?: number; coop?: string; vpt?: string } = {}): GainPoint[] {
  const coop = opts.coop ?? 'coop', vpt = opts.vpt ?? 'vpt';
  const k = opts.shots ?? Math.max(...rows.filter((r) => r.method !== 'zero-shot').map((r) => r.shots));
  const mean = (ds: string, m: string) => {
    const xs = rows.filter((r) => r.dataset === ds && r.method === m && (m === 'zero-shot' || r.shots === k)).map((r) => r.top1);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
  };
  return [...new Set(rows.map((r) => r.dataset))].map((dataset) => {
    const z = mean(dataset, 'zero-shot');
    const c = mean(dataset, coop), v = mean(dataset, vpt);
    return { dataset, coopGain: z !== undefined && c !== undefined ? c - z : undefined, vptGain: z !== undefined && v !== undefined ? v - z : undefined };
  });
}

/**
 * UPT's two scatters: CoOp gain vs intra-class image variance, VPT gain vs inter-class text variance,
 * one point per dataset, with a least-squares trend line. UPT's reading (text prompts fail on high
 * intra-class image variance; visual prompts fail on low inter-class text variance) is the subtitle, so a
 * plot that disagrees shows it.
 */
export function varianceCharts(stats: VarianceStats[], gains: GainPoint[]): { coop: VegaLiteChart; vpt: VegaLiteChart } {
  const byName = new Map(gains.map((g) => [g.dataset, g]));
  const rows = stats.map((s) => ({
    dataset: s.dataset, imageVariance: s.imageVariance, textVariance: s.textVariance,
    coopGain: byName.get(s.dataset)?.coopGain ?? null, vptGain: byName.get(s.dataset)?.vptGain ?? null,
  }));
  const scatter = (x: string, xTitle: string, y: string, yTitle: string, title: { text: string; subtitle: string }): VegaLiteChart => ({
    kind: 'vega-lite',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: 280, height: 220,
      data: { values: rows.filter((r) => (r as Record<string, unknown>)[y] !== null) },
      layer: [
        {
          mark: { type: 'point', filled: true, size: 80 },
          encoding: {
            x: { field: x, type: 'quantitative', title: xTitle, scale: { zero: false } },
            y: { field: y, type: 'quantitative', title: yTitle, axis: { format: '+.0%' } },
            color: { field: 'dataset', type: 'nominal' },
            tooltip: [{ field: 'dataset' }, { field: x, format: '.3f' }, { field: y, format: '+.1%' }],
          },
        },
        {
          mark: { type: 'text', dy: -10, fontSize: 10 },
          encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' }, text: { field: 'dataset' } },
        },
        {
          transform: [{ regression: y, on: x }],
          mark: { type: 'line', strokeDash: [4, 3], color: 'gray' },
          encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' } },
        },
      ],
    },
  });
  return {
    coop: scatter('imageVariance', 'intra-class image-feature variance', 'coopGain', 'CoOp gain over zero-shot', { text: 'CoOp gain vs intra-class image variance', subtitle: 'UPT: text prompts struggle where images vary within a class' }),
    vpt: scatter('textVariance', 'inter-class text-embedding variance', 'vptGain', 'VPT gain over zero-shot', { text: 'VPT gain vs inter-class text variance', subtitle: 'UPT: visual prompts struggle where class texts lie close together' }),
  };
}

/** Per-class bar data as a Vega-Lite chart (image variance per class, one dataset). */
export function perClassVarianceChart(stats: VarianceStats): VegaLiteChart {
  return {
    kind: 'vega-lite',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: `${stats.dataset}: per-class variance`,
      data: { values: stats.perClass },
      mark: 'point',
      encoding: {
        x: { field: 'imageVariance', type: 'quantitative', title: 'intra-class image variance', scale: { zero: false } },
        y: { field: 'textNearest', type: 'quantitative', title: 'distance to nearest class text', scale: { zero: false } },
        tooltip: [{ field: 'className' }, { field: 'imageVariance', format: '.3f' }, { field: 'textNearest', format: '.3f' }, { field: 'imageNearest', format: '.3f' }],
      },
    },
  };
}
