// A Vega-Lite chart as an input: clicking a mark (a point selection) or brushing an x range (an interval
// selection) picks a value, and cells that read the input re-run on it, as marimo's reactive charts do.
// This file turns a chart into the selection it exposes (which param, which field, what may be picked)
// and checks a picked value; inputs.ts makes it an InputSpec and the UI draws it with vega-embed.
// It imports nothing: the engine must not depend on the plotting layer, so charts are recognised by shape.

/** What a chart input selects: one value of `field` (point) or a [lo, hi] range of it along x (interval). */
export interface ChartSelection {
  type: 'point' | 'interval';
  /** The Vega-Lite selection param the UI listens to. */
  param: string;
  /** The data field whose value(s) the selection yields. */
  field: string;
}

export interface ChartInputOptions {
  /** The field a click picks (default: the field of the chart's own selection param). */
  field?: string;
  /** 'point' (default): a click picks one value; 'interval': dragging along x picks [lo, hi]. */
  select?: 'point' | 'interval';
  /** The selection before anything is clicked (default: nothing, null). */
  value?: unknown;
  label?: string;
}

export interface ChartInput {
  /** The Vega-Lite spec, with its data inline and the selection param present. */
  chart: Record<string, unknown>;
  select: ChartSelection;
  /** Point selections: every value of the field in the chart's data, in first-seen order. */
  options?: unknown[];
  value: unknown;
}

type Spec = Record<string, unknown>;
type Param = { name?: unknown; select?: unknown; value?: unknown };

const isObject = (v: unknown): v is Spec => !!v && typeof v === 'object' && !Array.isArray(v);

/** Point selections yield at most this many distinct values (a chart is not a table of 100k options). */
const MAX_OPTIONS = 10_000;

/** A chart value ({kind: 'vega-lite', spec}) or a bare spec. */
function specOf(chart: unknown): Spec {
  if (isObject(chart) && chart.kind === 'vega-lite' && isObject(chart.spec)) return chart.spec;
  if (isObject(chart) && ('mark' in chart || 'layer' in chart)) return chart;
  throw new Error('Inputs.chart: expected a chart (vegaLite({...})) or a Vega-Lite spec with a mark or layers');
}

/** Rows of the chart's inline data: an array of objects, or an Arrow table (turned into plain rows). */
function rowsOf(data: unknown): Spec[] {
  const values = isObject(data) ? data.values : undefined;
  if (Array.isArray(values)) return values as Spec[];
  const table = values as { toArray?: () => { toJSON?: () => Spec }[] } | undefined;
  if (table && typeof table.toArray === 'function') return table.toArray().map((r) => (typeof r.toJSON === 'function' ? r.toJSON() : (r as unknown as Spec)));
  throw new Error('Inputs.chart: the chart needs its rows inline (data: {values: [...]}) at the top level, so the picked values can be checked');
}

/** The unit spec that holds selection params: the chart itself, or its first layer. */
function unitOf(spec: Spec): Spec {
  if ('mark' in spec) return spec;
  if (Array.isArray(spec.layer) && isObject(spec.layer[0])) return spec.layer[0];
  throw new Error('Inputs.chart: a chart input must be a single or layered chart (not concatenated or faceted)');
}

function xFieldOf(unit: Spec): string | undefined {
  const x = isObject(unit.encoding) ? unit.encoding.x : undefined;
  return isObject(x) && typeof x.field === 'string' ? x.field : undefined;
}

/** The chart's own selection param, if it declares one. */
function declared(unit: Spec): { index: number; param: Param } | undefined {
  const params = Array.isArray(unit.params) ? (unit.params as Param[]) : [];
  const index = params.findIndex((p) => isObject(p) && p.select !== undefined);
  return index >= 0 ? { index, param: params[index] } : undefined;
}

/**
 * The chart as an input: finds (or adds) its selection param, copies the spec with rows inline, and for a
 * point selection lists the values that may be picked.
 */
