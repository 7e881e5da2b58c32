// Property-based fuzzing of the notebook format and the compiler (fast-check). Five families of inputs:
//   1. arbitrary cell values, titles and attributes → serialize → parse must give them back exactly;
//   2. valid notebooks (random dependency graphs, hostile-but-legal code, cells in any order) must
//      parse and compile, with every cell's first line where the file has it;
//   3. a valid notebook with exactly one known fault must fail naming that cell and that line;
//   4. random mutations of valid notebooks (cuts, duplications, injected tags, NULs, CR, …);
//   5. token soup.
// Every input either parses and compiles (then round-trips) or throws one of our two error types with a
// line inside the file — never anything else, and never slowly. Only parse + compile run here; a smaller
// set runs through a real session (see the last tests) to show that running never hangs either.
// The regression tests at the end are the concrete inputs the fuzzer found, kept as plain cases.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isValidName, MAX_CELL_ID, NotebookFormatError, parseNotebook, serializeNotebook, type CellMode, type Notebook } from '../../cells/engine/notebook.ts';
import { compileNotebook, NotebookError } from '../../cells/engine/compile.ts';
import { NotebookSession } from '../../cells/engine/session.ts';
import { Cache } from '../../cells/exec/cache.ts';
import { downstreamOf, tempDir } from './helpers.ts';

const BUILTINS = new Set(['md', 'db', 'Inputs', 'view', 'display']);
/** The slowest single parse + compile allowed; far above the ~1 ms a case takes, far below a hang. */
const CASE_LIMIT_MS = 3000;
/** A fixed seed keeps CI reproducible; FUZZ_SEED=random (or a number) explores new inputs locally. */
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() : Number(process.env.FUZZ_SEED ?? 20240516);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)), seed: SEED, endOnFailure: true, includeErrorInReport: true });

const counts: Record<string, number> = {};
let slowest = { ms: 0, family: '' };
after(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`fuzz: ${total} notebooks parsed and compiled (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}); slowest ${slowest.ms.toFixed(0)} ms (${slowest.family}); seed ${SEED}`);
});

type Outcome = { nb: Notebook; err?: undefined } | { nb?: Notebook; err: NotebookFormatError | NotebookError };

/**
 * Parses and compiles `text`, and checks what every input must satisfy: nothing but our two error
 * types escapes; an error names a line inside the file (and says it), and the cell it names, if any; a
 * compile error's line lies inside that cell; a notebook that parses round-trips through serialize.
 */
