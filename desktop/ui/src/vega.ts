// vega-embed with the page's options, shared by chart outputs and chart inputs: SVG rendering, and Vega
// expressions evaluated by the interpreter (no eval or new Function, as the page's CSP requires).
import embed, { type Result, type VisualizationSpec } from 'vega-embed';
import { expressionInterpreter } from 'vega-interpreter';

export function embedChart(target: HTMLElement, spec: unknown): Promise<Result> {
  return embed(target, spec as VisualizationSpec, {
    actions: false,
    renderer: 'svg',
    ast: true,
    expr: expressionInterpreter,
    defaultStyle: false,
    tooltip: { disableDefaultStyle: true, theme: 'custom' },
    config: { font: 'Inter, system-ui, sans-serif', view: { stroke: 'transparent' }, axis: { labelColor: '#55606e', titleColor: '#2a3340', gridColor: '#e8ecf1' } },
  });
}
