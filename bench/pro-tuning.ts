// The README's Pro-tuning table: notebooks/pro-tuning.html with its defaults, once per seed, through
// `promptscope run` (so the numbers are the notebook's), then top-1 % as mean ± std over the seeds per
// backbone × method × scenario, and Pro-tuning minus full fine-tuning per scenario with the seeds' spread.
//   node --import tsx bench/pro-tuning.ts 1,2,3        (seeds; cache: $PROMPTSCOPE_CACHE or /tmp/pt-cache; outputs in /tmp/pt-seedN)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';

const seeds = (process.argv[2] ?? '1,2,3').split(',').map(Number);
const bin = fileURLToPath(new URL('../bin/promptscope.js', import.meta.url));
const notebook = fileURLToPath(new URL('../notebooks/pro-tuning.html', import.meta.url));
const env = { ...process.env, PROMPTSCOPE_CACHE: process.env.PROMPTSCOPE_CACHE ?? '/tmp/pt-cache' };
interface Row { backbone: string; method: string; scenario: string; top1: number }
const rows: (Row & { seed: number })[] = [];
const order: string[] = [];
for (const seed of seeds) {
  const out = `/tmp/pt-seed${seed}`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, 'run', notebook, '--set', `seed=${seed}`, '--out', out], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`seed ${seed}: promptscope run exited ${r.status}\n${r.stderr}`);
  console.log(`seed ${seed}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const x of tableFromIPC(readFileSync(`${out}/results.arrow`))) {
    const row = x.toJSON() as unknown as Row;
    rows.push({ ...row, seed });
    if (!order.includes(row.scenario)) order.push(row.scenario);
  }
}
const stats = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return `${m.toFixed(1)} ± ${s.toFixed(1)}`;
};
const cell = (b: string, m: string, sc: string) => rows.filter((r) => r.backbone === b && r.method === m && r.scenario === sc).map((r) => 100 * r.top1);
console.log(`\n| backbone | method | ${order.join(' | ')} |\n|---|---|${order.map(() => '---:').join('|')}|`);
for (const b of ['mini-clip', 'resnet-cifar10']) {
  for (const m of ['linear probe', 'full fine-tuning', 'Pro-tuning', 'VPT', 'CoOp', 'UPT']) {
    if (!rows.some((r) => r.backbone === b && r.method === m)) continue;
    console.log(`| ${b} | ${m} | ${order.map((sc) => stats(cell(b, m, sc))).join(' | ')} |`);
  }
  // Pro-tuning − fine-tuning per seed, then mean ± std over the seeds.
  const diff = (sc: string) => seeds.map((s) => {
    const pick = (m: string) => 100 * rows.find((r) => r.backbone === b && r.method === m && r.scenario === sc && r.seed === s)!.top1;
    return pick('Pro-tuning') - pick('full fine-tuning');
  });
  console.log(`| ${b} | **Pro-tuning − fine-tuning** | ${order.map((sc) => stats(diff(sc))).join(' | ')} |`);
}
