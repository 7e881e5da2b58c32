// The protocol's health check (issue #20): a trained run below zero-shot or near chance gets a warning line.
// The rows are the quickstart's own measurements (CIFAR-10 4-shot seed 1: zero-shot 43.2 %, UPT before the
// scale fix 10.8 %, after it 40.0 %).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWarning, type ProtocolRow } from '../../cells/prompts/protocol.ts';

const row = (method: string, top1: number): ProtocolRow => ({ dataset: 'cifar10', method, shots: 4, seed: 1, top1, backend: 'wasm' });

test('a collapsed run is reported near chance, with what to try', () => {
  const w = runWarning(row('UPT', 0.108), 10, 0.432);
  assert.match(w!, /^warning: UPT on cifar10 \(4-shot, seed 1\): top-1 10\.8 % is within 5 points of chance \(10\.0 %\)/);
  assert.match(w!, /lower learning rate/);
});

test('a run below zero-shot is reported with the gap; a healthy one is not', () => {
  assert.match(runWarning(row('UPT', 0.4), 10, 0.432)!, /3\.2 points below zero-shot \(43\.2 %\)/);
  assert.equal(runWarning(row('UPT', 0.43), 10, 0.432), null); // within 1 point: not flagged
  assert.equal(runWarning(row('UPT', 0.5), 10, 0.432), null);
  assert.equal(runWarning(row('UPT', 0.4), 10, undefined), null); // no zero-shot rows: only the chance check
});

test('the linear probe is not told to lower a learning rate it does not have', () => {
  const w = runWarning(row('linear probe', 0.356), 10, 0.432, false)!;
  assert.match(w, /7\.6 points below zero-shot/);
  assert.doesNotMatch(w, /learning rate/);
});
