import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNotebook, serializeNotebook, NotebookFormatError } from '../../cells/engine/notebook.ts';
import { compileNotebook, NotebookError } from '../../cells/engine/compile.ts';
import { notebookOf } from './helpers.ts';

const NONE = new Set<string>();

test('round-trips cells, modes and attributes through the Observable 2.0 format', () => {
  const html = `<!doctype html>
<notebook theme="air">
  <title>My study</title>
  <script id="3" type="text/markdown">
    # Title
    text
  </script>
  <script id="7" type="module">
    const a = 1;
    const b = a < 2 && "</scr" + "ipt>";
  </script>
  <script id="9" type="application/sql" output="counts" database="main">
    SELECT 1 AS one
  </script>
</notebook>
`;
  const nb = parseNotebook(html);
  assert.equal(nb.title, 'My study');
  assert.deepEqual(nb.cells.map((c) => [c.id, c.mode]), [[3, 'md'], [7, 'js'], [9, 'sql']]);
  assert.equal(nb.cells[1].value, 'const a = 1;\nconst b = a < 2 && "</scr" + "ipt>";');
  assert.equal(nb.cells[2].output, 'counts');
  assert.equal(nb.cells[2].database, 'main');
  assert.equal(nb.cells[1].line, 9, 'line of the first source line in the file');
  const again = parseNotebook(serializeNotebook(nb));
  assert.deepEqual(again.cells.map(({ line, ...c }) => c), nb.cells.map(({ line, ...c }) => c));
  assert.equal(serializeNotebook(again), serializeNotebook(nb), 'serialization is stable');
});

test('a script containing </script> survives serialization', () => {
  const nb = parseNotebook(notebookOf([[1, 'const s = 1;']]));
  nb.cells[0].value = 'const s = "</script>";';
  assert.equal(parseNotebook(serializeNotebook(nb)).cells[0].value, 'const s = "</script>";');
});

test('malformed notebooks fail with the cell and line named', () => {
  assert.throws(() => parseNotebook('<html><body>hi</body></html>'), /no <notebook> element/);
  assert.throws(
    () => parseNotebook('<notebook>\n<script id="1" type="text/x-python">print(1)</script></notebook>'),
    (e: NotebookFormatError) => e.cellId === 1 && e.line === 2 && /unknown type "text\/x-python"/.test(e.message),
  );
  assert.throws(
    () => parseNotebook('<notebook>\n<script id="4">1</script>\n<script id="4">2</script></notebook>'),
    (e: NotebookFormatError) => /duplicate cell id 4 \(first used on line 2\)/.test(e.message) && e.line === 3,
  );
  assert.throws(() => parseNotebook('<notebook><script>1</script></notebook>'), /no id/);
  assert.throws(() => parseNotebook('<notebook><script id="x">1</script></notebook>'), /invalid id "x"/);
  assert.throws(() => parseNotebook('<notebook><div>1</div></notebook>'), /unexpected <div>/);
});

test('graph errors: duplicate names, undefined references, cycles, syntax errors', () => {
  const dup = parseNotebook(notebookOf([[1, 'const a = 1;'], [2, 'const a = 2;']]));
  assert.throws(() => compileNotebook(dup, NONE), (e: NotebookError) => e.cellId === 2 && /"a" is already defined by cell 1/.test(e.message));

  const undef = parseNotebook(notebookOf([[1, 'const a = 1;'], [2, 'const b = a + c;']]));
  assert.throws(() => compileNotebook(undef, NONE), (e: NotebookError) => e.cellId === 2 && /"c" is not defined/.test(e.message) && e.line === 8);

  const cyc = parseNotebook(notebookOf([[1, 'const a = c + 1;'], [2, 'const b = a;'], [3, 'const c = b;']]));
  assert.throws(() => compileNotebook(cyc, NONE), /circular definition: cell 1 \(a\) → cell 3 \(c\) → cell 2 \(b\) → cell 1 \(a\)/);

  const syntax = parseNotebook(notebookOf([[1, 'const a = 1;'], [2, 'const b = ;']]));
  assert.throws(() => compileNotebook(syntax, NONE), (e: NotebookError) => e.cellId === 2 && e.line === 8 && /cell 2, line 8/.test(e.message));

  const shadow = parseNotebook(notebookOf([[1, 'const view = 1;']]));
  assert.throws(() => compileNotebook(shadow, new Set(['view'])), /shadows a built-in/);
});
