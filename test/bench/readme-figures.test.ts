// bench/readme-figures.ts: figure blocks parse, splice and fail clearly; and the README's own figures name
// a notebook that exists, an --out folder the command writes, and an output the notebook defines — so a
// renamed cell or notebook breaks this test instead of leaving a figure nobody can regenerate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFigures, spliceFigures } from '../../bench/readme-figures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const DOC = [
  '# Title',
  '<!-- figure: out/a/t.md ← npx promptscope run notebooks/a.html --out out/a -->',
  '| old |',
  '<!-- /figure -->',
  'between',
  '<!-- figure: out/b/u.md ← make b -->',
  '<!-- /figure -->',
  'end',
].join('\n');

test('parseFigures: file, command, body and line of each block', () => {
  assert.deepEqual(parseFigures(DOC), [
    { file: 'out/a/t.md', command: 'npx promptscope run notebooks/a.html --out out/a', body: '| old |', line: 2 },
    { file: 'out/b/u.md', command: 'make b', body: '', line: 6 },
  ]);
});

test('spliceFigures: replaces only the bodies, whatever their length', () => {
  const out = spliceFigures(DOC, (f) => (f.file === 'out/a/t.md' ? '| new |\n| two |\n\n' : 'x'));
  assert.equal(out, DOC.replace('| old |', '| new |\n| two |').replace('make b -->\n', 'make b -->\nx\n'));
  assert.equal(spliceFigures(out, (f) => (f.file === 'out/a/t.md' ? '| new |\n| two |' : 'x')), out, 'idempotent');
});

test('parseFigures: an unclosed block or a malformed comment names its line', () => {
  assert.throws(() => parseFigures('a\n<!-- figure: x.md ← cmd -->\n| t |', 'R.md'), /R\.md:2: figure x\.md has no "<!-- \/figure -->"/);
  assert.throws(() => parseFigures('<!-- figure: x.md ← a -->\n<!-- figure: y.md ← b -->\n<!-- /figure -->', 'R.md'), /R\.md:1: figure x\.md has no/);
  assert.throws(() => parseFigures('<!-- figure x.md -->', 'R.md'), /R\.md:1: a figure comment must read/);
});

test("README's figures: each names an existing notebook, writes into its --out folder and reads a cell the notebook defines", () => {
  const figures = parseFigures(readFileSync(`${ROOT}README.md`, 'utf8'), 'README.md');
  assert.ok(figures.length >= 2, 'the quickstart and UPT tables are figures');
  for (const f of figures) {
    const m = /promptscope run (notebooks\/\S+\.html)\b.*--out (\S+)/.exec(f.command);
    assert.ok(m, `README.md:${f.line}: the command runs a notebook with --out`);
    const [, notebook, out] = m;
    assert.ok(existsSync(`${ROOT}${notebook}`), `README.md:${f.line}: ${notebook} exists`);
    assert.ok(f.file.startsWith(`${out}/`) && f.file.endsWith('.md'), `README.md:${f.line}: ${f.file} is a Markdown output in ${out}`);
    const cell = f.file.slice(out.length + 1, -'.md'.length);
    assert.match(readFileSync(`${ROOT}${notebook}`, 'utf8'), new RegExp(`const ${cell} = md\``), `README.md:${f.line}: ${notebook} defines ${cell} as Markdown`);
    assert.match(f.body, /^\| \|.*\|\n\|---\|/, `README.md:${f.line}: the body is a table (run bench/readme-figures.ts)`);
  }
});