export function chartInput(chart: unknown, opts: ChartInputOptions = {}): ChartInput {
  const original = specOf(chart);
  const rows = rowsOf(original.data);
  // A copy: the cell's own chart value stays as it was written.
  const spec: Spec = { ...original, data: { ...(original.data as Spec), values: rows } };
  if (Array.isArray(spec.layer)) spec.layer = spec.layer.map((l, i) => (i === 0 ? { ...(l as Spec) } : l));
  const unit = unitOf(spec);
  const own = declared(unit);
  const ownSelect = own ? (typeof own.param.select === 'string' ? { type: own.param.select } : (own.param.select as Spec)) : undefined;
  const type = opts.select ?? (ownSelect?.type === 'interval' ? 'interval' : 'point');
  if (type !== 'point' && type !== 'interval') throw new Error(`Inputs.chart: select must be "point" or "interval", got ${JSON.stringify(type)}`);
  if (ownSelect && ownSelect.type !== type) throw new Error(`Inputs.chart: the chart's selection is a ${String(ownSelect.type)} selection, not ${type}`);
  const ownFields = Array.isArray(ownSelect?.fields) ? (ownSelect!.fields as unknown[]) : [];
  const field = opts.field ?? (typeof ownFields[0] === 'string' ? ownFields[0] : type === 'interval' ? xFieldOf(unit) : undefined);
  if (!field) throw new Error('Inputs.chart: say which field a click picks, e.g. Inputs.chart(chart, {field: "className"})');
  if (!rows.some((r) => isObject(r) && field in r)) throw new Error(`Inputs.chart: no row of the chart's data has a "${field}" field`);
  if (type === 'interval' && xFieldOf(unit) !== field) throw new Error(`Inputs.chart: an interval selection brushes along x, so "${field}" must be the x field of the chart`);
  const param = typeof own?.param.name === 'string' ? own.param.name : 'pick';
  // Point: the field's value; toggle off so a shift-click does not make it a set. Interval: a brush along x.
  const select = type === 'point' ? { type: 'point', fields: [field], toggle: false } : { type: 'interval', encodings: ['x'] };
  // The initial value is left out of the spec: the UI sets it from the input's value, so a new pick does
  // not change the spec (the widget would redraw on every click).
  const params = Array.isArray(unit.params) ? [...(unit.params as Param[])] : [];
  const entry = { ...(own?.param ?? {}), name: param, select };
  delete (entry as Param).value;
  if (own) params[own.index] = entry;
  else params.push(entry);
  unit.params = params;

  const selection: ChartSelection = { type, param, field };
  let options: unknown[] | undefined;
  if (type === 'point') {
    const seen = new Set<string>();
    options = [];
    for (const r of rows) {
      const v = isObject(r) ? r[field] : undefined;
      const key = JSON.stringify(v);
      if (v === undefined || seen.has(key)) continue;
      seen.add(key);
      options.push(v);
      if (options.length > MAX_OPTIONS) throw new Error(`Inputs.chart: "${field}" has more than ${MAX_OPTIONS} distinct values; pick a field that names fewer things`);
    }
  }
  const value = opts.value ?? null;
  const problem = selectionProblem(selection, options, value);
  if (problem) throw new Error(`Inputs.chart: the initial value ${problem}`);
  return { chart: spec, select: selection, ...(options ? { options } : {}), value: canonical(selection, options, value) };
}

/** Why `value` cannot be this selection's value, or null when it can (null itself: nothing picked). */
export function selectionProblem(select: ChartSelection, options: unknown[] | undefined, value: unknown): string | null {
  if (value === null) return null;
  if (select.type === 'point') {
    if (options!.some((o) => o === value || String(o) === String(value))) return null;
    const shown = options!.length > 20 ? `${JSON.stringify(options!.slice(0, 20)).slice(0, -1)}, … ${options!.length} in all]` : JSON.stringify(options);
    return `${JSON.stringify(value)} is not a ${select.field} in the chart (${shown})`;
  }
  if (!Array.isArray(value) || value.length !== 2 || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return `${JSON.stringify(value)} is not a range of ${select.field}: expected [lo, hi], two numbers`;
  }
  if (value[0] > value[1]) return `[${value[0]}, ${value[1]}] is not a range of ${select.field}: lo is above hi`;
  return null;
}

/** A checked value in the chart's own type ("3" from --set picks the option 3). */
export function canonical(select: ChartSelection, options: unknown[] | undefined, value: unknown): unknown {
  if (value === null || select.type === 'interval') return value;
  return options!.find((o) => o === value) ?? options!.find((o) => String(o) === String(value));
}
