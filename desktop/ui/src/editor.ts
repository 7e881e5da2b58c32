// One CodeMirror 6 editor per cell, in the cell's language. Shift-Enter (or Ctrl/Cmd-Enter) runs the cell.
import { EditorView, basicSetup } from 'codemirror';
import { Compartment, EditorState, Prec, StateEffect, StateField } from '@codemirror/state';
import { Decoration, keymap, type DecorationSet } from '@codemirror/view';
import { javascript } from '@codemirror/lang-javascript';
import { markdown } from '@codemirror/lang-markdown';
import { sql } from '@codemirror/lang-sql';
import type { CellMode } from '../../protocol.ts';
import { styleNonce } from './api.ts';

export interface CellEditor {
  readonly view: EditorView;
  getValue(): string;
  /** Replaces the text unless the user is editing it (their edit wins until they run or blur). */
  setValue(text: string): void;
  setReadOnly(readOnly: boolean): void;
  /** Marks the line (1-based, in this editor) an error points at; null clears it. */
  setErrorLine(line: number | null): void;
  focus(): void;
  destroy(): void;
}

function language(mode: CellMode) {
  if (mode === 'md') return markdown();
  if (mode === 'sql') return sql();
  return javascript();
}

const setError = StateEffect.define<number | null>();
const errorLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setError)) continue;
      const n = e.value;
      deco = n !== null && n >= 1 && n <= tr.state.doc.lines ? Decoration.set([Decoration.line({ class: 'cm-error-line' }).range(tr.state.doc.line(n).from)]) : Decoration.none;
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const theme = EditorView.theme({
  '&': { fontSize: '13px', backgroundColor: 'transparent' },
  '.cm-content': { fontFamily: 'var(--mono)', padding: '6px 0' },
  '.cm-gutters': { backgroundColor: 'transparent', border: 'none', color: 'var(--faint)' },
  '.cm-activeLineGutter, .cm-activeLine': { backgroundColor: 'transparent' },
  '&.cm-focused .cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '&.cm-focused': { outline: 'none' },
});

export function createEditor(parent: HTMLElement, doc: string, mode: CellMode, opts: { readOnly: boolean; onRun: () => void; onChange: () => void }): CellEditor {
  const readOnly = new Compartment();
  const run = () => {
    opts.onRun();
    return true;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        Prec.highest(keymap.of([{ key: 'Shift-Enter', run }, { key: 'Mod-Enter', run }])),
        basicSetup,
        language(mode),
        theme,
        errorLine,
        EditorView.lineWrapping,
        // Under the page's CSP, CodeMirror's <style> elements need the page's style nonce.
        EditorView.cspNonce.of(styleNonce),
        readOnly.of([EditorState.readOnly.of(opts.readOnly), EditorView.editable.of(!opts.readOnly)]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) opts.onChange();
        }),
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(text) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setReadOnly(value) {
      view.dispatch({ effects: readOnly.reconfigure([EditorState.readOnly.of(value), EditorView.editable.of(!value)]) });
    },
    setErrorLine(line) {
      view.dispatch({ effects: setError.of(line) });
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
