import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe } from '../../cli/progress.ts';
import type { CellState } from '../../cells/engine/session.ts';

const cell = (progress: CellState['progress']): CellState =>
  ({ id: 3, mode: 'js', names: ['features'], status: 'running', runs: 1, hits: 0, misses: 0, displayed: [], progress });

test('progress lines show the bar, percentage, message and a well-formed ETA', () => {
  assert.equal(describe(cell({ fraction: 0.5, message: 'extractFeatures: 500/1000 images', etaSeconds: 119.5 })),
    '[############------------]  50% features — extractFeatures: 500/1000 images ETA 2m00s');
  assert.match(describe(cell({ fraction: 0.25, etaSeconds: 59.2 })), / 25% features ETA 1m00s$/);
  assert.match(describe(cell({ fraction: 0.9, etaSeconds: 4.1 })), /ETA 5s$/);
  assert.equal(describe(cell(undefined)), 'features: running');
});
