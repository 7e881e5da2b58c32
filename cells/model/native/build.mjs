// Builds native.node (the native kernels, *.c here) with the system's C compiler. Run by `npm ci`
// (package.json "postinstall"). Never fails the install: without a compiler or Node's headers tfjs keeps
// its own wasm matmul, which is correct but slower (bench/README.md), and this prints how to fix it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build', 'native.node');

/** Where node_api.h is: npm's nodedir setting, else next to the running node binary. */
function nodeHeaders() {
  const roots = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'].filter(Boolean);
  return roots.map((r) => join(r, 'include', 'node')).find((d) => existsSync(join(d, 'node_api.h')));
}

/**
 * -O3 vectorises the fused loops; -fno-trapping-math lets it vectorise loops with float comparisons (we
 * never read FP traps); -ffp-contract=off keeps a·b+c as two roundings, as JavaScript does (adam.c must
 * match bench/support/adam.ts bit for bit). No -march: the addon runs on any CPU of the architecture.
 */
const cflags = ['-O3', '-fno-trapping-math', '-fno-math-errno', '-ffp-contract=off', '-shared', '-fPIC', '-Wall'];

function build() {
  const include = nodeHeaders();
  if (!include) throw new Error("Node's C headers (node_api.h) were not found; set npm's nodedir or install Node's headers");
  const cc = process.env.CC || 'cc';
  const sources = readdirSync(here).filter((f) => f.endsWith('.c')).map((f) => join(here, f));
  const libs = process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : ['-ldl', '-lm'];
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(cc, [...cflags, `-I${include}`, ...sources, '-o', tmp, ...libs], { stdio: 'inherit' });
    renameSync(tmp, out); // atomic: a half-written addon is never loaded
  } finally {
    rmSync(tmp, { force: true });
  }
}

try {
  build();
  console.log(`promptscope: built ${out}`);
} catch (e) {
  console.warn(`promptscope: could not build the native kernels (${e instanceof Error ? e.message : e}).\n` +
    '  Training and feature extraction still work on tfjs\'s own kernels, several times slower on the CPU.\n' +
    '  To fix: install a C compiler (Debian: build-essential) and run `node cells/model/native/build.mjs`.');
}
