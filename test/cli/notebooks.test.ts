// Every notebook shipped in notebooks/ must parse and compile against the real cell library: a renamed
// builtin or a typo in a cell fails here, not in a user's first run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseNotebook } from '../../cells/engine/notebook.ts';
import { NotebookSession } from '../../cells/engine/session.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { buildLibrary } from '../../cells/library.ts';

const DIR = fileURLToPath(new URL('../../notebooks/', import.meta.url));

test('shipped notebooks compile against the cell library', async () => {
  const builtins = await buildLibrary();
  const files = readdirSync(DIR).filter((f) => f.endsWith('.html'));
  assert.ok(files.includes('quickstart.html') && files.includes('transferability.html'));
  for (const f of files) {
    const nb = parseNotebook(readFileSync(DIR + f, 'utf8'), f);
    assert.ok(nb.cells.length > 0, `${f} has cells`);
    // The constructor compiles and validates every cell (names, references, cycles) without running any.
    assert.doesNotThrow(() => new NotebookSession(nb, { cache: new Cache('/nonexistent'), builtins }), f);
  }
});
