// The variance explorer's charts. The per-class charts declare a point selection on `className`, so each
// can be an input: `view(classSpreadChart(explorer))` yields the class clicked in it (see
// cells/engine/chart-input.ts). The picked class is drawn opaque, the others faded; the projection and the
// similarity matrix take the pick as an argument and show it selected.
import { vegaLite, type VegaLiteChart } from '../plots/vegalite.ts';
import type { ClassAccuracy, ClassExplorer } from './class-explorer.ts';

/** The selection every explorer chart declares: a click picks the class of the mark clicked. */
const PICK = { name: 'pick', select: { type: 'point', fields: ['className'] } };

/** The selection with `picked` already selected, so a chart drawn for a class shows it highlighted. */
const pickOf = (picked: string | null | undefined) => (picked ? { ...PICK, value: [{ className: picked }] } : PICK);
const FADE_UNPICKED = { condition: { param: 'pick', empty: true, value: 1 }, value: 0.25 };

/** Past this many classes a colour legend is noise (GTSRB has 43): classes are told apart by tooltip. */
const MAX_LEGEND = 12;

/** Intra-class image-feature variance per class, widest first; click a bar to pick its class. */
export function classSpreadChart(explorer: ClassExplorer): VegaLiteChart {
  return vegaLite({
    title: { text: `${explorer.dataset}: intra-class spread of the image features`, subtitle: 'click a class to explore it' },
    data: { values: explorer.perClass.map((p) => ({ className: p.className, imageVariance: p.imageVariance, imageNearest: p.imageNearest, textNearest: p.textNearest })) },
    params: [PICK],
    mark: { type: 'bar', cursor: 'pointer' },
    encoding: {
      y: { field: 'className', type: 'nominal', title: null, sort: '-x' },
      x: { field: 'imageVariance', type: 'quantitative', title: 'mean squared distance to the class centroid' },
      opacity: FADE_UNPICKED,
      tooltip: [
        { field: 'className' }, { field: 'imageVariance', format: '.3f', title: 'intra-class variance' },
        { field: 'imageNearest', format: '.3f', title: 'nearest centroid' }, { field: 'textNearest', format: '.3f', title: 'nearest class text' },
      ],
    },
    width: 360,
    height: { step: explorer.classNames.length > 20 ? 10 : 16 },
  });
}

/**
 * The test images on the first two principal components of their features, coloured by class; `picked`
 * (a class) is drawn highlighted, the rest faded. Clicking a point highlights its class.
 */
export function projectionChart(explorer: ClassExplorer, picked?: string | null): VegaLiteChart {
  const [a, b] = explorer.explained.map((e) => `${(e * 100).toFixed(1)} %`);
  const legend = explorer.classNames.length > MAX_LEGEND ? null : { title: null };
  return vegaLite({
    title: { text: `${explorer.dataset}: image features, first two principal components`, subtitle: `explaining ${a} and ${b} of the variance` },
    data: { values: explorer.points },
    params: [pickOf(picked)],
    mark: { type: 'circle', size: 28, cursor: 'pointer' },
    encoding: {
      x: { field: 'pc1', type: 'quantitative', title: `PC1 (${a})`, axis: { labels: false, ticks: false } },
      y: { field: 'pc2', type: 'quantitative', title: `PC2 (${b})`, axis: { labels: false, ticks: false } },
      color: { field: 'className', type: 'nominal', legend, scale: { scheme: explorer.classNames.length > 10 ? 'tableau20' : 'tableau10' } },
      opacity: { condition: { param: 'pick', empty: true, value: 0.85 }, value: 0.12 },
      tooltip: [{ field: 'className' }, { field: 'id', title: 'image id' }],
    },
    width: 360,
    height: 300,
  });
}

/** Cosine similarity of the class names' text embeddings, as a heatmap; `picked`'s row is highlighted. */
export function textSimilarityChart(explorer: ClassExplorer, picked?: string | null): VegaLiteChart {
  const values = explorer.classNames.flatMap((className, c) =>
    explorer.classNames.map((other, o) => ({ className, other, similarity: explorer.textSimilarity[c][o] })));
  const many = explorer.classNames.length > 20;
  return vegaLite({
    title: { text: `${explorer.dataset}: class-name text similarity`, subtitle: `cosine of "${explorer.templates[0]}" embeddings` },
    data: { values },
    params: [pickOf(picked)],
    mark: { type: 'rect', cursor: 'pointer' },
    encoding: {
      y: { field: 'className', type: 'nominal', title: null, sort: explorer.classNames },
      x: { field: 'other', type: 'nominal', title: null, sort: explorer.classNames, axis: many ? { labels: false, ticks: false } : { labelAngle: -45 } },
      color: { field: 'similarity', type: 'quantitative', scale: { scheme: 'blues' }, legend: { title: 'cosine' } },
      opacity: FADE_UNPICKED,
      tooltip: [{ field: 'className' }, { field: 'other' }, { field: 'similarity', format: '.3f' }],
    },
    width: many ? 360 : { step: 22 },
    height: many ? 360 : { step: 22 },
  });
}

/** One class's test accuracy under each method (zero-shot first), with every class's mean for reference. */
export function classAccuracyChart(rows: ClassAccuracy[], className: string | null): VegaLiteChart {
  const methods = [...new Set(rows.map((r) => r.method))];
  const mean = (m: string) => {
    const xs = rows.filter((r) => r.method === m && Number.isFinite(r.accuracy)).map((r) => r.accuracy);
    return xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : null;
  };
  const values = methods.map((method) => ({
    method,
    accuracy: className === null ? null : rows.find((r) => r.method === method && r.className === className)?.accuracy ?? null,
    meanOverClasses: mean(method),
  }));
  return vegaLite({
    title: { text: className === null ? 'Per-class accuracy: pick a class' : `Accuracy on "${className}" by method`, subtitle: 'bar: this class · tick: mean over all classes' },
    data: { values },
    encoding: { x: { field: 'method', type: 'nominal', title: null, sort: methods, axis: { labelAngle: 0 } } },
    layer: [
      { mark: { type: 'bar', tooltip: true }, encoding: { y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy', axis: { format: '.0%' }, scale: { domain: [0, 1] } }, color: { field: 'method', type: 'nominal', legend: null } } },
      { mark: { type: 'tick', thickness: 2, color: '#1d2530', size: 30 }, encoding: { y: { field: 'meanOverClasses', type: 'quantitative' } } },
    ],
    width: { step: 56 },
    height: 200,
  });
}
