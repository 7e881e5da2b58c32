// Checkpoint → shipped model, from the command line (the work itself is cells/model/pretrain/finalize.ts):
//   node --import tsx cli/finalize-mini-clip.ts --work out/pretrain-mini-clip [--out data/models/mini-clip] [--quick] [--load-note TEXT] [--bench-note TEXT]
import { initBackend } from '../cells/model/backend.ts';
import { finalizeMiniClip } from '../cells/model/pretrain/finalize.ts';

const arg = (n: string) => { const i = process.argv.indexOf(`--${n}`); return i >= 0 ? process.argv[i + 1] : undefined; };
await initBackend('wasm');
const m = await finalizeMiniClip({
  workDir: arg('work') ?? 'out/pretrain-mini-clip', outDir: arg('out'), quick: process.argv.includes('--quick'), loadNote: arg('load-note'), benchNote: arg('bench-note'),
  log: (s) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`),
});
console.log(JSON.stringify({ zeroShot: m.zeroShot, retrieval: m.retrieval, temperature: m.temperature }, null, 1));
