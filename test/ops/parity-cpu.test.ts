import { paritySuite } from './parity.ts';

paritySuite('cpu');
