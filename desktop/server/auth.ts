// Who may talk to the server: whoever holds the random token printed with the URL (as Jupyter does).
// The token arrives once as `?token=` on the page URL; the server then sets a cookie so the page's own
// static files and its event stream load without it. State-changing requests must carry the token in a
// header, never only the cookie: a cookie is also sent by pages of other local servers (cookies ignore
// the port), a custom header is not, so a hostile page on localhost cannot drive the notebook.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_HEADER = 'x-promptscope-token';

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Constant-time comparison; hashing first makes both sides the same length whatever was sent. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** Cookies are shared by every port on a host, so the name carries the port. */
export function cookieName(port: number): string {
  return `promptscope-token-${port}`;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

export type TokenSource = 'header' | 'query' | 'cookie';

/** Where a valid token came from, or null when the request carries none that matches. */
export function authenticate(req: IncomingMessage, url: URL, token: string, port: number): TokenSource | null {
  const header = req.headers[TOKEN_HEADER];
  if (typeof header === 'string' && tokensEqual(header, token)) return 'header';
  // `Authorization: token …` (Jupyter's spelling) or `Bearer …`: like our own header, a page on another
  // origin can only send it after a CORS preflight, which this server never grants.
  const scheme = /^(?:token|bearer)[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  if (scheme && tokensEqual(scheme[1], token)) return 'header';
  const query = url.searchParams.get('token');
  if (query !== null && tokensEqual(query, token)) return 'query';
  const cookie = parseCookies(req.headers.cookie).get(cookieName(port));
  if (cookie !== undefined && tokensEqual(cookie, token)) return 'cookie';
  return null;
}

export function tokenCookie(port: number, token: string): string {
  return `${cookieName(port)}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
}

/**
 * DNS rebinding guard for a loopback server: a page on evil.example that re-resolves to 127.0.0.1 sends
 * `Host: evil.example`. The token already stops it; this refuses it before any work is done.
 */
export function hostAllowed(hostHeader: string | undefined, boundHost: string): boolean {
  if (!isLoopback(boundHost)) return true;
  if (!hostHeader) return false;
  // The whole header must be a name and an optional port: `[::1]evil.example` is not `[::1]`.
  const m = /^(\[[0-9a-f:.]+\]|[^[\]:]+)(?::\d{1,5})?$/i.exec(hostHeader);
  return !!m && ['127.0.0.1', 'localhost', '[::1]'].includes(m[1].toLowerCase());
}

/**
 * Browsers say which page sent a request in `Origin` (on every cross-origin request and every POST);
 * anything but our own origin is another site, or another server on this machine, and is refused
 * whatever credentials it carries. No Origin: not a browser, or a same-origin GET or navigation.
 */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true;
  return !!hostHeader && origin.toLowerCase() === `http://${hostHeader.toLowerCase()}`;
}

/** The request's path and query; null when the request target is not a URL at all. */
export function requestUrl(target: string | undefined): URL | null {
  try {
    // A fixed base: the Host header is checked on its own, and a hostile one must not break parsing.
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host.startsWith('127.');
}
