// Puts figures from notebook runs into the README, so a table there is a run's output, not numbers retyped.
// A figure is a block between two comments that name the output file and the command that writes it:
//
//   <!-- figure: out/qs/resultsMarkdown.md ← npx promptscope run notebooks/quickstart.html --out out/qs -->
//   | … the table … |
//   <!-- /figure -->
//
//   node --import tsx bench/readme-figures.ts [--run] [--check] [FILE.md ...]   (default: README.md)
//
// Without flags each block's body is replaced by its file (which must exist). --run first runs every
// distinct command (in order, from the repository root) and then replaces. --check changes nothing and
// exits 1 when a body differs from its file or the file is missing, naming the command to run.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../cells/util/atomic.ts';

export interface Figure {
  /** Output file, relative to the repository root. */
  file: string;
  /** The shell command that writes it. */
  command: string;
  /** The block's current body (between the two comments, without their lines). */
  body: string;
  /** 1-based line of the opening comment, for messages. */
  line: number;
}

const OPEN = /^<!-- figure: (\S+) ← (.+?) -->$/;
const CLOSE = '<!-- /figure -->';

/** The figure blocks of a Markdown text; a malformed or unclosed block is an error naming its line. */
export function parseFigures(text: string, where = 'README'): Figure[] {
  const lines = text.split('\n');
  const figures: Figure[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('<!-- figure')) continue;
    const m = OPEN.exec(lines[i]);
    if (!m) throw new Error(`${where}:${i + 1}: a figure comment must read "<!-- figure: FILE ← COMMAND -->"`);
    const end = lines.indexOf(CLOSE, i + 1);
    const nextOpen = lines.findIndex((l, j) => j > i && l.startsWith('<!-- figure'));
    if (end < 0 || (nextOpen >= 0 && nextOpen < end)) throw new Error(`${where}:${i + 1}: figure ${m[1]} has no "${CLOSE}" line before the next figure or the end`);
    figures.push({ file: m[1], command: m[2], body: lines.slice(i + 1, end).join('\n'), line: i + 1 });
    i = end;
  }
  return figures;
}

/** `text` with every figure's body replaced by `contentOf(figure)` (trailing newlines dropped). */
export function spliceFigures(text: string, contentOf: (f: Figure) => string): string {
  const figures = parseFigures(text);
  const lines = text.split('\n');
  // From the last block up, so earlier line numbers stay valid.
  for (const f of [...figures].reverse()) {
    const end = lines.indexOf(CLOSE, f.line);
    lines.splice(f.line, end - f.line, ...contentOf(f).replace(/\n+$/, '').split('\n'));
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const run = argv.includes('--run');
  const check = argv.includes('--check');
  const files = argv.filter((a) => !a.startsWith('--'));
  let stale = 0;
  for (const doc of files.length ? files : ['README.md']) {
    const path = resolve(root, doc);
    const text = readFileSync(path, 'utf8');
    const figures = parseFigures(text, doc);
    if (run && !check) {
      for (const command of [...new Set(figures.map((f) => f.command))]) {
        console.error(`[readme-figures] ${command}`);
        execSync(command, { cwd: root, stdio: 'inherit' });
      }
    }
    const missing = figures.filter((f) => !existsSync(join(root, f.file)));
    const read = (f: Figure) => readFileSync(join(root, f.file), 'utf8').replace(/\n+$/, '');
    if (check) {
      for (const f of figures) {
        if (missing.includes(f)) console.error(`${doc}:${f.line}: ${f.file} is missing; run: ${f.command}`);
        else if (read(f) !== f.body) console.error(`${doc}:${f.line}: differs from ${f.file}`);
        else continue;
        stale++;
      }
      continue;
    }
    if (missing.length) {
      for (const f of missing) console.error(`${doc}:${f.line}: ${f.file} is missing; run: ${f.command} (or pass --run)`);
      return 1;
    }
    const next = spliceFigures(text, read);
    if (next !== text) await writeFileAtomic(path, next);
    console.error(`[readme-figures] ${doc}: ${figures.length} figure(s), ${next === text ? 'unchanged' : 'updated'}`);
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
