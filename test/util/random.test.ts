// The seed mixers' outputs are part of every cached few-shot task, trained prompt and pretraining run
// (see cells/util/random.ts): these values were taken from the two implementations before they were
// moved into one file, and must never change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mixSeed, mulberry32, murmurMixSeed, normalPairs } from '../../cells/util/random.ts';

test('mixSeed (prompt learners) and murmurMixSeed (pretraining) keep their values', () => {
  assert.equal(mixSeed(1, 2, 3), 3560289845);
  assert.equal(mixSeed(7, 4, 17), 4213515638);
  assert.equal(murmurMixSeed(1, 2, 3), 1561582666);
  assert.equal(murmurMixSeed(7, 4, 17), 301585061);
});

test('normalPairs keeps the normals random CLIP weights were drawn from', () => {
  // sha256 of the first 10,001 draws (Float64), taken from model/random-init.ts's own sampler before it
  // moved to util: mini-CLIP's starting weights, and so the shipped checkpoint, come from this stream.
  const digest = (seed: number) => {
    const next = normalPairs(mulberry32(seed));
    const a = Float64Array.from({ length: 10_001 }, () => next());
    return createHash('sha256').update(Buffer.from(a.buffer)).digest('hex');
  };
  assert.equal(digest(0), 'edfacc98ce2a80e7f10be018c420344053e4ac35dde1deb30f2426e27ca9b949');
  assert.equal(digest(7), 'a8c9b8c4b23f3234d9bc3b5800864e3ea780e9176033c8e121a9f8d5808406da');
});
