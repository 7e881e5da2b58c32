// notebooks/variance-explorer.html headless: `--set pickedClass=…` picks the class in the spread chart as a
// click would, and the picked class's thumbnails, nearest classes and accuracy chart follow it; a class the
// dataset does not have fails the run naming the classes it does. (MNIST, no trained methods: about 14 s of
// CPU for both runs. A second pick changing the images is the Chromium test's, test/desktop/variance-explorer.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../engine/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
const NOTEBOOK = fileURLToPath(new URL('../../notebooks/variance-explorer.html', import.meta.url));
const SMALL = ['datasetName=mnist', 'methodNames=[]'];

function run(sets: string[], out: string, env: Record<string, string>) {
  return spawnSync(process.execPath, [BIN, 'run', NOTEBOOK, ...[...SMALL, ...sets].flatMap((s) => ['--set', s]), '--out', out], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
}

test('variance explorer: --set pickedClass drives the picked-class cells; an unknown class is a clear error', async () => {
  const dir = await tempDir('ps-variance-explorer-');
  const env = { PROMPTSCOPE_CACHE: join(dir, 'cache'), PROMPTSCOPE_TRUST_STORE: join(dir, 'trust.json') };
  const read = (out: string, file: string) => JSON.parse(readFileSync(join(out, file), 'utf8'));

  const three = join(dir, 'three');
  const r = run(['pickedClass=three'], three, env);
  assert.equal(r.status, 0, `promptscope run exited ${r.status}:\n${r.stderr}`);
  assert.equal(read(three, 'metrics.json').pickedClass, 'three');
  const thumbs = readdirSync(three).filter((f) => /^pickedImages-\d+\.png$/.test(f));
  assert.equal(thumbs.length, 12, 'twelve thumbnails of the picked class');
  const nearest = read(three, 'nearest.json') as { className: string; textSimilarity: number }[];
  assert.equal(nearest.length, 5);
  assert.ok(!nearest.some((n) => n.className === 'three'), 'a class is not its own neighbour');
  assert.deepEqual(nearest.map((n) => n.textSimilarity), [...nearest.map((n) => n.textSimilarity)].sort((a, b) => b - a), 'most similar first');
  assert.match(readFileSync(join(three, 'pickedAccuracy.svg'), 'utf8'), /Accuracy on "three" by method/);
  const explorer = read(three, 'explorer.json') as { points: { className: string }[]; classNames: string[]; textSimilarity: number[][] };
  assert.equal(explorer.points.length, 500, '50 test images per class, each placed on the projection');
  explorer.textSimilarity.forEach((row, c) => assert.ok(Math.abs(row[c] - 1) < 1e-4, `${explorer.classNames[c]} is itself at cosine 1`));

  const bad = run(['pickedClass=cat'], join(dir, 'bad'), env);
  assert.notEqual(bad.status, 0, 'a class MNIST does not have fails the run');
  assert.match(bad.stderr, /input "pickedClass": "cat" is not a className in the chart \(\["zero","one",.*"nine"\]\)/);
});
