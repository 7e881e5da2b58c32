// The server's access rules as a matrix against a real server on 127.0.0.1 (ephemeral port): every way
// a token can travel (header, Authorization, query, cookie), every way it can be missing or wrong, the
// Host and Origin checks (DNS rebinding, CSRF from another site or another local server, CORS
// preflights), oversized bodies, path traversal with a valid token, and a server bound to 0.0.0.0, which
// must still require the token (requests go to 127.0.0.1 only). Then trust from the command line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { cookieName } from '../../desktop/server/auth.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { TEST_KERNEL } from './builtins.ts';

const NOTEBOOK = '<!doctype html>\n<notebook theme="air">\n  <title>matrix</title>\n  <script id="1" type="module">\n    const a = 1\n  </script>\n</notebook>\n';
let dir: string;
let server: RunningServer;
let port: number;
let asserted = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-auth-'));
  const path = join(dir, 'matrix.html');
  writeFileSync(path, NOTEBOOK);
  const trust = new TrustStore(join(dir, 'trusted.json'));
  await trust.trust(NOTEBOOK, path);
  server = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore: trust });
  port = server.port;
});

after(async () => {
  await server?.close();
  console.log(`auth matrix: ${asserted} cases asserted`);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request with exactly these headers (fetch would refuse to set Host, Origin or Cookie). */
function send(method: string, path: string, headers: Record<string, string | number> = {}, body?: string | Buffer, to = port): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: to, method, path, headers: { host: `127.0.0.1:${to}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Bytes straight onto the socket, for request lines and headers no HTTP client would produce. */
function raw(text: string, to = port): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(to, '127.0.0.1', () => sock.end(text));
    let data = '';
    sock.on('data', (c) => (data += c.toString('latin1')));
    sock.on('end', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0)));
    sock.on('error', reject);
  });
}

const tok = () => server.token;
const cookie = (value = tok(), p = port) => `${cookieName(p)}=${encodeURIComponent(value)}`;

async function expectStatus(what: string, reply: Promise<Reply>, status: number, check?: (r: Reply) => void): Promise<Reply> {
  const r = await reply;
  assert.equal(r.status, status, `${what}: got ${r.status} ${r.body.slice(0, 200)}`);
  // No response ever opens the API to other origins.
  assert.equal(r.headers['access-control-allow-origin'], undefined, `${what}: sent Access-Control-Allow-Origin`);
  check?.(r);
  asserted++;
  return r;
}

test('GET: the token by header, Authorization, query or cookie; nothing else', async () => {
  const cases: [string, string, Record<string, string>, number][] = [
    ['no token', '/api/notebook', {}, 403],
    ['header', '/api/notebook', { 'x-promptscope-token': tok() }, 200],
    ['header, wrong', '/api/notebook', { 'x-promptscope-token': 'x' + tok().slice(1) }, 403],
    ['header, one character short', '/api/notebook', { 'x-promptscope-token': tok().slice(0, -1) }, 403],
    ['header, one character more', '/api/notebook', { 'x-promptscope-token': tok() + 'a' }, 403],
    ['header, empty', '/api/notebook', { 'x-promptscope-token': '' }, 403],
    ['Authorization: token', '/api/notebook', { authorization: `token ${tok()}` }, 200],
    ['Authorization: Bearer', '/api/notebook', { authorization: `Bearer ${tok()}` }, 200],
    ['Authorization: token, wrong', '/api/notebook', { authorization: `token ${tok()}x` }, 403],
    ['Authorization: Basic', '/api/notebook', { authorization: `Basic ${Buffer.from(`user:${tok()}`).toString('base64')}` }, 403],
    ['Authorization without a scheme', '/api/notebook', { authorization: tok() }, 403],
    ['query', `/api/notebook?token=${tok()}`, {}, 200],
    ['query, wrong', `/api/notebook?token=${tok()}x`, {}, 403],
    ['query, empty', '/api/notebook?token=', {}, 403],
    ['query, a wrong one first', `/api/notebook?token=nope&token=${tok()}`, {}, 403],
    ['cookie', '/api/notebook', { cookie: cookie() }, 200],
    ['cookie among others', '/api/notebook', { cookie: `a=1; ${cookie()}; b=2` }, 200],
    ['cookie, wrong', '/api/notebook', { cookie: cookie('nope') }, 403],
    ["cookie of another port's server", '/api/notebook', { cookie: cookie(tok(), port + 1) }, 403],
    ['page, no token', '/', {}, 403],
    ['page, cookie', '/', { cookie: cookie() }, 200],
    ['static file, no token', '/app.js', {}, 403],
    ['static file, cookie', '/app.js', { cookie: cookie() }, 200],
    ['event stream, no token', '/api/events', {}, 403],
    ['table, no token', '/api/table?handle=t1', {}, 403],
    ['cache, no token', '/api/cache', {}, 403],
  ];
  for (const [what, path, headers, status] of cases) await expectStatus(what, send('GET', path, headers), status);
  await expectStatus('page with ?token= swaps it for a cookie', send('GET', `/?token=${tok()}`), 302, (r) => {
    assert.equal(r.headers.location, '/');
    const set = String(r.headers['set-cookie']);
    assert.match(set, new RegExp(`^${cookieName(port)}=`));
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\//);
  });
  await expectStatus('a wrong ?token= sets no cookie', send('GET', '/?token=nope'), 403, (r) => assert.equal(r.headers['set-cookie'], undefined));
});

test('POST: only a header token acts; query, cookie and other origins do not', async () => {
  const json = { 'content-type': 'application/json' };
  const own = `http://127.0.0.1:${port}`;
  const cases: [string, string, Record<string, string>, number][] = [
    ['header', '/api/run-all', { 'x-promptscope-token': tok() }, 200],
    ['Authorization: token', '/api/run-all', { authorization: `token ${tok()}` }, 200],
    ['header and our own Origin', '/api/run-all', { 'x-promptscope-token': tok(), origin: own }, 200],
    ['no token', '/api/run-all', {}, 403],
    ['only the query token', `/api/run-all?token=${tok()}`, {}, 403],
    ['only the cookie', '/api/run-all', { cookie: cookie() }, 403],
    ['query and cookie', `/api/run-all?token=${tok()}`, { cookie: cookie() }, 403],
    ['wrong header', '/api/run-all', { 'x-promptscope-token': 'nope' }, 403],
    ['header, Origin of another site', '/api/run-all', { 'x-promptscope-token': tok(), origin: 'http://evil.example' }, 403],
    ['header, Origin of another local server', '/api/run-all', { 'x-promptscope-token': tok(), origin: `http://127.0.0.1:${port + 1}` }, 403],
    ['header, Origin of the same port over https', '/api/run-all', { 'x-promptscope-token': tok(), origin: `https://127.0.0.1:${port}` }, 403],
    ['header, Origin null (sandboxed frame, file://)', '/api/run-all', { 'x-promptscope-token': tok(), origin: 'null' }, 403],
    // The classic CSRF: a form or a no-cors fetch, text/plain, riding on the cookie.
    ['cookie, text/plain, from another site', '/api/cell/edit', { cookie: cookie(), 'content-type': 'text/plain', origin: 'http://evil.example' }, 403],
    ['cookie, form post, from a local page', '/api/cell/edit', { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded', origin: `http://localhost:${port + 1}` }, 403],
  ];
  for (const [what, path, headers, status] of cases) await expectStatus(`POST ${what}`, send('POST', path, { ...json, ...headers }, '{}'), status);
  // A CORS preflight from another site gets no grant (and carries no token, so it stops at the door).
  await expectStatus('preflight from another site', send('OPTIONS', '/api/run-all', { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-promptscope-token' }), 403, (r) => {
    assert.equal(r.headers['access-control-allow-headers'], undefined);
    assert.equal(r.headers['access-control-allow-methods'], undefined);
  });
  await expectStatus('OPTIONS with the token', send('OPTIONS', '/api/run-all', { 'x-promptscope-token': tok() }), 405);
  await expectStatus('PUT with the token', send('PUT', '/api/run-all', { 'x-promptscope-token': tok() }, '{}'), 405);
  await expectStatus('DELETE with the token', send('DELETE', '/api/notebook', { 'x-promptscope-token': tok() }), 405);
  // Reads from another origin, even with the cookie a same-site page would send, are refused too.
  await expectStatus('GET with the cookie from another local server', send('GET', '/api/notebook', { cookie: cookie(), origin: `http://127.0.0.1:${port + 1}` }), 403);
  await expectStatus('GET with the cookie from our own page', send('GET', '/api/notebook', { cookie: cookie(), origin: `http://127.0.0.1:${port}` }), 200);
});

test('Host header: loopback names only, checked before the token', async () => {
  const cases: [string, string | undefined, number][] = [
    ['127.0.0.1:port', `127.0.0.1:${port}`, 200],
    ['localhost:port', `localhost:${port}`, 200],
    ['LOCALHOST (no port)', 'LOCALHOST', 200],
    ['[::1]:port', `[::1]:${port}`, 200],
    ['DNS rebinding: evil.example', `evil.example:${port}`, 403],
    ['a name that starts like loopback', `127.0.0.1.evil.example:${port}`, 403],
    ['[::1] followed by a name', `[::1]evil.example:${port}`, 403],
    ['localhost with a trailing junk port', `localhost:${port}:80`, 403],
    ['a Host with a space (not a URL authority)', 'exa mple', 403],
    ['127.0.0.2 (loopback, but not what we serve)', `127.0.0.2:${port}`, 403],
  ];
  for (const [what, host, status] of cases) await expectStatus(`Host ${what}`, send('GET', '/api/notebook', { host: host!, 'x-promptscope-token': tok() }), status);
  // Node refuses an HTTP/1.1 request without Host before our code sees it.
  assert.equal(await raw(`GET /api/notebook HTTP/1.1\r\nx-promptscope-token: ${tok()}\r\nConnection: close\r\n\r\n`), 400);
  asserted++;
  assert.equal(await raw(`GET /api/notebook HTTP/1.0\r\nx-promptscope-token: ${tok()}\r\n\r\n`), 403, 'HTTP/1.0 without Host: no Host, no entry');
  asserted++;
});

test('oversized and malformed requests: 413 or 400, never a crash', async () => {
  const h = { 'x-promptscope-token': tok(), 'content-type': 'application/json' };
  const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
  await expectStatus('a 9 MB body', send('POST', '/api/cell/edit', h, big), 413);
  await expectStatus('a 9 MB body without the token', send('POST', '/api/cell/edit', { 'content-type': 'application/json' }, big), 403);
  const value = JSON.stringify({ id: 1, value: 'x'.repeat(1_000_001) });
  await expectStatus('a cell value over a million characters', send('POST', '/api/cell/edit', h, value), 400, (r) => assert.match(r.body, /limit is 1000000/));
  await expectStatus('not JSON', send('POST', '/api/cell/edit', h, '{nope'), 400);
  await expectStatus('a cell id past the largest', send('POST', '/api/cell/edit', h, JSON.stringify({ id: 2 ** 53 + 2, value: '1' })), 400);
  // Declared too large up front: refused without waiting for the bytes.
  const declared = await raw(`POST /api/cell/edit HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-promptscope-token: ${tok()}\r\nContent-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024}\r\nConnection: close\r\n\r\n{`);
  assert.equal(declared, 413);
  asserted++;
  assert.equal(await raw(`GET //[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-promptscope-token: ${tok()}\r\nConnection: close\r\n\r\n`), 400, 'a request target that is no URL');
  asserted++;
  // The server is still fine.
  await expectStatus('after all that', send('GET', '/api/notebook', { 'x-promptscope-token': tok() }), 200);
});

test('path traversal with a valid token reaches nothing outside the UI bundle', async () => {
  const pkg = readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8');
  const targets = [
    '/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/package.json',
    '/..%2f..%2fpackage.json',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/app.js/../../package.json',
    '/app.js%00.json',
    '//etc/passwd',
    '/desktop/ui/dist/app.js',
    '/..\\..\\package.json',
    `/${'a'.repeat(5000)}`,
  ];
  for (const t of targets) {
    const sep = t.includes('?') ? '&' : '?';
    await expectStatus(`traversal ${t.slice(0, 40)} with the token`, send('GET', `${t}${sep}token=${tok()}`), 404, (r) => {
      assert.ok(!r.body.includes('"devDependencies"') && !r.body.includes('root:'), 'leaked a file');
      assert.ok(!pkg.includes(r.body) || r.body.length < 100);
    });
    await expectStatus(`traversal ${t.slice(0, 40)} without it`, send('GET', t), 403);
  }
  // The token itself as a path segment does not authenticate anything.
  await expectStatus('token as a path segment', send('GET', `/${tok()}/../api/notebook`), 403);
  await expectStatus('normalised back to a real file', send('GET', `/x/../app.js?token=${tok()}`), 200);
});

test('bound to 0.0.0.0: still refuses every request without the token', async () => {
  const path = join(dir, 'open.html');
  writeFileSync(path, NOTEBOOK);
  const open = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache-open')), kernelEntry: TEST_KERNEL, trustStore: join(dir, 'trusted.json'), host: '0.0.0.0' });
  try {
    assert.equal(open.host, '0.0.0.0');
    assert.equal(open.url, `http://127.0.0.1:${open.port}/?token=${open.token}`, 'the printed URL is one this machine can open');
    const p = open.port;
    const t = open.token;
    const cases: [string, string, string, Record<string, string>, number][] = [
      ['no token', 'GET', '/api/notebook', {}, 403],
      ['no token, page', 'GET', '/', {}, 403],
      ['wrong token', 'GET', '/api/notebook', { 'x-promptscope-token': 'nope' }, 403],
      ['header', 'GET', '/api/notebook', { 'x-promptscope-token': t }, 200],
      ['a network name as Host, with the token', 'GET', '/api/notebook', { host: `gpu-box:${p}`, 'x-promptscope-token': t }, 200],
      ['a network name as Host, without it', 'GET', '/api/notebook', { host: `gpu-box:${p}` }, 403],
      ['query token', 'GET', `/?token=${t}`, {}, 302],
      ['POST with only the query token', 'POST', `/api/run-all?token=${t}`, {}, 403],
      ['POST with only the cookie', 'POST', '/api/run-all', { cookie: cookie(t, p) }, 403],
      ['POST from another origin', 'POST', '/api/run-all', { 'x-promptscope-token': t, origin: 'http://evil.example' }, 403],
      ["the first server's token", 'GET', '/api/notebook', { 'x-promptscope-token': tok() }, 403],
    ];
    for (const [what, method, target, headers, status] of cases) await expectStatus(`0.0.0.0: ${what}`, send(method, target, headers, method === 'POST' ? '{}' : undefined, p), status);
  } finally {
    await open.close();
  }
});

test('trust: a shipped notebook runs untrusted; `promptscope trust` lets a copy run; editing it revokes that', async () => {
  const bin = fileURLToPath(new URL('../../bin/promptscope.js', import.meta.url));
  const env = { ...process.env, PROMPTSCOPE_TRUST_STORE: join(dir, 'cli-trust.json'), PROMPTSCOPE_CACHE: join(dir, 'cli-cache') };
  const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env });
  const shipped = fileURLToPath(new URL('../../notebooks/hello.html', import.meta.url));
  const store = new TrustStore(env.PROMPTSCOPE_TRUST_STORE);
  assert.ok(await store.isTrusted(readFileSync(shipped, 'utf8'), shipped), 'shipped notebooks need no trust entry');
  const run = cli('run', shipped);
  assert.equal(run.status, 0, run.stderr);
  const copy = join(dir, 'hello-copy.html');
  const text = readFileSync(shipped, 'utf8');
  writeFileSync(copy, text);
  const untrusted = cli('run', copy);
  assert.equal(untrusted.status, 2);
  assert.match(untrusted.stderr, /is not trusted/);
  const trusted = cli('trust', copy);
  assert.equal(trusted.status, 0, trusted.stderr);
  const again = cli('run', copy);
  assert.equal(again.status, 0, again.stderr);
  writeFileSync(copy, text.replace('value: 200', 'value: 210'));
  const edited = cli('run', copy);
  assert.equal(edited.status, 2, 'an edit by someone else revokes trust');
  assert.match(edited.stderr, /is not trusted/);
  assert.ok(!(await store.isTrusted(readFileSync(copy, 'utf8'), copy)));
  asserted += 5;
});
