#!/usr/bin/env node
// Builds the CLI into one ES module (plus lazily loaded chunks) so `promptscope` starts without tsx's loader:
// a warm `promptscope run` spent most of its start-up there (loader hooks on a second thread, per-module
// transforms and source maps; bench/edit-answer.ts). Run by `npm ci` (postinstall) and `npm run build`.
// Packages stay external (loaded from node_modules as before), but for apache-arrow (below); otherwise only
// this repository's TypeScript is bundled.
// Each source file's `import.meta.url` is rewritten to that file's own URL, so the paths the code finds
// relative to itself (data/, workers, the native addon, the kernel process) are the same as under tsx.
// The inputs and their hashes go to bin/dist/inputs.json; bin/bundle.mjs refuses a bundle whose inputs
// changed, and bin/promptscope.js then runs the sources through tsx.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { BUNDLE_DIR, INPUTS_FORMAT, packageDigest, ROOT, sha256File } from './bundle.mjs';

const quiet = process.argv.includes('--quiet');
let esbuild;
try {
  // tsx (a dependency) brings esbuild; resolving it through tsx also works with `npm ci --omit=dev`.
  esbuild = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'))('esbuild');
} catch (err) {
  console.error(`bin/build.mjs: esbuild not found (${err.message}); promptscope will run its sources through tsx (slower start-up)`);
  process.exit(0);
}

const toPosix = (p) => p.split(sep).join('/');
const rewriteMetaUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      // The bundle lives in bin/dist: the file's URL relative to it, resolved at run time (the checkout may move).
      const rel = toPosix(relative(BUNDLE_DIR, args.path));
      const own = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return { contents: text.replace(/import\.meta\.url/g, own), loader: args.path.endsWith('.ts') || args.path.endsWith('.mts') ? 'ts' : 'js' };
    });
  },
};