function check(text: string, family: string, limitMs = CASE_LIMIT_MS): Outcome {
  counts[family] = (counts[family] ?? 0) + 1;
  const fileLines = text.split(/\r\n|\r|\n/).length;
  const started = performance.now();
  let nb: Notebook | undefined;
  let outcome: Outcome;
  try {
    nb = parseNotebook(text, 'fuzz.html');
    compileNotebook(nb, BUILTINS);
    outcome = { nb };
  } catch (e) {
    if (!(e instanceof NotebookFormatError || e instanceof NotebookError)) {
      throw new Error(`${family}: crashed with ${(e as Error)?.stack ?? String(e)}\n--- input (${text.length} chars) ---\n${text.slice(0, 3000)}`);
    }
    const line = e.line;
    assert.ok(Number.isInteger(line) && line! >= 1 && line! <= fileLines, `${family}: line ${line} is not in the file (1..${fileLines}): ${e.message}\n${text.slice(0, 3000)}`);
    assert.ok(e.message.includes(`line ${line}`) || e.message.includes(`:${line}:`), `${family}: the message does not name line ${line}: ${e.message}`);
    assert.doesNotMatch(e.message, /\bundefined\b(?!")|\[object |call stack/, `${family}: unclear message: ${e.message}`);
    if (e.cellId !== undefined) {
      assert.match(e.message, new RegExp(`\\bcell (id )?${e.cellId}\\b`), `${family}: the message does not name cell ${e.cellId}: ${e.message}`);
    }
    if (e instanceof NotebookError) {
      // Compile errors always concern one cell of a parsed notebook, on one of that cell's own lines.
      const cell = nb!.cells.find((c) => c.id === e.cellId);
      assert.ok(cell, `${family}: compile error names no cell of the notebook: ${e.message}`);
      const last = cell.line + Math.max(0, cell.value.split('\n').length - 1);
      assert.ok(line! >= cell.line && line! <= last, `${family}: line ${line} is outside cell ${cell.id} (lines ${cell.line}–${last}): ${e.message}\n${text.slice(0, 3000)}`);
    }
    outcome = { nb, err: e };
  }
  if (nb) assertRoundTrip(nb, family);
  const ms = performance.now() - started;
  if (ms > slowest.ms) slowest = { ms, family };
  assert.ok(ms < limitMs, `${family}: one case took ${ms.toFixed(0)} ms`);
  return outcome;
}

const withoutLines = (nb: Notebook) => ({ ...nb, cells: nb.cells.map(({ line: _line, ...c }) => c) });

/** Serialize → parse gives the same notebook; serializing is stable; each cell's line is where its first line is. */
function assertRoundTrip(nb: Notebook, family: string): void {
  const text = serializeNotebook(nb);
  const again = parseNotebook(text, 'roundtrip.html');
  assert.deepEqual(withoutLines(again), withoutLines(nb), `${family}: serialize → parse changed the notebook`);
  assert.equal(serializeNotebook(again), text, `${family}: serialization is not stable`);
  const lines = text.split('\n');
  for (const c of again.cells) {
    const first = c.value.split('\n')[0];
    if (first) assert.equal(lines[c.line - 1].slice(4).replace(/<\\(?=\\*(\/script|!--))/gi, '<'), first, `${family}: cell ${c.id} line ${c.line}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// 1. Round trip of arbitrary values.

/** Pieces that stress the HTML raw-text rules: script end tags in every spelling, comment openers, escapes. */
const HOSTILE = [
  '</script>', '</SCRIPT >', '</script/', '</script', '<\\/script>', '<\\\\/script>', '<!--', '<!--<script>', '-->', '<script>',
  '<script id="9">', '</notebook>', '<notebook>', '<title>', '&amp;', '&lt;', '&', '"', "'", '`', '${', '}', '<', '>', '/', '\\', '!', '-',
  '\n', '\n\n', ' ', '    ', '\t', 'é', '日本', '😀', '\u2028', '\u00a0', '\uFEFF', 'x', 'const', '1',
];
const hostileText = (maxLength: number) => fc.string({ unit: fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 3 })), maxLength }).map((s) => s.replace(/[\0\r]/g, ''));
const validName = fc.stringMatching(/^[A-Za-z_$][\w$]{0,8}$/).filter(isValidName);

const notebookModel: fc.Arbitrary<Notebook> = fc
  .record({
    title: hostileText(12),
    theme: fc.constantFrom('air', 'slate', 'light-dark(air, slate)', '" onload="alert(1)', '<x>'),
    cells: fc.uniqueArray(
      fc.record({
        id: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: MAX_CELL_ID })),
        mode: fc.constantFrom<CellMode>('js', 'md', 'sql'),
        value: hostileText(40),
        output: fc.option(validName, { nil: undefined }),
        database: fc.option(hostileText(8), { nil: undefined }),
        hidden: fc.boolean(),
        pinned: fc.boolean(),
      }),
      { selector: (c) => c.id, maxLength: 6 },
    ),
  })
  .map(({ title, theme, cells }) => ({
    title: title.trim(),
    theme,
    cells: cells.map(({ output, database, hidden, pinned, ...c }) => ({
      ...c,
      line: 0,
      ...(output ? { output } : {}),
      ...(database ? { database } : {}),
      ...(hidden ? { hidden } : {}),
      ...(pinned ? { pinned } : {}),
    })),
  }));

test('round trip: any values, titles and attributes come back exactly', () => {
  fc.assert(
    fc.property(notebookModel, (model) => {
      const text = serializeNotebook(model);
      const out = check(text, 'roundtrip');
      const nb = out.nb ?? parseNotebook(text);
      assert.deepEqual(withoutLines(nb), withoutLines(model));
    }),
    runs(2500),
  );
});

// ---------------------------------------------------------------------------------------------------
// 2. Valid notebooks: random dependency graphs of JavaScript, Markdown and SQL cells.

/** Lines that are legal in a JavaScript cell and define nothing, but are hard on the file format. */
const JS_NOISE = [
  '// a comment mentioning </script> and <!-- and -->',
  '{ const s = "</script><script>alert(1)</script>"; }',
  '{ const s = "<!--<script>"; }',
  '{ const t = `line one',
  '   ',
  'line three`; }',
  '{ const re = /<\\/script>/i; }',
  '{ const u = "日本語 😀 \\u0000 \\uFFFD"; }',
  '/* block',
  '   </notebook> */',
  '',
];
const MD_NOISE = ['# A heading', '<script>alert("md")</script>', '<img src=x onerror="alert(1)">', '<!-- note -->', '[link](javascript:alert(1))', '```js', '</script>', '```', '&lt;b&gt; &amp;', ''];

interface CellPlan {
  id: number;
  mode: CellMode;
  /** Names this cell defines (an SQL cell defines its output). */
  defines: string[];
  /** Names of other cells it reads. */
  reads: string[];
  value: string;
}
interface Plan {
  cells: CellPlan[]; // in file order
  text: string;
  /** For each cell in file order: the line of its <script> tag and of its first source line. */
  tagLine: number[];
  firstLine: number[];
}

const cellSpec = (modes: CellMode[]) => fc.record({
  mode: fc.constantFrom<CellMode>(...modes),
  picks: fc.array(fc.nat(), { maxLength: 3 }),
  noise: fc.array(fc.nat(), { maxLength: 4 }),
  sqlOutput: fc.boolean(),
});

