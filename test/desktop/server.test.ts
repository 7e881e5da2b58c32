// The HTTP layer of `promptscope serve` without a browser: the token rules, payload validation (400 with
// a message), trust (read-only until trusted, saved = trusted), paged tables, save conflicts, the cache
// panel and the event stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cache } from '../../cells/exec/cache.ts';
import { notebookHash, parseNotebook } from '../../cells/engine/notebook.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import { startServer, type RunningServer } from '../../desktop/server/server.ts';
import { TEST_KERNEL } from './builtins.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/demo.html', import.meta.url));
let dir: string;
let server: RunningServer;
let base: string;
let notebookPath: string;
let trust: TrustStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'promptscope-serve-'));
  notebookPath = join(dir, 'demo.html');
  copyFileSync(FIXTURE, notebookPath);
  trust = new TrustStore(join(dir, 'trusted.json'));
  server = await startServer({ notebookPath, cache: new Cache(join(dir, 'cache')), kernelEntry: TEST_KERNEL, trustStore: trust });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const auth = () => ({ 'X-Promptscope-Token': server.token });
async function post(path: string, body: unknown, headers: Record<string, string> = auth()): Promise<{ status: number; body: { error?: string } & Record<string, unknown> }> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}
async function get<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, { headers: auth() });
  return { status: res.status, body: (await res.json()) as T };
}
interface Nb {
  trusted: boolean;
  dirty: boolean;
  cells: { id: number; value: string }[];
  states: { id: number; status: string; runs: number; outputs?: { kind: string; handle?: string; numRows?: number }[] }[];
}

test('binds loopback and prints a URL with a long random token', () => {
  assert.equal(server.host, '127.0.0.1');
  assert.ok(server.token.length >= 32);
  assert.equal(server.url, `${base}/?token=${server.token}`);
});

test('the token: 403 without it; query → cookie; POST needs the header; Host and Origin are checked', async () => {
  assert.equal((await fetch(`${base}/api/notebook`)).status, 403);
  assert.equal((await fetch(`${base}/api/notebook`, { headers: { 'X-Promptscope-Token': server.token.slice(0, -1) } })).status, 403);
  const page = await fetch(`${base}/?token=${server.token}`, { redirect: 'manual' });
  assert.equal(page.status, 302);
  const cookie = page.headers.get('set-cookie') ?? '';
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const pair = cookie.split(';')[0];
  const html = await fetch(`${base}/`, { headers: { cookie: pair } });
  assert.equal(html.status, 200);
  const csp = html.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
  assert.match(await html.text(), new RegExp(`content="${server.token}"`));
  // A cookie is sent by any page on this host, so it must not be enough to act.
  assert.equal((await post('/api/run-all', {}, { cookie: pair })).status, 403);
  const rebound = await new Promise<number>((resolve, reject) => {
    request(`${base}/api/notebook`, { headers: { ...auth(), host: `evil.example:${server.port}` } }, (res) => resolve(res.statusCode ?? 0)).on('error', reject).end();
  });
  assert.equal(rebound, 403, 'a DNS-rebinding Host header is refused');
  assert.equal((await post('/api/run-all', {}, { ...auth(), origin: 'http://localhost:3000' })).status, 403);
});

test('an untrusted notebook is read-only: shown, never run, until trusted', async () => {
  const { body } = await get<Nb>('/api/notebook');
  assert.equal(body.trusted, false);
  assert.equal(body.cells.length, 13);
  assert.ok(body.states.every((s) => s.runs === 0 && s.status === 'idle'));
  for (const [path, payload] of [['/api/run-all', {}], ['/api/cell/run', { id: 4 }], ['/api/cell/edit', { id: 4, value: '1' }], ['/api/input', { name: 'steps', value: 4 }], ['/api/save', {}]] as const) {
    const r = await post(path, payload);
    assert.equal(r.status, 409, path);
    assert.match(r.body.error ?? '', /not trusted|trust/i, path);
  }
  assert.equal(server.notebook.kernel, null);
  // Trust covers what was shown: a file changed on disk in the meantime is reloaded, not trusted.
  const original = readFileSync(notebookPath, 'utf8');
  writeFileSync(notebookPath, original.replace('UI demo', 'UI demo (changed)'));
  const stale = await post('/api/trust', {});
  assert.equal(stale.status, 409);
  assert.match(stale.body.error ?? '', /changed on disk since it was shown/);
  assert.equal((await get<Nb & { title: string }>('/api/notebook')).body.title, 'UI demo (changed)');
  assert.equal(server.notebook.kernel, null);
  writeFileSync(notebookPath, original);
  assert.equal((await post('/api/trust', {})).status, 409, 'reverting is a change too: shown again first');
  assert.equal((await post('/api/trust', {})).status, 200);
  assert.ok(await trust.isTrusted(readFileSync(notebookPath, 'utf8')));
  await server.notebook.idle();
  const after = await get<Nb>('/api/notebook');
  assert.equal(after.body.trusted, true);
  assert.ok(after.body.states.every((s) => s.runs === 1), JSON.stringify(after.body.states.map((s) => [s.id, s.status, s.runs])));
});

