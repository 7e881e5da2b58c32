import { paritySuite } from './parity.ts';

paritySuite('webgpu');
