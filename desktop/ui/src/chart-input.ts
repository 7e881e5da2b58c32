// A chart as an input widget (`view(Inputs.chart(chart, {field}))`): the chart is drawn with its selection
// param, and what the user clicks (a point selection: the mark's field value) or brushes (an interval
// along x: [lo, hi]) is committed as the input's value, so the engine re-runs the cells that read it.
// The current pick is drawn as the param's initial value; a value set elsewhere (the inputs bar, another
// client) redraws the chart with it.
import type { InputSpec } from '../../protocol.ts';
import { el } from './dom.ts';
import { embedChart } from './vega.ts';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Dragging a brush reports every movement; commit once it has been still this long. */
const BRUSH_SETTLE_MS = 250;

type Spec = Record<string, unknown>;

/** The spec with the selection param's initial value set to `value` (nothing when null). */
function withPick(spec: InputSpec, value: unknown): Spec {
  const chart = structuredClone(spec.chart!) as Spec;
  const select = spec.select!;
  const unit = Array.isArray(chart.layer) ? (chart.layer[0] as Spec) : chart;
  const params = (unit.params as Spec[]).map((p) => {
    if (p.name !== select.param || value === null) return p;
    return { ...p, value: select.type === 'point' ? [{ [select.field]: value }] : { x: value } };
  });
  unit.params = params;
  return chart;
}

/** What a Vega selection signal holds ({field: [values]} or {field: [lo, hi]}; {} when cleared) as the input's value. */
function pickOf(spec: InputSpec, signal: unknown): unknown {
  const select = spec.select!;
  const picked = signal && typeof signal === 'object' ? (signal as Record<string, unknown>)[select.field] : undefined;
  if (!Array.isArray(picked) || picked.length === 0) return null;
  if (select.type === 'point') return picked[0];
  const [lo, hi] = picked as number[];
  return typeof lo === 'number' && typeof hi === 'number' ? [Math.min(lo, hi), Math.max(lo, hi)] : null;
}

export function chartWidget(root: HTMLElement, spec: InputSpec, commit: (value: unknown) => void): { update(spec: InputSpec): void } {
  const box = el('div', { class: 'chart chart-input' });
  const shown = el('output', { class: 'input-value chart-pick' });
  root.append(shown, box);
  let current = spec.value;
  let timer = 0;
  let finalize: (() => void) | null = null;
  const describe = (v: unknown) => (v === null ? 'nothing picked' : Array.isArray(v) ? v.map((x) => Number(x).toPrecision(3)).join(' – ') : String(v));

  // A redraw may start while the previous embed is still pending: each draw takes a number, and an embed
  // that resolves after a newer draw began finalizes its view at once (else its Vega view and listeners leak
  // and it would mark the box rendered before the newer chart is).
  let drawing = 0;
  const draw = (value: unknown) => {
    finalize?.();
    finalize = null;
    const mine = ++drawing;
    box.removeAttribute('data-rendered');
    shown.textContent = describe(value);
    const target = el('div');
    box.replaceChildren(target);
    embedChart(target, withPick(spec, value))
      .then((result) => {
        if (mine !== drawing) {
          result.finalize();
          return;
        }
        finalize = () => result.finalize();
        result.view.addSignalListener(spec.select!.param, (_name, signal) => {
          const value = pickOf(spec, signal);
          shown.textContent = describe(value);
          clearTimeout(timer);
          const send = () => {
            if (same(value, current)) return;
            current = value;
            commit(value);
          };
          if (spec.select!.type === 'interval') timer = window.setTimeout(send, BRUSH_SETTLE_MS);
          else send();
        });
        box.setAttribute('data-rendered', 'true');
      })
      .catch((err: Error) => {
        if (mine === drawing) box.replaceChildren(el('div', { class: 'output-error' }, [`chart failed: ${err.message}`]));
      });
  };
  draw(current);
  return {
    update(s) {
      if (same(s.value, current)) return;
      current = s.value;
      draw(current);
    },
  };
}
