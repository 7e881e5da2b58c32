// Widgets for the inputs cells declare (`view(Inputs.range(...))` and friends). A widget only reports
// a committed value (slider released, select changed, Enter in a text box); the engine then re-runs the
// input's downstream cells and nothing else.
import type { InputSpec } from '../../protocol.ts';
import { chartWidget } from './chart-input.ts';
import { el } from './dom.ts';

export interface InputWidget {
  root: HTMLElement;
  /** Shows a value the engine reports, unless the user is interacting with the widget. */
  update(spec: InputSpec): void;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** `place` keeps element ids unique when the same input is shown twice (in its cell and in the inputs bar). */
export function inputWidget(name: string, spec: InputSpec, commit: (value: unknown) => void, place = 'cell'): InputWidget {
  const id = `input-${place}-${name}`;
  const label = el('label', { class: 'input-label', for: id }, [spec.label ?? name]);
  const root = el('div', { class: `input input-${spec.kind}`, 'data-input': name }, [label]);
  let current = spec.value;
  const send = (value: unknown) => {
    if (same(value, current)) return;
    current = value;
    commit(value);
  };

  switch (spec.kind) {
    case 'chart': {
      // In the inputs bar a chart would not fit: a point selection shows there as a choice of its values.
      if (place === 'bar') {
        if (spec.select?.type !== 'point') return { root: el('div', { hidden: '' }), update: () => undefined };
        return inputWidget(name, { kind: 'select', label: spec.label, options: [null, ...(spec.options ?? [])], value: spec.value }, commit, place);
      }
      return { root, ...chartWidget(root, spec, commit) };
    }
    case 'range':
    case 'number': {
      const slider = spec.kind === 'range';
      const box = el('input', { id, type: slider ? 'range' : 'number', name });
      if (spec.min !== undefined) box.min = String(spec.min);
      if (spec.max !== undefined) box.max = String(spec.max);
      box.step = spec.step !== undefined ? String(spec.step) : slider ? 'any' : 'any';
      box.value = String(spec.value);
      const shown = el('output', { class: 'input-value' }, [String(spec.value)]);
      box.addEventListener('input', () => (shown.textContent = box.value));
      box.addEventListener('change', () => send(Number(box.value)));
      root.append(box, slider ? shown : '');
      return {
        root,
        update(s) {
          current = s.value;
          if (document.activeElement !== box) {
            box.value = String(s.value);
            shown.textContent = String(s.value);
          }
        },
      };
    }
    case 'select': {
      const options = spec.options ?? [];
      // null is a chart input's "nothing picked" (offered in the inputs bar), shown as a dash.
      const select = el('select', { id, name }, options.map((o, i) => el('option', { value: String(i) }, [o === null ? '—' : String(o)])));
      select.value = String(Math.max(0, options.findIndex((o) => same(o, spec.value))));
      select.addEventListener('change', () => send(options[Number(select.value)]));
      root.append(select);
      return {
        root,
        update(s) {
          current = s.value;
          select.value = String(Math.max(0, options.findIndex((o) => same(o, s.value))));
        },
      };
    }
    case 'checkbox': {
      const options = spec.options ?? [];
      const chosen = new Set((spec.value as unknown[]).map((v) => JSON.stringify(v)));
      const boxes = options.map((o, i) => {
        const box = el('input', { type: 'checkbox', id: `${id}-${i}`, value: String(i) });
        box.checked = chosen.has(JSON.stringify(o));
        box.addEventListener('change', () => send(options.filter((_o, j) => boxes[j].checked)));
        return box;
      });
      root.append(el('div', { class: 'input-choices' }, options.map((o, i) => el('label', { class: 'choice', for: `${id}-${i}` }, [boxes[i], String(o)]))));
      return {
        root,
        update(s) {
          current = s.value;
          const now = new Set((s.value as unknown[]).map((v) => JSON.stringify(v)));
          boxes.forEach((b, i) => (b.checked = now.has(JSON.stringify(options[i]))));
        },
      };
    }
    case 'toggle': {
      const box = el('input', { type: 'checkbox', id: id, class: 'switch', role: 'switch' });
      box.checked = spec.value === true;
      box.addEventListener('change', () => send(box.checked));
      root.append(box);
      return {
        root,
        update(s) {
          current = s.value;
          box.checked = s.value === true;
        },
      };
    }
    case 'text': {
      const box = el('input', { type: 'text', id: id, name });
      box.value = String(spec.value ?? '');
      box.addEventListener('change', () => send(box.value));
      root.append(box);
      return {
        root,
        update(s) {
          current = s.value;
          if (document.activeElement !== box) box.value = String(s.value ?? '');
        },
      };
    }
  }
}
