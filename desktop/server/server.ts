// `promptscope serve` and the desktop app's engine process: one notebook over HTTP on loopback.
// JSON for requests, Server-Sent Events for cell states and the kernel's state; the UI bundle is served
// from desktop/ui/dist (built on demand). Every request needs the token; see auth.ts for how it travels.
// The cells run in a kernel process (host.ts, kernel.ts), so this process starts listening, and keeps
// answering, whatever the cells do. Wire types: desktop/protocol.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cache } from '../../cells/exec/cache.ts';
import { TrustStore } from '../../cells/engine/trust.ts';
import type { ActionReplies, RunSettings, ServerEvent } from '../protocol.ts';
import { authenticate, hostAllowed, isLoopback, newToken, originAllowed, requestUrl, tokenCookie, TOKEN_HEADER } from './auth.ts';
import { NotebookHost } from './host.ts';
import * as v from './validate.ts';

export interface ServerOptions {
  /** The notebook file; a path that does not exist yet starts a new notebook saved there. */
  notebookPath: string;
  cache: Cache;
  /**
   * The kernel's entry module. Default: desktop/kernel/kernel-process.ts, whose cells see cells/library.ts;
   * `promptscope serve` passes its bundled build when fresh (bin/build.mjs); tests fork
   * test/desktop/test-kernel.ts, which serves a small library.
   */
  kernelEntry?: string;
  /** Extra Node flags for the kernel process, e.g. `--max-old-space-size=8192`. */
  kernelExecArgv?: string[];
  /** Where heavy stages run until the UI's run settings change it (default: local). */
  run?: RunSettings;
  /** Default 127.0.0.1. Anything else exposes the notebook (and its code execution) to the network. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default: 24 random bytes. */
  token?: string;
  /** The user's trust store, or its file path (tests use a temp file). Default: the per-user store. */
  trustStore?: TrustStore | string;
}

