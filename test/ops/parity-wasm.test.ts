import { paritySuite } from './parity.ts';

paritySuite('wasm');
