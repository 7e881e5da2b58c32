// The seed mixers' outputs are part of every cached few-shot task, trained prompt and pretraining run
// (see cells/util/random.ts): these values were taken from the two implementations before they were
// moved into one file, and must never change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixSeed, murmurMixSeed } from '../../cells/util/random.ts';

test('mixSeed (prompt learners) and murmurMixSeed (pretraining) keep their values', () => {
  assert.equal(mixSeed(1, 2, 3), 3560289845);
  assert.equal(mixSeed(7, 4, 17), 4213515638);
  assert.equal(murmurMixSeed(1, 2, 3), 1561582666);
  assert.equal(murmurMixSeed(7, 4, 17), 301585061);
});