export interface RunningServer {
  /** Open this: it carries the token (`http://127.0.0.1:PORT/?token=…`). */
  url: string;
  host: string;
  port: number;
  token: string;
  /** The open notebook (tests inspect it; the CLI does not need it). */
  notebook: NotebookHost;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;
const MAX_ROWS_PER_REQUEST = 1000;
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** The page's Content-Security-Policy: only our own script, no inline script, no remote anything. */
export function contentSecurityPolicy(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    // CodeMirror adds its theme as <style> elements; they carry the per-page nonce.
    `style-src 'self' 'nonce-${styleNonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    process.stderr.write(`warning: serving on ${host}: anyone who can reach this address and has the token can run code as you. Prefer 127.0.0.1 and an SSH tunnel.\n`);
  }
  const token = options.token ?? newToken();
  const trustStore = options.trustStore instanceof TrustStore ? options.trustStore : new TrustStore(options.trustStore);
  const nb = await NotebookHost.open({
    notebookPath: options.notebookPath,
    cache: options.cache,
    kernelEntry: options.kernelEntry,
    trustStore,
    kernelExecArgv: options.kernelExecArgv,
    run: options.run,
  });
  const uiDir = await uiBundle();
  const streams = new Set<ServerResponse>();
  let port = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof v.BadRequest) return sendJson(res, err.status, { error: err.message });
      process.stderr.write(`promptscope serve: ${(err as Error)?.stack ?? String(err)}\n`);
      sendJson(res, 500, { error: `internal error: ${(err as Error)?.message ?? String(err)}` });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    if (!hostAllowed(req.headers.host, host)) return sendJson(res, 403, { error: 'forbidden: unexpected Host header' });
    const url = requestUrl(req.url);
    if (!url) return sendJson(res, 400, { error: 'bad request: the request target is not a URL' });
    if (!originAllowed(req.headers.origin, req.headers.host)) return sendJson(res, 403, { error: `forbidden: cross-origin request from ${req.headers.origin}` });
    const how = authenticate(req, url, token, port);
    if (!how) return sendJson(res, 403, { error: 'forbidden: open the URL with ?token=… that `promptscope serve` printed' });
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      // A cookie reaches us from any page on this host; a custom header only from our own page.
      if (how !== 'header') return sendJson(res, 403, { error: `forbidden: POST requests must send the ${TOKEN_HEADER} header` });
      if (Number(req.headers['content-length']) > MAX_BODY) {
        res.setHeader('Connection', 'close');
        return sendJson(res, 413, { error: `request body is over ${MAX_BODY} bytes` });
      }
      const body = await readJson(req);
      return sendJson(res, 200, await post(url.pathname, body));
    }
    if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { error: `method ${method} not allowed` });

    if (url.pathname === '/' || url.pathname === '/index.html') {
      if (how === 'query') {
        // Swap the token in the address bar for a cookie, so it does not linger in history or screenshots.
        res.setHeader('Set-Cookie', tokenCookie(port, token));
        res.writeHead(302, { Location: '/' });
        return void res.end();
      }
      return sendPage(res);
    }
    if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
    if (url.pathname === '/api/notebook') return sendJson(res, 200, nb.view());
    if (url.pathname === '/api/events') return openStream(res);
    if (url.pathname === '/api/table') {
      const handle = url.searchParams.get('handle') ?? '';
      if (!/^t\d+$/.test(handle)) throw new v.BadRequest(`table: "handle" must look like t12, got ${JSON.stringify(handle)}`);
      const offset = v.queryInt(url, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
      const limit = v.queryInt(url, 'limit', 1, MAX_ROWS_PER_REQUEST, 100);
      return sendJson(res, 200, await nb.tableRows(handle, offset, limit));
    }
    if (url.pathname === '/api/cache') return sendJson(res, 200, await nb.cacheInfo());
    const file = /^\/(app\.js|app\.js\.map|style\.css|app\.js\.LEGAL\.txt)$/.exec(url.pathname)?.[1];
    if (file) {
      const data = await readFile(join(uiDir, file)).catch(() => null);
      if (!data) return sendJson(res, 404, { error: `${file} is missing from the UI bundle; rebuild it with node desktop/ui/build.mjs` });
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      return void res.end(data);
    }
    sendJson(res, 404, { error: `no such path ${url.pathname}` });
  }

  async function post(path: string, raw: unknown): Promise<ActionReplies[keyof ActionReplies]> {
    const body = v.asObject(raw ?? {}, path);
    switch (path) {
      case '/api/cell/edit': {
        await nb.edit(v.cellId(body, 'edit cell'), v.string(body, 'edit cell', 'value'));
        return { ok: true };
      }
      case '/api/cell/add': {
        const id = await nb.add(v.mode(body, 'add cell'), body.value === undefined ? '' : v.string(body, 'add cell', 'value'), v.optionalCellId(body, 'add cell', 'after'), v.optionalName(body, 'add cell', 'output'));
        return { ok: true, id };
      }
      case '/api/cell/remove':
        await nb.remove(v.cellId(body, 'remove cell'));
        return { ok: true };
      case '/api/cell/run':
        await nb.runCell(v.cellId(body, 'run cell'));
        return { ok: true };
      case '/api/cell/cancel':
        return { ok: true, ...(await nb.cancel(v.cellId(body, 'cancel cell'))) };
      case '/api/run-all':
        await nb.runAll();
        return { ok: true };
      case '/api/interrupt':
        return { ok: true, ...(await nb.interrupt()) };
      case '/api/restart':
        await nb.restart();
        return { ok: true };
      case '/api/input': {
        const name = v.string(body, 'set input', 'name', 200);
        await nb.setInput(name, v.has(body, `set input ${name}`, 'value'));
        return { ok: true };
      }
      case '/api/save':
        return { ok: true, ...(await nb.save(v.boolean(body, 'save', 'force', false))) };
      case '/api/trust':
        await nb.trust();
        return { ok: true };
      case '/api/cache/clear':
        await nb.clearCache();
        return { ok: true, cache: await nb.cacheInfo() };
      case '/api/run-settings': {
        const run = v.runSettings(body);
        await nb.setRunSettings(run);
        return { ok: true, run };
      }
      default:
        throw new v.BadRequest(`no such action ${path}`, 404);
    }
  }

  async function sendPage(res: ServerResponse): Promise<void> {
    const nonce = randomBytes(16).toString('base64');
    const template = await readFile(join(uiDir, 'index.html'), 'utf8');
    // The page reads the token (for its POST header) and the style nonce (for CodeMirror) from meta tags.
    const page = template.replace('{{TOKEN}}', token).replace('{{STYLE_NONCE}}', nonce);
    res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Content-Security-Policy': contentSecurityPolicy(nonce) });
    res.end(page);
  }

  function openStream(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
    const send = (e: ServerEvent) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    send({ type: 'hello', notebook: nb.view() });
    const off = nb.on(send);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    streams.add(res);
    // The response's close is the connection's end (the request's fires once its body is read).
    res.on('close', () => {
      off();
      clearInterval(ping);
      streams.delete(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    host,
    port,
    token,
    notebook: nb,
    async close() {
      await nb.dispose();
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The UI bundle's directory. In a checkout (sources present) it is rebuilt when missing or stale — a
 * fresh clone needs no separate build step; a packaged app ships only the built bundle, and esbuild
 * (a dev dependency) is then never loaded. This is the server's one edge to desktop/ui: the build step
 * (ui/build.mjs, the bundler script), never the UI's code, which the server only serves as files.
 */
async function uiBundle(): Promise<string> {
  const dist = fileURLToPath(new URL('../ui/dist/', import.meta.url));
  if (!existsSync(fileURLToPath(new URL('../ui/src/app.ts', import.meta.url)))) {
    if (!existsSync(join(dist, 'app.js'))) throw new Error(`the UI bundle is missing from ${dist}; reinstall Promptscope`);
    return dist;
  }
  const { ensureUi } = await import('../ui/build.mjs');
  return ensureUi();
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new v.BadRequest(`request body is over ${MAX_BODY} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new v.BadRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
