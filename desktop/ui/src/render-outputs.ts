// Renders what a cell produced: charts (vega-embed), tables (virtualised), Markdown, metric tiles,
// image grids and an expandable JSON inspector for everything else.
import type { OutputView } from '../../protocol.ts';
import { el, formatNumber } from './dom.ts';
import { renderMarkdown } from './markdown.ts';
import { virtualTable } from './table.ts';
import { embedChart } from './vega.ts';

export function renderOutput(o: OutputView): HTMLElement {
  const body = renderBody(o);
  if (!o.label || o.kind === 'markdown') return el('div', { class: `output output-${o.kind}` }, [body]);
  return el('div', { class: `output output-${o.kind}` }, [el('div', { class: 'output-label' }, [o.label, el('span', { class: 'eq' }, [' =']) ]), body]);
}

function renderBody(o: OutputView): HTMLElement {
  switch (o.kind) {
    case 'markdown':
      return markdownBlock(o.text);
    case 'vega-lite':
      return chart(o.spec);
    case 'table':
      return virtualTable(o.handle, o.numRows, o.columns);
    case 'metrics':
      return el('div', { class: 'metrics' }, Object.entries(o.values).map(([k, v]) =>
        el('div', { class: 'metric' }, [el('div', { class: 'metric-value' }, [typeof v === 'number' ? formatNumber(v) : v]), el('div', { class: 'metric-name' }, [k])])));
    case 'images':
      return el('div', { class: 'images' }, o.items.map((it) => el('figure', {}, [el('img', { src: it.src, alt: it.label ?? '' }), it.label ? el('figcaption', {}, [it.label]) : null])));
    case 'dataset':
      return el('div', { class: 'dataset' }, [
        el('div', { class: 'dataset-head' }, [
          el('strong', {}, [o.name]),
          ` · ${o.images.toLocaleString()} images · ${o.classes} classes`,
          o.fingerprint ? el('span', { class: 'fingerprint', title: `sha256 ${o.fingerprint}` }, [` · ${o.fingerprint.slice(0, 12)}`]) : null,
        ]),
        el('div', { class: 'images' }, o.samples.map((it) => el('figure', {}, [el('img', { src: it.src, alt: it.label ?? '' }), it.label ? el('figcaption', {}, [it.label]) : null]))),
        virtualTable(o.table.handle, o.table.numRows, o.table.columns),
      ]);
    case 'json':
      return inspect(o.value, true);
  }
}

export function markdownBlock(text: string): HTMLElement {
  const div = el('div', { class: 'markdown' });
  // renderMarkdown escapes all source text; this is the one place HTML is assigned.
  div.innerHTML = renderMarkdown(text);
  return div;
}

function chart(spec: unknown): HTMLElement {
  const div = el('div', { class: 'chart' });
  const target = el('div');
  div.append(target);
  embedChart(target, spec)
    .then(() => div.setAttribute('data-rendered', 'true'))
    .catch((err: Error) => {
      div.replaceChildren(el('div', { class: 'output-error' }, [`chart failed: ${err.message}`]));
    });
  return div;
}

/** A compact inspector: primitives inline, objects and arrays as expandable trees with a one-line preview. */
export function inspect(v: unknown, open = false, depth = 0): HTMLElement {
  if (isLeaf(v)) return leaf(v);
  const o = v as Record<string, unknown>;
  const entries: (readonly [string, unknown])[] = Array.isArray(v)
    ? v.map((x, i) => [String(i), x] as const)
    : o.$type === 'instance'
      ? Object.entries((o.fields ?? {}) as Record<string, unknown>)
      : Object.entries(o).filter(([k]) => k !== '$type');
  const summary = preview(v, 0);
  const details = el('details', { class: 'j-tree' }, [el('summary', {}, [summary])]);
  // Collapsed when the one-line preview already says everything; open at the top when it is cut short.
  if (open && depth < 1 && summary.endsWith('…}') && entries.length <= 20) details.open = true;
  let filled = false;
  const fill = () => {
    if (filled) return;
    filled = true;
    details.append(el('div', { class: 'j-children' }, entries.map(([k, x]) => el('div', { class: 'j-entry' }, [el('span', { class: 'j-key' }, [`${k}: `]), inspect(x, false, depth + 1)]))));
  };
  if (details.open) fill();
  details.addEventListener('toggle', fill);
  return details;
}

function isLeaf(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  const o = v as Record<string, unknown>;
  return typeof o.$type === 'string' && (typeof o.text === 'string' || o.$type === 'undefined');
}

function leaf(v: unknown): HTMLElement {
  if (v === null) return el('span', { class: 'j-null' }, ['null']);
  if (typeof v === 'number') return el('span', { class: 'j-num' }, [formatNumber(v)]);
  if (typeof v === 'boolean') return el('span', { class: 'j-bool' }, [String(v)]);
  if (typeof v === 'string') return el('span', { class: 'j-str' }, [JSON.stringify(v)]);
  const o = v as Record<string, unknown>;
  if (o && o.$type === 'undefined') return el('span', { class: 'j-null' }, ['undefined']);
  return el('span', { class: 'j-special' }, [String(o?.text ?? v)]);
}

/** A one-line preview such as `Array(12) [{step: 0, loss: 1.5}, …]` (bounded length). */
function preview(v: unknown, depth: number): string {
  if (isLeaf(v)) return leaf(v).textContent ?? '';
  const o = v as Record<string, unknown>;
  if (depth > 1) return Array.isArray(v) ? `Array(${v.length})` : '{…}';
  const clip = (parts: string[], total: number) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      if (!out && parts[i].length > 90) return `${parts[i].slice(0, 88)}…`;
      if (out.length + parts[i].length > 90) return `${out}, …`;
      out += (out ? ', ' : '') + parts[i];
    }
    return parts.length < total ? `${out}, …` : out;
  };
  if (Array.isArray(v)) return `Array(${v.length}) [${clip(v.slice(0, 12).map((x) => preview(x, depth + 1)), v.length)}]`;
  const fields = o.$type === 'instance' ? ((o.fields ?? {}) as Record<string, unknown>) : o;
  const keys = Object.keys(fields).filter((k) => k !== '$type');
  const body = `{${clip(keys.slice(0, 12).map((k) => `${k}: ${preview(fields[k], depth + 1)}`), keys.length)}}`;
  return o.$type === 'instance' ? `${String(o.class)} ${body}` : body;
}
