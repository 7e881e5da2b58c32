// `promptscope run --timeout SECONDS`: no cell may run longer than that. A cell that awaits (a stage, a
// fetch, a sleep) past its time is cancelled like the UI's Cancel, fails with a message naming the
// timeout, and the rest of the notebook carries on. A cell stuck in synchronous code (`while (true) {}`)
// never yields, so no timer on this thread can fire; a watchdog thread notices the main thread has gone
// silent past the deadline, says which cell and why on stderr, and ends the run with exit status 1
// (through the inspector, whose requests V8 serves even inside a busy loop).
import { Worker } from 'node:worker_threads';
import type { NotebookSession } from '../cells/engine/session.ts';

/** How long the main thread may go without a heartbeat before the watchdog calls it stuck. */
const SILENCE_MS = 1_000;
const TICK_MS = 100;

// Slots of the shared clock: the cell that started last (a synchronous body starts right after its
// `running` update, so it is the one blocking), when it started, and the main thread's last heartbeat.
const CELL = 0;
const STARTED = 1;
const HEARTBEAT = 2;

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { Session } = require('node:inspector');
const clock = new Float64Array(workerData.buffer);
const timer = setInterval(() => {
  const now = Date.now();
  const cell = clock[${CELL}];
  if (!cell || now - clock[${STARTED}] < workerData.timeoutMs || now - clock[${HEARTBEAT}] < ${SILENCE_MS}) return;
  clearInterval(timer);
  writeSync(2, '\\nerror: cell ' + cell + ' ran past --timeout ' + workerData.seconds + ' s in synchronous code that never yields ' +
    '(an endless loop?), so it could not be cancelled; promptscope run stopped. Stages that finished are in the cache.\\n');
  const session = new Session();
  session.connectToMainThread();
  session.post('Runtime.evaluate', { expression: 'process.reallyExit(1)' });
}, ${TICK_MS});
`;

export interface TimeoutWatch {
  /** Cells cancelled for running too long, with the message to report. */
  timedOut: Map<number, string>;
  stop(): void;
}

export function watchTimeouts(session: NotebookSession, seconds: number): TimeoutWatch {
  const timeoutMs = seconds * 1000;
  const clock = new Float64Array(new SharedArrayBuffer(3 * Float64Array.BYTES_PER_ELEMENT));
  clock[HEARTBEAT] = Date.now();
  const started = new Map<number, { runs: number; at: number }>();
  const timedOut = new Map<number, string>();
  const off = session.on((e) => {
    if (e.type !== 'cell') return;
    const { id, status, runs } = e.cell;
    if (status === 'running') {
      if (started.get(id)?.runs === runs) return;
      started.set(id, { runs, at: Date.now() });
      clock[STARTED] = Date.now();
      clock[CELL] = id;
    } else if (status !== 'stale') {
      started.delete(id);
      if (clock[CELL] === id) clock[CELL] = 0;
    }
  });
  const tick = setInterval(() => {
    const now = Date.now();
    clock[HEARTBEAT] = now;
    for (const [id, s] of started) {
      if (now - s.at < timeoutMs || timedOut.has(id)) continue;
      timedOut.set(id, `cell ${id}: ran past --timeout ${seconds} s and was stopped`);
      session.cancel(id);
    }
  }, TICK_MS);
  const worker = new Worker(WATCHDOG, { eval: true, workerData: { buffer: clock.buffer, timeoutMs, seconds } });
  // Neither may keep the process alive once the run is over.
  worker.unref();
  tick.unref();
  return {
    timedOut,
    stop() {
      off();
      clearInterval(tick);
      void worker.terminate();
    },
  };
}