const planArb = (maxCells: number, modes: CellMode[] = ['js', 'js', 'js', 'md', 'sql']): fc.Arbitrary<Plan> =>
  fc
    .record({
      specs: fc.array(cellSpec(modes), { minLength: 1, maxLength: maxCells }),
      ids: fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: maxCells, maxLength: maxCells }),
      order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: maxCells, maxLength: maxCells }),
    })
    .map(({ specs, ids, order }) => buildPlan(specs, ids, order));

function buildPlan(specs: { mode: CellMode; picks: number[]; noise: number[]; sqlOutput: boolean }[], ids: number[], order: number[]): Plan {
  const gen: CellPlan[] = [];
  specs.forEach((s, k) => {
    // Only earlier cells (in generation order) that define something can be read: the graph is acyclic.
    const readable = gen.map((c, i) => [c, i] as const).filter(([c]) => c.defines.length);
    const deps = [...new Set(s.picks.map((p) => (readable.length ? readable[p % readable.length][1] : -1)).filter((i) => i >= 0))];
    const reads = deps.map((i) => gen[i].defines[0]);
    const noise = (list: string[]) => s.noise.map((n) => list[n % list.length]);
    let value: string;
    let defines: string[] = [];
    if (s.mode === 'js') {
      defines = [`v${k}`];
      const lines = noise(JS_NOISE);
      // Keep the multi-line template literal and comment pieces balanced.
      const balanced = lines.filter((l) => !/^(\{ const t = `line one|line three`; \}|\/\* block|   <\/notebook> \*\/)$/.test(l));
      value = [...balanced, '{ const t = `line one', '   ', 'line three`; }', `const v${k} = ${reads.length ? reads.join(' + ') : k};`, '/* block', '   </notebook> */'].join('\n');
    } else if (s.mode === 'md') {
      value = [...noise(MD_NOISE), `Value: ${reads.map((r) => `\${${r}}`).join(' ') || 'none'}`].join('\n');
    } else {
      if (s.sqlOutput) defines = [`v${k}`];
      value = `SELECT ${reads.length ? reads.map((r) => `\${${r}}`).join(', ') : k} AS x -- </script> <!--`;
    }
    gen.push({ id: ids[k], mode: s.mode, defines, reads, value });
  });
  const cells = gen.map((c, k) => [c, order[k]] as const).sort((a, b) => a[1] - b[1]).map(([c]) => c);
  return render(cells);
}

/** The layout serializeNotebook writes (asserted in the next test), with each cell's lines recorded. */
function render(cells: CellPlan[]): Plan {
  const nb: Notebook = {
    title: 'fuzz',
    theme: 'air',
    cells: cells.map((c) => ({ id: c.id, mode: c.mode, value: c.value, line: 0, ...(c.mode === 'sql' && c.defines.length ? { output: c.defines[0] } : {}) })),
  };
  const text = serializeNotebook(nb);
  const tagLine: number[] = [];
  const firstLine: number[] = [];
  let line = 4;
  for (const c of cells) {
    tagLine.push(line);
    firstLine.push(line + 1);
    line += c.value.split('\n').length + 2;
  }
  return { cells, text, tagLine, firstLine };
}

test('valid notebooks parse and compile, cells in any order, lines where the file has them', () => {
  fc.assert(
    fc.property(planArb(8), (plan) => {
      const out = check(plan.text, 'valid');
      assert.equal(out.err, undefined, out.err?.message);
      const lines = plan.text.split('\n');
      out.nb.cells.forEach((c, k) => {
        assert.equal(c.id, plan.cells[k].id);
        assert.equal(c.line, plan.firstLine[k]);
        assert.match(lines[plan.tagLine[k] - 1], new RegExp(`^  <script id="${c.id}" `));
      });
      const compiled = compileNotebook(out.nb, BUILTINS);
      compiled.forEach((c, k) => assert.deepEqual(c.outputs, plan.cells[k].defines));
    }),
    runs(1500),
  );
});

// ---------------------------------------------------------------------------------------------------
// 3. One known fault: the error must name that cell and that line.

interface Fault {
  text: string;
  /** What the error must say, the cell it must name (null: none), and its line (or a range). */
  message: RegExp;
  cellId: number | null | ((id: number) => boolean);
  line: number | [number, number];
}

type FaultMaker = (plan: Plan, pick: number, variant: number) => Fault | null;

const linesOf = (plan: Plan) => plan.text.split('\n');
const join = (lines: string[]) => lines.join('\n');
/** File line (1-based) of the last source line of cell k. */
const lastLine = (plan: Plan, k: number) => plan.firstLine[k] + plan.cells[k].value.split('\n').length - 1;
const closingLine = (plan: Plan, k: number) => lastLine(plan, k) + 1;