test('payloads are validated with a 400 (or 404) that says what is wrong', async () => {
  const cases: [string, unknown, number, RegExp][] = [
    ['/api/cell/edit', { id: '4', value: 'x' }, 400, /"id" must be a positive integer/],
    ['/api/cell/edit', { id: 4 }, 400, /"value" must be a string/],
    ['/api/cell/edit', { id: 99, value: '1' }, 404, /no cell 99/],
    ['/api/cell/edit', { id: 5, value: 'const curve = (' }, 400, /cell 5/],
    ['/api/cell/edit', { id: 5, value: 'const base = 1' }, 400, /already defined/],
    ['/api/cell/add', { mode: 'python', value: '' }, 400, /"mode" must be one of js, md, sql/],
    ['/api/cell/add', { mode: 'sql', value: '', output: 'not a name' }, 400, /identifier/],
    ['/api/cell/remove', { id: -1 }, 400, /positive integer/],
    ['/api/cell/cancel', { id: 1.5 }, 400, /positive integer/],
    ['/api/input', { name: 'nope', value: 1 }, 400, /no input named "nope"/],
    ['/api/input', { name: 'steps', value: 99 }, 400, /above the maximum 10/],
    ['/api/input', { name: 'steps' }, 400, /missing "value"/],
    ['/api/save', { force: 'yes' }, 400, /"force" must be true or false/],
    ['/api/cell/run', [], 400, /JSON object/],
    ['/api/cell/run', '{not json', 400, /not valid JSON/],
    ['/api/nope', {}, 404, /no such action/],
  ];
  for (const [path, body, status, message] of cases) {
    const r = await post(path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
    assert.match(r.body.error ?? '', message, path);
  }
  assert.equal((await get('/api/table?handle=x1')).status, 400);
  assert.equal((await get('/api/table?handle=t1&limit=5000')).status, 400);
  assert.equal((await get('/api/table?handle=t999999&limit=5')).status, 404);
  // A rejected edit leaves the notebook as it was.
  const { body } = await get<Nb>('/api/notebook');
  assert.equal(body.cells.find((c) => c.id === 5)?.value, parseNotebook(readFileSync(FIXTURE, 'utf8')).cells.find((c) => c.id === 5)?.value);
});

test('tables are paged: a window of rows, never the whole table', async () => {
  const { body } = await get<Nb>('/api/notebook');
  const out = body.states.find((s) => s.id === 7)?.outputs?.[0];
  assert.equal(out?.kind, 'table');
  assert.equal(out?.numRows, 5000);
  const page = await get<{ numRows: number; offset: number; rows: unknown[][] }>(`/api/table?handle=${out!.handle}&offset=4990&limit=100`);
  assert.equal(page.status, 200);
  assert.equal(page.body.rows.length, 10);
  assert.deepEqual(page.body.rows[9], [4999, 4999 * 3]);
  const first = await get<{ rows: unknown[][] }>(`/api/table?handle=${out!.handle}`);
  assert.equal(first.body.rows.length, 100, 'the default window is 100 rows');
});

test('the event stream starts with a snapshot and reports cell updates', async () => {
  const ctrl = new AbortController();
  const res = await fetch(`${base}/api/events`, { headers: auth(), signal: ctrl.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  let text = '';
  const until = async (re: RegExp) => {
    while (!re.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  };
  await until(/event: hello\ndata: .*\n\n/);
  assert.match(text, /"trusted":true/);
  assert.equal((await post('/api/input', { name: 'steps', value: 4 })).status, 200);
  await until(/event: cell\ndata: \{"type":"cell","cell":\{"id":8,[^\n]*"status":"fresh"/);
  ctrl.abort();
  await server.notebook.idle();
  const { body } = await get<Nb>('/api/notebook');
  const runs = Object.fromEntries(body.states.map((s) => [s.id, s.runs]));
  assert.deepEqual(runs, { 1: 1, 2: 2, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2, 10: 1, 11: 1, 12: 1, 13: 2 });
});

test('cache panel: size from Cache.list, clear empties it', async () => {
  const info = await get<{ entries: number; bytes: number; stages: { stage: string }[] }>('/api/cache');
  assert.equal(info.body.entries, 1);
  assert.ok(info.body.bytes > 0);
  assert.deepEqual(info.body.stages.map((s) => s.stage), ['demoBase']);
  const cleared = await post('/api/cache/clear', {});
  assert.equal((cleared.body.cache as { entries: number }).entries, 0);
});

test('add, edit, remove and save: atomic, refuses to clobber a file changed on disk, trusts what it wrote', async () => {
  const added = await post('/api/cell/add', { mode: 'js', value: 'const twice = steps * 2', after: 8 });
  assert.equal(added.status, 200);
  const id = added.body.id as number;
  assert.equal(id, 14);
  await server.notebook.idle();
  assert.equal((await get<Nb>('/api/notebook')).body.states.find((s) => s.id === id)?.status, 'fresh');
  assert.equal((await post('/api/cell/edit', { id, value: 'const twice = steps * 3' })).status, 200);
  assert.equal((await post('/api/cell/remove', { id: 1 })).status, 200);
  const nb = await get<Nb>('/api/notebook');
  assert.equal(nb.body.dirty, true);
  assert.deepEqual(nb.body.cells.map((c) => c.id), [2, 3, 4, 5, 6, 7, 8, 14, 9, 10, 11, 12, 13]);

  writeFileSync(notebookPath, readFileSync(notebookPath, 'utf8') + '\n<!-- edited elsewhere -->\n');
  const conflict = await post('/api/save', {});
  assert.equal(conflict.status, 409);
  assert.match(conflict.body.error ?? '', /changed on disk/);
  const saved = await post('/api/save', { force: true });
  assert.equal(saved.status, 200);
  const text = readFileSync(notebookPath, 'utf8');
  assert.equal(parseNotebook(text).cells.find((c) => c.id === 14)?.value, 'const twice = steps * 3');
  assert.ok(await trust.isTrusted(text));
  assert.ok(!existsSync(`${notebookPath}.tmp`));
  assert.equal((await get<Nb>('/api/notebook')).body.dirty, false);
  assert.equal(notebookHash(text), notebookHash(readFileSync(notebookPath, 'utf8')));
});

test('a path that does not exist starts a new trusted notebook that Save creates', async () => {
  const path = join(dir, 'fresh.html');
  const s = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache2')), kernelEntry: TEST_KERNEL, trustStore: trust });
  try {
    const res = await fetch(`http://127.0.0.1:${s.port}/api/save`, { method: 'POST', headers: { 'X-Promptscope-Token': s.token }, body: '{}' });
    assert.equal(res.status, 200);
    const nb = parseNotebook(readFileSync(path, 'utf8'));
    assert.equal(nb.title, 'fresh');
    assert.equal(nb.cells[0].mode, 'md');
  } finally {
    await s.close();
  }
});

test('a trusted notebook that does not compile opens with the problem named, and an edit that fixes it starts it', async () => {
  const path = join(dir, 'broken.html');
  const text = '<!doctype html>\n<notebook theme="air">\n  <title>broken</title>\n  <script id="1" type="module">\n    const a = 1\n  </script>\n  <script id="2" type="module">\n    const b = a + missing\n  </script>\n</notebook>\n';
  writeFileSync(path, text);
  await trust.trust(text, path);
  const s = await startServer({ notebookPath: path, cache: new Cache(join(dir, 'cache3')), kernelEntry: TEST_KERNEL, trustStore: trust });
  const call = (p: string, body: unknown) =>
    fetch(`http://127.0.0.1:${s.port}${p}`, { method: p.startsWith('/api/notebook') ? 'GET' : 'POST', headers: { 'X-Promptscope-Token': s.token }, body: p.startsWith('/api/notebook') ? undefined : JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  try {
    // The kernel compiles the notebook; its problem is known once the kernel is up.
    let nb = await call('/api/notebook', null);
    for (const t0 = Date.now(); (nb.body.kernel as { state: string }).state !== 'ready' && Date.now() - t0 < 30_000; ) {
      await new Promise((r) => setTimeout(r, 50));
      nb = await call('/api/notebook', null);
    }
    assert.match(String((nb.body.problem as { message?: string })?.message), /cell 2, line 8: "missing" is not defined/);
    const run = await call('/api/run-all', {});
    assert.equal(run.status, 409);
    assert.match(String(run.body.error), /cannot run/);
    assert.equal((await call('/api/cell/edit', { id: 2, value: 'const b = a + 1' })).status, 200);
    assert.equal((await call('/api/notebook', null)).body.problem, undefined);
    await s.notebook.idle();
    assert.equal(await s.notebook.value('b'), 2);
  } finally {
    await s.close();
  }
});
