// `pullModel` against a loopback server with the hub's URL layout: LFS-style redirect with X-Linked-Etag
// (sha256) for the weights, git blob sha1 ETags for small files, Range resume after dropped connections,
// and a corrupted byte that must fail verification and leave no file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pullModel, listModels, load, initBackend } from '../../cells/model/index.ts';
import { FIXTURE_DIR } from './fixture.ts';

interface ServerState {
  /** Drop the connection after this many bytes on the next N weight downloads. */
  dropAfter: number;
  drops: number;
  /** Flip one byte of the weights served under this repo. */
  corruptRepo: string;
  ranges: string[];
  gets: number;
  /** Authorization headers that reached the CDN (must stay empty: the token is for the hub only). */
  cdnAuth: string[];
  hubAuth: string[];
}

const files: Record<string, Buffer> = {
  'config.json': readFileSync(join(FIXTURE_DIR, 'config.json')),
  'model.safetensors': readFileSync(join(FIXTURE_DIR, 'model.safetensors')),
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/**
 * Two loopback servers, like the hub and its CDN: the hub answers /<repo>/resolve/<rev>/<file>; weights
 * redirect to the CDN (another origin) with X-Linked-Etag/X-Linked-Size on the redirect. The CDN refuses
 * HEAD (presigned URLs are signed for GET only), serves Range requests, and can drop or corrupt.
 */
async function startHub(state: ServerState): Promise<{ servers: Server[]; endpoint: string }> {
  const cdn = createServer((req, res) => {
    const m = new URL(req.url!, 'http://x').pathname.match(/^\/cdn\/(.+)\/(.+)$/);
    if (!m) { res.writeHead(404).end(); return; }
    if (req.method !== 'GET') { res.writeHead(403).end(); return; }
    const repo = decodeURIComponent(m[1]);
    let body = files[m[2]];
    if (repo === state.corruptRepo) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0x40;
    }
    state.gets++;
    if (req.headers.authorization) state.cdnAuth.push(req.headers.authorization);
    let start = 0;
    const range = req.headers.range;
    if (range) {
      state.ranges.push(range);
      start = Number(/bytes=(\d+)-/.exec(range)![1]);
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    if (state.drops > 0) {
      state.drops--;
      // send part of the body, then kill the connection mid-file
      res.write(body.subarray(start, start + state.dropAfter), () => res.socket?.destroy());
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  const cdnBase = `http://127.0.0.1:${(cdn.address() as { port: number }).port}`;
  const hub = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const resolve = url.pathname.match(/^\/(.+)\/resolve\/([^/]+)\/(.+)$/);
    if (!resolve) { res.writeHead(404).end(); return; }
    const [, repo, , name] = resolve;
    if (req.headers.authorization) state.hubAuth.push(req.headers.authorization);
    const body = files[name];
    if (!body || !repo.startsWith('test/')) { res.writeHead(404).end('not found'); return; }
    res.setHeader('x-repo-commit', 'c0ffee');
    if (name.endsWith('.safetensors')) {
      res.writeHead(302, { location: `${cdnBase}/cdn/${encodeURIComponent(repo)}/${name}`, 'x-linked-etag': `"${sha256(body)}"`, 'x-linked-size': String(body.length), etag: '"abc"' });
      res.end();
      return;
    }
    res.writeHead(200, { etag: `"${gitSha1(body)}"`, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  return { servers: [hub, cdn], endpoint: `http://127.0.0.1:${(hub.address() as { port: number }).port}` };
}

async function withHub(fn: (endpoint: string, state: ServerState, store: string) => Promise<void>): Promise<void> {
  const state: ServerState = { dropAfter: 0, drops: 0, corruptRepo: '', ranges: [], gets: 0, cdnAuth: [], hubAuth: [] };
  const { servers, endpoint } = await startHub(state);
  const store = await mkdtemp(join(tmpdir(), 'hub-'));
  try {
    await fn(endpoint, state, store);
  } finally {
    for (const s of servers) s.close();
    await rm(store, { recursive: true, force: true });
  }
}

test('pull: downloads into <store>/<repo>/<revision>/, verifies sha256 (LFS) and git sha1; second pull is a no-op; ls lists it', async () => {
  await withHub(async (endpoint, state, store) => {
    const r = await pullModel('test/tiny-clip', { endpoint, store, revision: 'main', token: 'hf_secret' });
    assert.deepEqual(state.cdnAuth, [], 'the hub token leaked to the CDN');
    assert.ok(state.hubAuth.length > 0 && state.hubAuth.every((a) => a === 'Bearer hf_secret'));
    assert.equal(r.dir, join(store, 'test', 'tiny-clip', 'main'));
    assert.equal(r.commit, 'c0ffee');
    const byName = Object.fromEntries(r.files.map((f) => [f.name, f]));
    assert.deepEqual(Object.keys(byName).sort(), ['config.json', 'model.safetensors']); // optional files 404 → skipped
    assert.equal(byName['model.safetensors'].verifiedBy, 'sha256');
    assert.equal(byName['model.safetensors'].sha256, sha256(files['model.safetensors']));
    assert.equal(byName['config.json'].verifiedBy, 'git-sha1');
    assert.deepEqual(readFileSync(join(r.dir, 'model.safetensors')), files['model.safetensors']);
    await initBackend('cpu');
    const m = await load(r.dir);
    assert.equal(m.id, 'test/tiny-clip');
    m.dispose();
    const gets = state.gets;
    const again = await pullModel('test/tiny-clip', { endpoint, store });
    assert.ok(again.files.every((f) => f.cached));
    assert.equal(state.gets, gets, 'a verified file must not be downloaded again');
    const ls = await listModels(store, { bundled: false });
    assert.equal(ls.length, 1);
    assert.equal(ls[0].repo, 'test/tiny-clip');
    assert.equal(ls[0].revision, 'main');
    assert.ok(ls[0].bytes >= files['model.safetensors'].length);
    const pr = await pullModel('test/tiny-clip', { endpoint, store, revision: 'refs/pr/1', files: ['config.json'] });
    assert.equal(pr.dir, join(store, 'test', 'tiny-clip', 'refs--pr--1'));
    await assert.rejects(pullModel('test/tiny-clip', { endpoint, store, revision: '../x' }), /not a branch, tag or commit/);
    await assert.rejects(pullModel('test/missing-file', { endpoint, store, files: ['nope.bin'] }), /has no nope\.bin \(HTTP 404/);
    await assert.rejects(pullModel('../etc', { endpoint, store }), /not a hub repo id/);
  });
});

test('pull: a connection dropped mid-file resumes with Range and completes (within one pull and across pulls)', async () => {
  await withHub(async (endpoint, state, store) => {
    state.dropAfter = 1_000_000;
    state.drops = 2;
    const r = await pullModel('test/flaky', { endpoint, store, files: ['model.safetensors'] });
    assert.deepEqual(readFileSync(join(r.dir, 'model.safetensors')), files['model.safetensors']);
    // each retry asked only for the bytes it was missing (the socket may lose some in flight: offsets ≤ 1e6·k)
    const offsets = state.ranges.map((r) => Number(/^bytes=(\d+)-$/.exec(r)![1]));
    assert.equal(offsets.length, 2);
    assert.ok(offsets[0] > 0 && offsets[0] <= 1_000_000 && offsets[1] > offsets[0] && offsets[1] <= offsets[0] + 1_000_000, `${state.ranges}`);

    // killed process: no retries allowed, the partial file stays; the next pull resumes from it
    state.ranges = [];
    state.drops = 1;
    await assert.rejects(pullModel('test/killed', { endpoint, store, files: ['model.safetensors'], retries: 0 }), /\d+ bytes kept in .*\.part, run pull again to resume/);
    const dir = join(store, 'test', 'killed', 'main');
    const kept = (await stat(join(dir, 'model.safetensors.part'))).size;
    assert.ok(kept > 0 && kept <= 1_000_000);
    const r2 = await pullModel('test/killed', { endpoint, store, files: ['model.safetensors'] });
    assert.deepEqual(state.ranges, [`bytes=${kept}-`]);
    assert.equal(r2.files[0].sha256, sha256(files['model.safetensors']));
    assert.deepEqual((await readdir(dir)).sort(), ['.promptscope-pull.json', 'model.safetensors']);
  });
});

test('pull: a corrupted byte fails sha256 verification with a clear error and leaves no file', async () => {
  await withHub(async (endpoint, state, store) => {
    state.corruptRepo = 'test/corrupt';
    await assert.rejects(pullModel('test/corrupt', { endpoint, store, files: ['model.safetensors'] }), /model\.safetensors: sha256 mismatch .* deleted, run pull again/);
    const dir = join(store, 'test', 'corrupt', 'main');
    const left = await readdir(dir);
    assert.ok(!left.includes('model.safetensors') && !left.some((f) => f.endsWith('.part')), `left behind: ${left}`);
    assert.equal((await listModels(store, { bundled: false })).length, 0);
  });
});
