// Plots are Vega-Lite specs wrapped in a small tagged value, so the UI renders them with vega-embed and
// the CLI renders the same spec to SVG (vega's headless view) and PNG (resvg), with no browser involved.
// vega and vega-lite take about half a second to load and only rendering needs them (a cell builds a spec;
// the UI renders specs itself), so they load with the first chart rendered.
import type { TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

/**
 * A chart value. The spec is kept as plain JSON (charts are built as object literals in several layers, and
 * vega-lite's own types reject many valid literals); vega-lite validates it when it is compiled.
 */
export interface VegaLiteChart {
  kind: 'vega-lite';
  spec: Record<string, unknown>;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export function vegaLite(spec: Record<string, unknown>): VegaLiteChart {
  return { kind: 'vega-lite', spec: { $schema: SCHEMA, ...spec } };
}

export function isChart(value: unknown): value is VegaLiteChart {
  return !!value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'vega-lite';
}

/** Compiles a chart with vega-lite (which validates it) and renders SVG without a DOM. */
export async function renderSvg(chart: VegaLiteChart): Promise<string> {
  const [{ compile }, { parse, View }] = await Promise.all([import('vega-lite'), import('vega')]);
  const vg = compile(chart.spec as unknown as TopLevelSpec).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: 'white', font: { loadSystemFonts: true } });
  return r.render().asPng();
}