function insertLine(plan: Plan, at: number, line: string): string {
  const lines = linesOf(plan);
  lines.splice(at - 1, 0, line);
  return join(lines);
}
function replaceTag(plan: Plan, k: number, edit: (tag: string) => string): string {
  const lines = linesOf(plan);
  lines[plan.tagLine[k] - 1] = edit(lines[plan.tagLine[k] - 1]);
  return join(lines);
}
const jsCells = (plan: Plan) => plan.cells.map((c, k) => [c, k] as const).filter(([c]) => c.mode === 'js').map(([, k]) => k);

const FAULTS: Record<string, FaultMaker> = {
  'unknown type': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const type = ['text/x-python', 'text/html', 'MODULE', '', 'javascript', 'text/markdown; charset=utf-8', 'application/json'][variant % 7];
    return { text: replaceTag(plan, k, (t) => t.replace(/type="[^"]*"/, `type="${type}"`)), message: /unknown type/, cellId: plan.cells[k].id, line: plan.tagLine[k] };
  },
  'bad id': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const id = ['0', '-1', '1.5', '0x1f', '1e3', ' 7', '07', 'abc', '', '99999999999999999999', String(MAX_CELL_ID + 1), '9007199254740993', '１'][variant % 13];
    return { text: replaceTag(plan, k, (t) => t.replace(/id="\d+"/, `id="${id}"`)), message: /invalid id/, cellId: null, line: plan.tagLine[k] };
  },
  'no id': (plan, pick) => {
    const k = pick % plan.cells.length;
    return { text: replaceTag(plan, k, (t) => t.replace(/ id="\d+"/, '')), message: /no id/, cellId: null, line: plan.tagLine[k] };
  },
  'duplicate id': (plan, pick) => {
    if (plan.cells.length < 2) return null;
    const k = 1 + (pick % (plan.cells.length - 1));
    const j = pick % k;
    const id = plan.cells[j].id;
    return { text: replaceTag(plan, k, (t) => t.replace(/id="\d+"/, `id="${id}"`)), message: new RegExp(`duplicate cell id ${id} \\(first used on line ${plan.tagLine[j]}\\)`), cellId: id, line: plan.tagLine[k] };
  },
  'duplicate name': (plan, pick) => {
    // A later JavaScript cell (in file order) defines a name an earlier cell already defines.
    const pairs = jsCells(plan).flatMap((k) => plan.cells.slice(0, k).filter((c) => c.defines.length).map((c) => [k, c] as const));
    if (!pairs.length) return null;
    const [k, earlier] = pairs[pick % pairs.length];
    const name = earlier.defines[0];
    return { text: insertLine(plan, plan.firstLine[k], `const ${name} = 0;`), message: new RegExp(`"${name}" is already defined by cell ${earlier.id}`), cellId: plan.cells[k].id, line: plan.firstLine[k] };
  },
  'undefined name': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const c = plan.cells[k];
    if (c.mode === 'sql') return null;
    const offset = variant % (c.value.split('\n').length + 1);
    const at = plan.firstLine[k] + offset;
    const name = `nowhere${variant}`;
    // Inside the cell, not inside its multi-line template literal or comment (those lines are fixed).
    const line = c.mode === 'js' ? `{ void ${name}; }` : `\${${name}}`;
    const text = c.mode === 'js' ? insertLine(plan, plan.firstLine[k], line) : insertLine(plan, at, line);
    return { text, message: new RegExp(`"${name}" is not defined`), cellId: c.id, line: c.mode === 'js' ? plan.firstLine[k] : at };
  },
  'syntax error': (plan, pick, variant) => {
    const js = jsCells(plan);
    if (!js.length) return null;
    const k = js[pick % js.length];
    const bad = ['const = 1;', 'let let = 2;', 'return 1;', 'x = 1;', '@@', 'const a = (;', 'import(', 'yield 3;', 'with (Math) {}', '#!/bin/sh'][variant % 10];
    // The parser may notice only further down (an unclosed bracket), but never outside the cell.
    return { text: insertLine(plan, plan.firstLine[k], bad), message: /./, cellId: plan.cells[k].id, line: [plan.firstLine[k], lastLine(plan, k) + 1] };
  },
  'markdown syntax error': (plan, pick) => {
    const md = plan.cells.map((c, k) => [c, k] as const).filter(([c]) => c.mode === 'md');
    if (!md.length) return null;
    const [c, k] = md[pick % md.length];
    return { text: insertLine(plan, plan.firstLine[k], 'Broken ${1 +} interpolation'), message: /Unexpected token/, cellId: c.id, line: plan.firstLine[k] };
  },
  cycle: (plan, pick) => {
    // A JavaScript cell starts reading a name of a cell downstream of it.
    const readersOf = (k: number) => plan.cells.map((c, r) => [c, r] as const).filter(([c]) => plan.cells[k].defines.some((n) => c.reads.includes(n))).map(([, r]) => r);
    const js = jsCells(plan);
    for (let i = 0; i < js.length; i++) {
      const k = js[(i + pick) % js.length];
      const downstream = new Set<number>();
      const todo = readersOf(k);
      while (todo.length) {
        const r = todo.pop()!;
        if (downstream.has(r)) continue;
        downstream.add(r);
        todo.push(...readersOf(r));
      }
      const target = [...downstream].find((r) => plan.cells[r].defines.length);
      if (target === undefined) continue;
      const members = new Set([k, ...downstream].map((m) => plan.cells[m].id));
      const name = plan.cells[target].defines[0];
      return { text: insertLine(plan, plan.firstLine[k], `{ void ${name}; }`), message: /circular definition: cell \d+/, cellId: (id: number) => members.has(id), line: [1, plan.text.split('\n').length + 1] };
    }
    return null;
  },
  'truncated inside a cell': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const keep = plan.firstLine[k] + (variant % plan.cells[k].value.split('\n').length);
    return { text: join(linesOf(plan).slice(0, keep)), message: /never closed.*truncated/, cellId: plan.cells[k].id, line: plan.tagLine[k] };
  },
  'truncated between cells': (plan, pick) => {
    const k = pick % plan.cells.length;
    const lines = linesOf(plan).slice(0, closingLine(plan, k));
    return { text: join(lines), message: /ends before <\/notebook>/, cellId: null, line: lines.length };
  },
  'stray text': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const at = closingLine(plan, k) + 1;
    return { text: insertLine(plan, at, ['oops', '  stray words', 'const lost = 1;', '&amp;'][variant % 4]), message: /text outside any cell/, cellId: null, line: at };
  },
  'unexpected element': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const at = closingLine(plan, k) + 1;
    const el = ['<div>hi</div>', '<p>para', '<img src=x onerror=alert(1)>', '<style>body{}</style>', '<svg><script>alert(1)</script></svg>', '<iframe src="javascript:alert(1)"></iframe>', '<template><script id="99">1</script></template>', '<notebook>', '<a href="x">', '<br>'][variant % 10];
    return { text: insertLine(plan, at, el), message: /unexpected <\w+> in <notebook>/, cellId: null, line: at };
  },
  'script outside the notebook': (plan, _pick, variant) => {
    const before = variant % 2 === 0;
    const lines = linesOf(plan);
    const at = before ? 2 : lines.length; // before <notebook>, or after </notebook>
    const tag = ['<script>alert(1)</script>', '<script id="5" type="module">const x = 1</script>', '<script src="https://evil.example/x.js"></script>'][variant % 3];
    lines.splice(at - 1, 0, tag);
    return { text: join(lines), message: /outside <notebook> is not a cell/, cellId: null, line: at };
  },
  'second notebook': (plan) => {
    const lines = linesOf(plan);
    const at = lines.length;
    lines.splice(at - 1, 0, '<notebook><script id="1">1</script></notebook>');
    return { text: join(lines), message: /a second <notebook>/, cellId: null, line: at };
  },
  'bad output name': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const name = ['class', '1x', 'a b', '', 'a-b', 'await', 'new', 'x.y', '<script>'][variant % 9];
    return { text: replaceTag(plan, k, (t) => t.replace(/( output="[^"]*")?>$/, ` output="${name.replace(/</g, '&lt;')}">`)), message: /is not a valid name/, cellId: plan.cells[k].id, line: plan.tagLine[k] };
  },
  'shadows a built-in': (plan, pick, variant) => {
    const js = jsCells(plan);
    if (!js.length) return null;
    const k = js[pick % js.length];
    const name = ['invalidation', 'visibility', 'md', 'view', 'Inputs'][variant % 5];
    return { text: insertLine(plan, plan.firstLine[k], `const ${name} = 1;`), message: new RegExp(`"${name}" shadows a built-in`), cellId: plan.cells[k].id, line: plan.firstLine[k] };
  },
  'NUL character': (plan, pick, variant) => {
    const k = pick % plan.cells.length;
    const line = plan.firstLine[k] + (variant % plan.cells[k].value.split('\n').length);
    const lines = linesOf(plan);
    lines[line - 1] = lines[line - 1] + '\0';
    return { text: join(lines), message: /NUL character/, cellId: plan.cells[k].id, line };
  },
  'UTF-16': (plan, _pick, variant) => {
    const bytes = Buffer.from((variant % 2 ? '\uFEFF' : '') + plan.text, variant % 3 === 0 ? 'utf16le' : 'ucs2');
    return { text: bytes.toString('utf8'), message: /UTF-16/, cellId: null, line: 1 };
  },
  'unescaped </script> in code': (plan, pick) => {
    const js = jsCells(plan);
    if (!js.length) return null;
    const k = js[pick % js.length];
    // Hand-edited: the tag ends the cell there, and the rest of the line is left outside any cell.
    return { text: insertLine(plan, plan.firstLine[k], 'const s = "</script>";'), message: /text outside any cell/, cellId: null, line: plan.firstLine[k] };
  },
  'start tag over several lines, then an undefined name': (plan, pick) => {
    const k = pick % plan.cells.length;
    const c = plan.cells[k];
    const lines = linesOf(plan);
    const body = plan.firstLine[k] + 2; // the tag now takes three lines
    if (c.mode === 'sql') lines[plan.firstLine[k] - 1] = '    SELECT ${nowhere} AS y';
    else lines.splice(plan.firstLine[k] - 1, 0, c.mode === 'js' ? '    { void nowhere; }' : '    ${nowhere}');
    lines[plan.tagLine[k] - 1] = lines[plan.tagLine[k] - 1].replace(/^  <script (id="\d+") /, '  <script\n    $1\n    ');
    return { text: join(lines), message: /"nowhere" is not defined/, cellId: c.id, line: body };
  },
};

test('one fault per notebook: the error names the faulty cell and line', () => {
  const names = Object.keys(FAULTS);
  const hits: Record<string, number> = {};
  fc.assert(
    fc.property(planArb(6), fc.constantFrom(...names), fc.nat(), fc.nat(), (plan, kind, pick, variant) => {
      const fault = FAULTS[kind](plan, pick, variant);
      fc.pre(fault !== null);
      hits[kind] = (hits[kind] ?? 0) + 1;
      const out = check(fault!.text, 'fault');
      assert.ok(out.err, `${kind}: no error for\n${fault!.text}`);
      const e = out.err!;
      assert.match(e.message, fault!.message, `${kind}: ${e.message}`);
      const want = fault!.cellId;
      if (want === null) assert.equal(e.cellId, undefined, `${kind}: names cell ${e.cellId}: ${e.message}`);
      else if (typeof want === 'number') assert.equal(e.cellId, want, `${kind}: ${e.message}`);
      else assert.ok(e.cellId !== undefined && want(e.cellId), `${kind}: cell ${e.cellId} is not in the cycle: ${e.message}`);
      const line = fault!.line;
      if (typeof line === 'number') assert.equal(e.line, line, `${kind}: ${e.message}\n${fault!.text}`);
      else assert.ok(e.line! >= line[0] && e.line! <= line[1], `${kind}: line ${e.line} not in ${line}: ${e.message}`);
    }),
    runs(3500),
  );
  // Every kind of fault was exercised, not just the easy ones.
  for (const n of names) assert.ok((hits[n] ?? 0) >= 20, `fault "${n}" ran only ${hits[n] ?? 0} times`);
});

// ---------------------------------------------------------------------------------------------------
// 4–5. Random damage and token soup: anything may happen except a crash or a vague error.

const TOKENS = [
  '<', '>', '</script>', '<script>', '<script id="1">', '<script id="2" type="text/markdown">', '</notebook>', '<notebook>', '<!--', '-->', '"', "'", '`',
  '${', '}', '\0', '\uFFFD', '\uD800', '&', '&amp;', '<title>', '</title>', '<![CDATA[', '<textarea>', '<plaintext>', '<table>', '<svg>', '<math>',
  '<template>', '<noscript>', '\r', '\n', '\r\n', ' id="2"', ' type="application/sql"', ' output="x"', ' output="class"', '<\\/script>', '<\\!--', 'const v1 = 1;', 'v1', '=',
  '<script id="3">const v0 = 1;</script>', '<!doctype html>', '</body>', '<body>', '<head>', '<p>', '\uFEFF', '\u2028', '😀',
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), token: fc.constantFrom(...TOKENS) }),
  fc.record({ op: fc.constant('swap lines' as const), at: fc.nat(), len: fc.nat() }),
  fc.record({ op: fc.constant('char' as const), at: fc.nat(), token: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }),
);

