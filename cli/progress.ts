// Progress on stderr while a notebook runs: one bar per running cell with its message and ETA. On a
// terminal the bars redraw in place; in a log (CI, pipes) a line is printed at most every few seconds.
import type { CellState, NotebookSession } from '../cells/engine/session.ts';

const WIDTH = 24;

function bar(fraction: number): string {
  const full = Math.round(fraction * WIDTH);
  return `[${'#'.repeat(full)}${'-'.repeat(WIDTH - full)}]`;
}

function eta(seconds?: number): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  const total = Math.ceil(seconds);
  if (total < 60) return ` ETA ${total}s`;
  return ` ETA ${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
}

export function describe(cell: CellState): string {
  const name = cell.names.length ? cell.names.join(', ') : `cell ${cell.id}`;
  const p = cell.progress;
  if (!p) return `${name}: running`;
  return `${bar(p.fraction)} ${String(Math.round(p.fraction * 100)).padStart(3)}% ${name}${p.message ? ` — ${p.message}` : ''}${eta(p.etaSeconds)}`;
}

export function attachProgress(session: NotebookSession, stream: NodeJS.WriteStream = process.stderr): () => void {
  const tty = !!stream.isTTY;
  let lastDraw = 0;
  let drawn = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < (tty ? 100 : 5000)) return;
    lastDraw = now;
    const running = session.states().filter((c) => c.status === 'running' && c.progress);
    if (tty) {
      const cols = stream.columns ?? 100;
      let out = drawn ? `\x1b[${drawn}A` : '';
      for (const c of running) out += `\x1b[2K${describe(c).slice(0, cols - 1)}\n`;
      for (let i = running.length; i < drawn; i++) out += '\x1b[2K\n';
      if (drawn > running.length) out += `\x1b[${drawn - running.length}A`;
      stream.write(out);
      drawn = running.length;
    } else {
      for (const c of running) stream.write(`${describe(c)}\n`);
    }
  };
  const off = session.on((e) => {
    if (e.type === 'log') stream.write(`${e.cellId ? `[cell ${e.cellId}] ` : ''}${e.message}\n`);
    if (e.type === 'cell') {
      if (e.cell.status === 'error' || e.cell.status === 'fresh' || e.cell.status === 'cached') draw(true);
      else draw();
    }
  });
  return () => {
    off();
    if (tty && drawn) draw(true);
  };
}
