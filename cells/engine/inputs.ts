// Inputs a cell exposes, `viewof`-style: `const shots = view(Inputs.range([1, 16], {value: 4, step: 1}))`.
// In the engine an input is a plain description plus its current value; the desktop UI renders it as a
// widget and the CLI's `--set name=value` overrides it. Both drive the same variable, so changing it
// re-runs exactly the cells downstream of it. A chart is an input too (`view(Inputs.chart(chart))`, or
// `view(chart)` for a chart that declares a selection param): what is clicked or brushed is its value.
import { canonical, chartInput, selectionProblem, type ChartInputOptions, type ChartSelection } from './chart-input.ts';

export type { ChartSelection };

export type InputKind = 'range' | 'number' | 'select' | 'checkbox' | 'toggle' | 'text' | 'chart';

export interface InputSpec {
  kind: InputKind;
  label?: string;
  value: unknown;
  /** range/number */
  min?: number;
  max?: number;
  step?: number;
  /** select/checkbox: the choices (checkbox = multi-select, value is an array); chart: what a click may pick */
  options?: unknown[];
  /** chart: the Vega-Lite spec (rows inline) the UI draws, and the selection in it that is the value */
  chart?: Record<string, unknown>;
  select?: ChartSelection;
}

export class InputValueError extends Error {}

interface Common {
  label?: string;
}

export const Inputs = {
  range(extent: [number, number], opts: Common & { value?: number; step?: number } = {}): InputSpec {
    const [min, max] = extent;
    return { kind: 'range', min, max, step: opts.step, label: opts.label, value: opts.value ?? (min + max) / 2 };
  },
  number(opts: Common & { value?: number; min?: number; max?: number; step?: number } = {}): InputSpec {
    return { kind: 'number', min: opts.min, max: opts.max, step: opts.step, label: opts.label, value: opts.value ?? 0 };
  },
  select(options: unknown[], opts: Common & { value?: unknown; multiple?: boolean } = {}): InputSpec {
    if (opts.multiple) return Inputs.checkbox(options, { label: opts.label, value: opts.value as unknown[] | undefined });
    return { kind: 'select', options, label: opts.label, value: opts.value ?? options[0] };
  },
  checkbox(options: unknown[], opts: Common & { value?: unknown[] } = {}): InputSpec {
    return { kind: 'checkbox', options, label: opts.label, value: opts.value ?? [] };
  },
  toggle(opts: Common & { value?: boolean } = {}): InputSpec {
    return { kind: 'toggle', label: opts.label, value: opts.value ?? false };
  },
  text(opts: Common & { value?: string } = {}): InputSpec {
    return { kind: 'text', label: opts.label, value: opts.value ?? '' };
  },
  /**
   * A chart whose selection is the value: a click on a mark picks that mark's `field` (point, the default),
   * or a drag along x picks [lo, hi] (`select: 'interval'`). Nothing picked is null.
   */
  chart(chart: unknown, opts: ChartInputOptions = {}): InputSpec {
    const c = chartInput(chart, opts);
    return { kind: 'chart', label: opts.label, chart: c.chart, select: c.select, ...(c.options ? { options: c.options } : {}), value: c.value };
  },
  /** SQL cells end in `.then(Inputs.table)` when transpiled; in the engine a table is its own value. */
  table<T>(value: T): T {
    return value;
  },
};

/** True for a chart value ({kind: 'vega-lite', spec}): `view(chart)` makes it a chart input. */
export function isChartValue(v: unknown): boolean {
  return !!v && typeof v === 'object' && (v as { kind?: unknown }).kind === 'vega-lite';
}

/** Parses a `--set` string for an input: JSON when it parses ("4", "[\"a\"]", "true"), else the raw text. */
export function parseSetting(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Checks an override against the input's description; returns the value to use or throws saying why. */
export function coerceInput(name: string, spec: InputSpec, value: unknown): unknown {
  const fail = (why: string) => new InputValueError(`input "${name}": ${why}`);
  switch (spec.kind) {
    case 'range':
    case 'number': {
      const n = typeof value === 'string' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw fail(`expected a number, got ${JSON.stringify(value)}`);
      if (spec.min !== undefined && n < spec.min) throw fail(`${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw fail(`${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'select': {
      const hit = spec.options!.find((o) => o === value || String(o) === String(value));
      if (hit === undefined) throw fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(spec.options)}`);
      return hit;
    }
    case 'checkbox': {
      const list = Array.isArray(value) ? value : String(value).split(',').filter(Boolean);
      return list.map((v) => {
        const hit = spec.options!.find((o) => o === v || String(o) === String(v));
        if (hit === undefined) throw fail(`${JSON.stringify(v)} is not one of ${JSON.stringify(spec.options)}`);
        return hit;
      });
    }
    case 'toggle':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw fail(`expected true or false, got ${JSON.stringify(value)}`);
    case 'text':
      return String(value);
    case 'chart': {
      const problem = selectionProblem(spec.select!, spec.options, value);
      if (problem) throw fail(problem);
      return canonical(spec.select!, spec.options, value);
    }
  }
}