type Mutation = { op: string; at: number; len?: number; token?: string };

function mutate(text: string, m: Mutation): string {
  const at = text.length ? m.at % text.length : 0;
  switch (m.op) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len!);
    case 'duplicate':
      return text.slice(0, at + m.len!) + text.slice(at, at + m.len!) + text.slice(at + m.len!);
    case 'insert':
    case 'char':
      return text.slice(0, at) + m.token + text.slice(at);
    default: {
      const lines = text.split('\n');
      const a = m.at % lines.length;
      const b = m.len! % lines.length;
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return lines.join('\n');
    }
  }
}

test('random damage to valid notebooks: a notebook or a clear error, never a crash', () => {
  fc.assert(
    fc.property(planArb(5), fc.array(mutation, { minLength: 1, maxLength: 4 }), (plan, ms) => {
      check(ms.reduce(mutate, plan.text), 'damaged');
    }),
    runs(3000),
  );
});

test('token soup: a notebook or a clear error, never a crash', () => {
  const soup = fc.string({ unit: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 4 })), maxLength: 60 });
  fc.assert(
    fc.property(soup, fc.boolean(), (s, wrap) => {
      check(wrap ? `<notebook>${s}</notebook>` : s, 'soup');
    }),
    runs(1000),
  );
});

test('huge inputs stay fast: big cells, many cells, deep nesting', () => {
  // Generous bounds: they catch a hang or a quadratic blow-up, not a busy machine.
  const HUGE_LIMIT_MS = 15_000;
  const big = (cells: [number, string][]) => `<!doctype html>\n<notebook>\n${cells.map(([id, v]) => `  <script id="${id}" type="module">\n${v}\n  </script>`).join('\n')}\n</notebook>\n`;
  const longCell = Array.from({ length: 5000 }, (_, i) => `    const a${i} = ${i};`).join('\n');
  assert.equal(check(big([[1, longCell]]), 'huge', HUGE_LIMIT_MS).err, undefined);
  assert.equal(check(big([[1, `    const s = "<\\/script>${'y'.repeat(1_000_000)}";`]]), 'huge', HUGE_LIMIT_MS).err, undefined);
  const chain = Array.from({ length: 1500 }, (_, i) => [1500 - i, `    const c${1499 - i} = ${i === 1499 ? '0' : `c${1498 - i} + 1`};`] as [number, string]);
  assert.equal(check(big(chain), 'huge', HUGE_LIMIT_MS).err, undefined);
  for (const value of [`    const d = ${'['.repeat(20_000)}${']'.repeat(20_000)};`, `    const d = ${'('.repeat(20_000)}1${')'.repeat(20_000)};`]) {
    const out = check(big([[1, value]]), 'huge', HUGE_LIMIT_MS);
    assert.match(out.err?.message ?? '', /cell 1, line 4: .*(stack space|nested too deeply)/);
  }
  assert.equal(check(`<!doctype html>${'<div>'.repeat(10_000)}<notebook><script id="1">1</script></notebook>`, 'huge', HUGE_LIMIT_MS).err, undefined);
});

