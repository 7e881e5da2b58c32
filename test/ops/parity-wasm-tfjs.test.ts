// The fast ops on tfjs-wasm's own kernels: the path browsers, and Node without the native kernels, take.
// (parity-wasm.test.ts runs the same suite on the native kernels.) Set before the backend starts.
process.env.PROMPTSCOPE_NATIVE = 'off';
const { paritySuite } = await import('./parity.ts');

paritySuite('wasm');
