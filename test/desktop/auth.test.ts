// Token comparison, cookies scoped by port, and the loopback Host check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieName, hostAllowed, newToken, parseCookies, tokensEqual } from '../../desktop/server/auth.ts';

test('tokens are long, random and compared exactly', () => {
  const a = newToken();
  const b = newToken();
  assert.notEqual(a, b);
  assert.ok(a.length >= 32 && /^[A-Za-z0-9_-]+$/.test(a));
  assert.ok(tokensEqual(a, a));
  assert.ok(!tokensEqual(a, b));
  assert.ok(!tokensEqual(a.slice(0, -1), a));
  assert.ok(!tokensEqual('', a));
});

test('cookies are per port, and parsing tolerates junk', () => {
  assert.notEqual(cookieName(8888), cookieName(8889));
  const c = parseCookies(`x=1; ${cookieName(8888)}=abc%3D; broken; y=%E0%A4%A`);
  assert.equal(c.get(cookieName(8888)), 'abc=');
  assert.equal(c.get('y'), '%E0%A4%A');
});

test('a loopback server accepts only loopback Host headers', () => {
  for (const h of ['127.0.0.1:8888', 'localhost:1', '[::1]:8888', 'LOCALHOST']) assert.ok(hostAllowed(h, '127.0.0.1'), h);
  for (const h of ['evil.example:8888', '127.0.0.1.evil.example', undefined]) assert.ok(!hostAllowed(h, '127.0.0.1'), String(h));
  assert.ok(hostAllowed('gpu-box:8888', '0.0.0.0'), 'a server bound to the network accepts its network name');
});