// ---------------------------------------------------------------------------------------------------
// Running: a smaller set through a real session, each with a time bound, to show nothing hangs.

test('sessions: valid notebooks (some cells throwing) run to completion within a bound', async () => {
  const cache = new Cache(await tempDir('ps-fuzz-cache-'));
  cache.onWarning = () => undefined;
  // Sessions here have no database, so no SQL cells; some JavaScript cells throw.
  const samples = fc.sample(fc.tuple(planArb(6, ['js', 'js', 'md']), fc.array(fc.nat(), { maxLength: 2 })), { numRuns: Math.max(1, Math.round(150 * SCALE)), seed: SEED });
  let ran = 0;
  for (const [plan, throwers] of samples) {
    const failing = new Map<number, number>();
    let text = plan.text;
    for (const t of throwers) {
      const js = jsCells(plan);
      if (!js.length) break;
      const k = js[t % js.length];
      if (failing.has(plan.cells[k].id)) continue;
      failing.set(plan.cells[k].id, plan.firstLine[k]);
    }
    if (failing.size) {
      const lines = text.split('\n');
      for (const [id, line] of failing) lines[line - 1] = `    if (true) throw new Error("boom ${id}"); ${lines[line - 1].trim()}`;
      text = lines.join('\n');
    }
    counts.session = (counts.session ?? 0) + 1;
    const nb = parseNotebook(text);
    const session = new NotebookSession(nb, { cache, builtins: {} }).start();
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5000)));
    const result = await Promise.race([session.idle().then(() => 'idle' as const), bound]);
    clearTimeout(timer);
    assert.equal(result, 'idle', `session did not finish in 5 s:\n${text}`);
    // Expected: failing cells and everything downstream of them error; the rest is fresh.
    const compiled = compileNotebook(nb, new Set(['md', 'Inputs', 'view', 'display']));
    const broken = new Set(downstreamOf(compiled, failing.keys()));
    // A throwing cell downstream of another never runs: it reports the upstream failure instead.
    const roots = [...failing.keys()].filter((f) => !downstreamOf(compiled, [...failing.keys()].filter((o) => o !== f)).includes(f));
    for (const s of session.states()) {
      if (roots.includes(s.id)) {
        assert.equal(s.status, 'error');
        assert.match(s.error!.message, new RegExp(`^cell ${s.id}, line ${failing.get(s.id)}: boom ${s.id}$`));
      } else if (broken.has(s.id)) {
        assert.equal(s.status, 'error', `cell ${s.id} is downstream of a failing cell`);
        assert.match(s.error!.message, /^upstream cell \d+ failed: /);
        assert.ok(roots.includes(s.error!.cellId!), s.error!.message);
      } else {
        assert.equal(s.status, 'fresh', `cell ${s.id}: ${s.error?.message}`);
        assert.equal(s.runs, 1);
      }
    }
    session.dispose();
    assert.ok(Date.now() - started < 5000);
    ran++;
  }
  assert.equal(ran, samples.length);
});

