// CLIP parity with the fixture's float64 references on the cpu and wasm backends (see parity-suite.ts).
import { paritySuite } from './parity-suite.ts';

paritySuite('cpu');
paritySuite('wasm');
