// CLIP parity on tfjs-wasm's own kernels (browsers, and Node without the native kernels); parity.test.ts
// covers wasm with the native kernels. Set before the backend starts.
process.env.PROMPTSCOPE_NATIVE = 'off';
const { paritySuite } = await import('./parity-suite.ts');

paritySuite('wasm');