// ---------------------------------------------------------------------------------------------------
// Regressions: one plain case per bug the fuzzer (or the review that wrote it) found, with its input.

const fileOf = (...cells: string[]) => `<!doctype html>\n<notebook>\n${cells.join('\n')}\n</notebook>\n`;
const formatError = (text: string) => {
  try {
    parseNotebook(text, 'r.html');
  } catch (e) {
    assert.ok(e instanceof NotebookFormatError, String(e));
    return e;
  }
  assert.fail('no error');
};
const one = (value: string) => ({ title: 't', theme: 'air', cells: [{ id: 1, mode: 'js' as const, value, line: 0 }] });

test('regression: values with </script/, a trailing </script, <!--<script> or whitespace-only lines round-trip', () => {
  for (const value of ['const s = "</script/>"', 'x // </script', '{ const c = "<!--<script>"; }\nconst after = 1', 'const t = `a\n   \nb`', ' ', 'a\n\t']) {
    const text = serializeNotebook({ ...one(value), cells: [...one(value).cells, { id: 2, mode: 'md', value: 'after', line: 0 }] });
    const nb = parseNotebook(text);
    assert.equal(nb.cells.length, 2, value);
    assert.equal(nb.cells[0].value, value);
  }
});

test('regression: ids must be canonical digits within range (0x10, 1e3, " 7" and 2^53+1 were accepted)', () => {
  for (const id of ['0x10', '1e3', ' 7', '1.0', '07', '9007199254740993']) {
    assert.match(formatError(fileOf(`<script id="${id}">1</script>`)).message, /invalid id/, id);
  }
});