// A package that is CommonJS only (no "import" condition) is loaded with require() from the bundle, as
// `import` would load the very same module (Node keeps one CommonJS instance) but first runs Node's
// CommonJS export lexer over it and every file it re-exports: 1.2 of the 3.5 CPU seconds of a warm
// quickstart run went there (tfjs re-exports core, layers, converter, data, backends), measured with
// --cpu-prof. Dual packages (apache-arrow, entities) keep `import`: their two builds are two instances.
const cjsOnly = new Map();
function isCommonJsOnly(name, resolveDir) {
  if (!cjsOnly.has(name)) {
    let verdict = false;
    try {
      const pkg = JSON.parse(readFileSync(createRequire(join(resolveDir, 'x.js')).resolve(`${name}/package.json`), 'utf8'));
      verdict = pkg.type !== 'module' && !JSON.stringify(pkg.exports ?? {}).includes('"import"') && !String(pkg.main ?? '').endsWith('.mjs');
    } catch {
      verdict = false; // package.json not exported or not found: leave it to Node's import
    }
    cjsOnly.set(name, verdict);
  }
  return cjsOnly.get(name);
}
// Each such package becomes a small ES module made here, whose named exports are the package's own, listed
// now by requiring it the way the bundle will (from bin/dist). Importers then share that one namespace:
// with esbuild's CommonJS interop every importing file copied all of tfjs's exports into an object of its
// own (__copyProps, 0.1 s of a warm quickstart run: 54 files import tfjs). And a dynamic import() keeps its
// named exports and stays lazy in a chunk of its own, without Node's lexer over the package (DuckDB's
// node-api: 0.45 CPU s imported, 0.3 s required). A package that cannot be required here (a native part
// missing on this machine) is left to Node's import, as before. Named exports are read once, when the
// package loads: none of these packages reassigns its exports later.
const requireFromBundle = createRequire(join(BUNDLE_DIR, 'x.js'));
const exportNames = new Map();
function namesOf(path) {
  if (!exportNames.has(path)) {
    let names = null;
    try {
      const mod = requireFromBundle(path);
      names = mod !== null && (typeof mod === 'object' || typeof mod === 'function') ? Object.keys(mod).filter((k) => k !== 'default' && k !== '__esModule') : [];
    } catch {
      names = null;
    }
    exportNames.set(path, names);
  }
  return exportNames.get(path);
}
const requireCommonJs = {
  name: 'require-commonjs-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || (args.kind !== 'import-statement' && args.kind !== 'dynamic-import')) return undefined;
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      if (!isCommonJsOnly(name, args.resolveDir || ROOT) || namesOf(args.path) === null) return undefined;
      return { path: args.path, namespace: 'node-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'node-require' }, (args) => {
      const names = namesOf(args.path);
      const lines = [`const m = __promptscopeRequire(${JSON.stringify(args.path)});`, 'export default m;'];
      names.forEach((n, i) => lines.push(`const e${i} = m[${JSON.stringify(n)}];`));
      if (names.length) lines.push(`export { ${names.map((n, i) => `e${i} as ${JSON.stringify(n)}`).join(', ')} };`);
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

// Packages stay in node_modules, loaded from there at run time, except those built into the bundle here:
// apache-arrow is ~130 ES module files, and Node 20 resolves, reads and links each one (0.24 CPU s to
// import it against 0.10 s for the same code as one file; the node baseline is 0.07 s). Only this
// repository's code imports it at run time (duckdb-wasm, the one package depending on it, runs in the page),
// so there is still one copy of its classes in a process. What it imports comes along. Their package.json
// files are inputs of the bundle, so another installed version makes the bundle stale.
const BUNDLED_PACKAGES = ['apache-arrow'];
// node_modules may be a link (a worktree sharing another's): esbuild reports the real paths.
const bundledDirs = BUNDLED_PACKAGES.flatMap((name) => {
  const dir = join(ROOT, 'node_modules', name);
  return [dir + sep, (existsSync(dir) ? realpathSync(dir) : dir) + sep];
});
const externalPackages = {
  name: 'external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return undefined;
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      if (BUNDLED_PACKAGES.includes(name) || bundledDirs.some((d) => args.importer.startsWith(d))) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const staging = `${BUNDLE_DIR}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
const t0 = performance.now();
try {
  const result = await esbuild.build({
    // The CLI, the kernel process `promptscope serve` forks (else it starts through tsx: seconds), and the
    // desktop app's engine (bin/engine.mjs runs it; it forks the same kernel).
    entryPoints: { promptscope: join(ROOT, 'cli/promptscope.ts'), kernel: join(ROOT, 'desktop/kernel/kernel-process.ts'), engine: join(ROOT, 'desktop/server/entry.ts') },
    absWorkingDir: ROOT, // the metafile's paths are relative to the repository, wherever this runs from
    outdir: staging,
    bundle: true,
    splitting: true, // a command's modules (run, serve, model) stay in chunks loaded only when it runs
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    entryNames: '[name]-[hash]', // a new build never overwrites a file a running process may still import
    chunkNames: '[name]-[hash]', // beside the entry: the rewritten import.meta.url are relative to this folder
    metafile: true,
    logLevel: 'error',
    plugins: [rewriteMetaUrl, requireCommonJs, externalPackages],
    // Every output file gets its own require() for the CommonJS packages above (resolved from bin/dist).
    banner: { js: "import { createRequire as __promptscopeCreateRequire } from 'node:module';\nconst __promptscopeRequire = __promptscopeCreateRequire(import.meta.url);" },
  });
  const files = {};
  // Inputs from the require() shims are named `node-require:<package>`, not files.
  const inputs = [...Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node-require:')).map((p) => join(ROOT, p)), join(ROOT, 'tsconfig.json'), join(ROOT, 'bin/build.mjs')];
  // The packages built in are recorded by their package.json (their version), the one file of theirs kept.
  const bundledPackageFiles = new Set();
  for (const path of inputs) {
    const m = /^(.*[\\/]node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(path);
    if (m) bundledPackageFiles.add(join(m[1], 'package.json'));
  }
  const inPackage = (path) => path.includes(`${sep}node_modules${sep}`);
  for (const path of [...inputs, ...bundledPackageFiles]) {
    const rel = toPosix(relative(ROOT, path));
    if (inPackage(path) && !bundledPackageFiles.has(path)) continue;
    const st = statSync(path);
    files[rel] = { size: st.size, mtimeMs: st.mtimeMs, sha256: sha256File(path) };
  }
  // The output file of each entry, found by its source: lazily imported modules are entry points of their
  // own chunks too.
  const outputOf = (source) => {
    const out = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === source)?.[0];
    if (!out) throw new Error(`esbuild reported no output for ${source}`);
    return out;
  };
  const entry = outputOf('cli/promptscope.ts');
  const kernel = outputOf('desktop/kernel/kernel-process.ts');
  const engine = outputOf('desktop/server/entry.ts');
  // Move the new files in beside the old ones (names carry content hashes, so a process started on the
  // old build can still load its lazily imported chunks), then replace inputs.json in one rename: it names
  // the entry, so a reader sees the old build with its inputs or the new one with its own, never a mix.
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const written = new Set(['inputs.json']);
  for (const name of readdirSync(staging)) {
    renameSync(join(staging, name), join(BUNDLE_DIR, name));
    written.add(name);
  }
  writeFileSync(join(staging, 'inputs.json'), JSON.stringify({ format: INPUTS_FORMAT, builtAt: new Date().toISOString(), entry: basename(entry), kernel: basename(kernel), engine: basename(engine), package: packageDigest(), files }, null, 1));
  renameSync(join(staging, 'inputs.json'), join(BUNDLE_DIR, 'inputs.json'));
  rmSync(staging, { recursive: true, force: true });
  // Files of earlier builds go after a week (a process running that long has loaded what it needs).
  const weekAgo = Date.now() - 7 * 24 * 3600 * 1000;
  for (const name of readdirSync(BUNDLE_DIR)) {
    const path = join(BUNDLE_DIR, name);
    if (!written.has(name) && statSync(path).mtimeMs < weekAgo) rmSync(path, { recursive: true, force: true });
  }
  if (!quiet) console.error(`bin/build.mjs: bundled ${Object.keys(files).length} source files into ${toPosix(relative(ROOT, BUNDLE_DIR))}/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (err) {
  rmSync(staging, { recursive: true, force: true });
  // Not fatal: without the bundle promptscope runs its sources through tsx, as it did before.
  console.error(`bin/build.mjs: the bundle was not built (${err.message}); promptscope will run its sources through tsx`);
  process.exit(0);
}
