// The layering the README draws, checked by `npm test` (test/run.mjs). Bottom to top:
//   cells/util, cells/plots            leaf helpers (hashing, atomic files, safetensors; Vega-Lite)
//   cells/exec                         stages, keys, cache, codecs, the executor
//   cells/data → cells/model → cells/prompts → cells/studies     the stages (each may use those left of it)
//   cells/engine                       the notebook runtime (format, compile, session); knows no stage
//   cells/library.ts                   what notebook cells can call: the composition root of cells/
//   desktop/protocol.ts                wire types shared by the UI, the server and the kernel
//   desktop/ui | desktop/server, desktop/kernel | desktop/electron
//   cli → bin
// A rule names what a layer must NOT import; anything not forbidden is allowed.
const STAGES = '^cells/(data|model|prompts|studies|plots)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'Modules form a DAG: a cycle means two files are really one, or a layer is upside down.',
      from: {}, to: { circular: true } },
    { name: 'cells-not-above', severity: 'error', comment: 'cells/ is the library: it never imports the desktop, the command line or bin.',
      from: { path: '^cells/' }, to: { path: '^(desktop|cli|bin)/' } },
    { name: 'util-is-a-leaf', severity: 'error', comment: 'cells/util and cells/plots depend on nothing else in the project.',
      from: { path: '^cells/(util|plots)/' }, to: { path: '^(cells/(?!util/|plots/)|desktop|cli)' } },
    { name: 'exec-below-stages', severity: 'error', comment: 'The execution layer knows no stage, no runtime, no library.',
      from: { path: '^cells/exec/' }, to: { path: '^cells/(?!exec/|util/)' } },
    { name: 'stages-use-the-exec-interface', severity: 'error',
      comment: 'Stages describe work through cells/exec/index.ts only; the cache, context and executors behind it are not theirs.',
      from: { path: STAGES }, to: { path: '^cells/exec/(?!index\\.ts$)' } },
    { name: 'stages-not-runtime', severity: 'error', comment: 'Stages do not know the notebook runtime or the library that exposes them.',
      from: { path: STAGES }, to: { path: '^cells/(engine/|library\\.ts$)' } },
    { name: 'data-below-model', severity: 'error', from: { path: '^cells/data/' }, to: { path: '^cells/(model|prompts|studies)/' } },
    { name: 'model-below-prompts', severity: 'error', from: { path: '^cells/model/' }, to: { path: '^cells/(prompts|studies)/' } },
    { name: 'prompts-below-studies', severity: 'error', from: { path: '^cells/prompts/' }, to: { path: '^cells/studies/' } },
    { name: 'engine-knows-no-stage', severity: 'error', comment: 'The runtime runs cells; what cells compute is the library\'s.',
      from: { path: '^cells/engine/' }, to: { path: '^cells/(data|model|prompts|studies|plots)/|^cells/library\\.ts$' } },
    { name: 'ops-stay-browser-safe', severity: 'error', comment: 'cells/model/ops runs in the page too: no Node built-ins.',
      from: { path: '^cells/model/ops/' }, to: { dependencyTypes: ['core'] } },
    { name: 'ui-talks-protocol-only', severity: 'error', comment: 'The page knows the server only through desktop/protocol.ts and HTTP.',
      from: { path: '^desktop/ui/src/' }, to: { path: '^(desktop/(server|kernel|electron)/|cells/(?!engine/notebook\\.ts$)|cli/)' } },
    { name: 'server-not-ui-source', severity: 'error', comment: 'The server serves the built bundle; it does not import the page\'s code.',
      from: { path: '^desktop/(server|kernel)/' }, to: { path: '^desktop/ui/src/' } },
    { name: 'desktop-not-cli', severity: 'error', from: { path: '^desktop/' }, to: { path: '^(cli|bin)/' } },
    // electron → server → kernel are processes started by file path (fork), which imports do not show:
    // these keep the code from importing back up that chain.
    { name: 'kernel-below-server', severity: 'error', comment: 'The kernel knows the server only through desktop/protocol.ts messages.',
      from: { path: '^desktop/kernel/' }, to: { path: '^desktop/(server|electron)/' } },
    { name: 'server-below-electron', severity: 'error', comment: 'The server runs without Electron (promptscope serve).',
      from: { path: '^desktop/server/' }, to: { path: '^desktop/electron/' } },
    { name: 'product-not-tests', severity: 'error', comment: 'Code that only tests or benches use lives in test/ or bench/.',
      from: { path: '^(cells|desktop|cli|bin)/' }, to: { path: '^(test|bench)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/|node_modules' },
    // Type-only imports are dependencies of the design too (the UI importing the server's types was one).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.cjs'] },
  },
};