test('regression: unclosed <script>, missing </notebook>, stray text, scripts outside, second notebook are errors', () => {
  const cases: [string, RegExp, number, number?][] = [
    [fileOf('<script id="1">\nconst a = 1\n<script id="2">\nconst b = 2').replace('\n</notebook>\n', ''), /cell 1: <script> is never closed/, 3, 1],
    ['<!doctype html>\n<notebook>\n<script id="1">1</script>\n', /ends before <\/notebook>/, 4],
    [fileOf('<script id="1">1</script>', 'lost words', '<script id="2">2</script>'), /text outside any cell: "lost words"/, 4],
    ['<!doctype html>\n<script>alert(1)</script>\n<notebook></notebook>', /outside <notebook> is not a cell/, 2],
    [fileOf('<script id="1">1</script>') + '<notebook></notebook>\n', /a second <notebook>/, 5],
    [fileOf('<script id="1">const s = "\0";</script>'), /cell 1 contains a NUL character/, 3, 1],
    [Buffer.from(fileOf('<script id="1">1</script>'), 'utf16le').toString('utf8'), /UTF-16/, 1],
    // The cut-short cell's remainder closed </notebook>: the earlier problem (the stray text) is named.
    [fileOf('<script id="1">\nconst s = "</script>";\n/* </notebook> */\n</script>', '<script id="2">2</script>'), /text outside any cell/, 4],
  ];
  for (const [text, message, line, cellId] of cases) {
    const e = formatError(text);
    assert.match(e.message, message);
    assert.equal(e.line, line, e.message);
    assert.equal(e.cellId, cellId);
  }
});

test('regression: a start tag over several lines no longer shifts the line numbers of its cell', () => {
  const nb = parseNotebook(fileOf('<script\n  id="1"\n  type="module">\nconst a = 1\nconst b = nowhere</script>'));
  assert.equal(nb.cells[0].line, 6);
  assert.throws(() => compileNotebook(nb, BUILTINS), (e: NotebookError) => e.line === 7 && /cell 1, line 7: "nowhere"/.test(e.message));
});

test('regression: reserved output names and cells defining runtime names are refused', () => {
  assert.match(formatError(fileOf('<script id="1" type="application/sql" output="class">SELECT 1</script>')).message, /output "class" is not a valid name/);
  const nb = parseNotebook(fileOf('<script id="1">\nconst invalidation = 1\n</script>'));
  assert.throws(() => compileNotebook(nb, BUILTINS), /cell 1, line 4: "invalidation" shadows a built-in/);
});

test('regression: an unterminated literal at the end of a cell is reported on a line of that cell', () => {
  const nb = parseNotebook(fileOf('<script id="1">\nconst a = `open\n</script>', '<script id="2">\nconst b = 2\n</script>'));
  assert.throws(() => compileNotebook(nb, BUILTINS), (e: NotebookError) => e.cellId === 1 && e.line === 4);
});

test('regression: a 10,000-cell chain in reverse order compiles (the recursive cycle search overflowed the stack)', () => {
  const n = 10_000;
  const nb: Notebook = { title: '', theme: 'air', cells: Array.from({ length: n }, (_, i) => ({ id: i + 1, mode: 'js' as const, value: `const c${n - 1 - i} = ${i === n - 1 ? 0 : `c${n - 2 - i}`};`, line: i + 1 })) };
  const compiled = compileNotebook(nb, BUILTINS);
  assert.equal(downstreamOf(compiled, [n]).length, n, 'every cell is downstream of the root');
});
