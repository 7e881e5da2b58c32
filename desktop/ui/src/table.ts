// A virtualised table for Arrow results: only the rows in view (plus a margin) exist in the DOM, and
// rows are fetched from the server in blocks as they scroll into view, so a 100k-row table costs the
// same as a 100-row one.
import { api } from './api.ts';
import { el, formatCell } from './dom.ts';

const ROW_HEIGHT = 26;
const BLOCK = 200;
const VISIBLE_ROWS = 12;
const MARGIN_ROWS = 8;

export function virtualTable(handle: string, numRows: number, columns: { name: string; type: string }[]): HTMLElement {
  const blocks = new Map<number, unknown[][] | Promise<void>>();
  // Bounded column widths keep numbers near their headers in narrow tables; wide ones scroll sideways.
  const template = `56px repeat(${columns.length}, minmax(96px, 220px))`;
  const numeric = (t: string) => /^(Int|Uint|Float|Decimal|number|bigint)/i.test(t);
  const head = el('div', { class: 'vt-row vt-head' }, [
    el('div', { class: 'vt-index' }, ['#']),
    ...columns.map((c) => el('div', { title: c.type, class: numeric(c.type) ? 'num' : '' }, [c.name, el('span', { class: 'vt-type' }, [shortType(c.type)])])),
  ]);
  head.style.gridTemplateColumns = template;
  const spacer = el('div', { class: 'vt-spacer' });
  spacer.style.height = `${numRows * ROW_HEIGHT}px`;
  const body = el('div', { class: 'vt-body' }, [spacer]);
  body.style.height = `${Math.min(numRows, VISIBLE_ROWS) * ROW_HEIGHT + 2}px`;
  const foot = el('div', { class: 'vt-foot' }, [`${numRows.toLocaleString()} rows × ${columns.length} columns`]);
  const root = el('div', { class: 'vtable', 'data-handle': handle, 'data-rows': String(numRows) }, [el('div', { class: 'vt-scroll' }, [head, body]), foot]);

  const rendered = new Map<number, HTMLElement>();
  const render = () => {
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_HEIGHT) - MARGIN_ROWS);
    const last = Math.min(numRows, Math.ceil((body.scrollTop + body.clientHeight) / ROW_HEIGHT) + MARGIN_ROWS);
    for (const [i, row] of rendered) {
      if (i < first || i >= last) {
        row.remove();
        rendered.delete(i);
      }
    }
    for (let i = first; i < last; i++) {
      const b = Math.floor(i / BLOCK);
      const block = blocks.get(b);
      if (!block) {
        fetchBlock(b);
        continue;
      }
      if (block instanceof Promise) continue;
      const cells = block[i - b * BLOCK];
      if (!cells || rendered.has(i)) continue;
      const row = el('div', { class: 'vt-row', 'data-row': String(i) }, [el('div', { class: 'vt-index' }, [String(i)]), ...cells.map((c) => el('div', { class: typeof c === 'number' ? 'num' : '' }, [formatCell(c)]))]);
      row.style.gridTemplateColumns = template;
      row.style.top = `${i * ROW_HEIGHT}px`;
      body.appendChild(row);
      rendered.set(i, row);
    }
  };
  const fetchBlock = (b: number) => {
    const p = api
      .rows(handle, b * BLOCK, BLOCK)
      .then((res) => {
        blocks.set(b, res.rows);
        render();
      })
      .catch((err: Error) => {
        blocks.delete(b);
        foot.textContent = `rows unavailable: ${err.message}`;
      });
    blocks.set(b, p);
  };
  body.addEventListener('scroll', () => requestAnimationFrame(render), { passive: true });
  // clientHeight is only known once attached.
  requestAnimationFrame(render);
  return root;
}

function shortType(t: string): string {
  return t.replace(/^Float(32|64)$/, 'f$1').replace(/^Int(\d+)$/, 'i$1').replace(/^Utf8$/, 'str').replace(/^Dictionary<.*>$/, 'dict');
}
