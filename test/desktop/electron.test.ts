// The Electron side without Electron's binary: the security options, navigation/new-window/permission
// guards, IPC validation, the preload bridge, the engine launcher, `npm start`'s message when the binary
// is missing, and the bundled main.cjs itself run against a fake `electron` module (the engine process
// really starts and the window really loads the UI from it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notebookFromArgv } from '../../desktop/electron/argv.ts';
import { createBridge } from '../../desktop/electron/bridge.ts';
import { engineCommand, startEngine, type ForkFn } from '../../desktop/electron/server-process.ts';
import { CHANNELS, registerIpc, type IpcHandlers } from '../../desktop/electron/ipc.ts';
import { engineOrigin, hardenContents, hardenSession, isAllowedRequest, webPreferences, windowOptions } from '../../desktop/electron/security.ts';
import type { EngineProcessLike, IpcMainEventLike } from '../../desktop/electron/types.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ORIGIN = 'http://127.0.0.1:4567';

test('window options: isolated, sandboxed, no Node, web security on', () => {
  const w = windowOptions('/app/preload.cjs');
  assert.equal(w.show, false);
  assert.deepEqual(w.webPreferences, webPreferences('/app/preload.cjs'));
  const p = w.webPreferences;
  assert.equal(p.preload, '/app/preload.cjs');
  assert.equal(p.contextIsolation, true);
  assert.equal(p.sandbox, true);
  assert.equal(p.nodeIntegration, false);
  assert.equal(p.nodeIntegrationInWorker, false);
  assert.equal(p.nodeIntegrationInSubFrames, false);
  assert.equal(p.webSecurity, true);
  assert.equal(p.allowRunningInsecureContent, false);
  assert.equal(p.webviewTag, false);
});

test('only the loopback engine is ever loaded; requests elsewhere are cancelled', () => {
  assert.equal(engineOrigin('http://127.0.0.1:4567/?token=abc'), ORIGIN);
  assert.throws(() => engineOrigin('http://example.com:4567/'), /only loads its own engine on loopback/);
  assert.throws(() => engineOrigin('https://127.0.0.1:4567/'), /loopback/);
  assert.ok(isAllowedRequest(`${ORIGIN}/app.js`, ORIGIN));
  assert.ok(isAllowedRequest('data:image/png;base64,AAAA', ORIGIN));
  for (const url of ['https://cdn.example.com/vega.js', 'http://127.0.0.1:9999/', 'file:///etc/passwd', 'ws://127.0.0.1:4567/']) {
    assert.ok(!isAllowedRequest(url, ORIGIN), url);
  }
});

test('navigation, new windows, webviews and permissions are blocked; external links go to the browser', async () => {
  const contents = new EventEmitter() as EventEmitter & { handler?: (d: { url: string }) => { action: string }; setWindowOpenHandler(h: (d: { url: string }) => { action: 'deny' | 'allow' }): void };
  contents.setWindowOpenHandler = (h) => (contents.handler = h);
  const opened: string[] = [];
  hardenContents(contents as never, () => ORIGIN, (url) => opened.push(url));
  const navigate = (event: string, url: string) => {
    let prevented = false;
    contents.emit(event, { preventDefault: () => (prevented = true) }, url);
    return prevented;
  };
  assert.equal(navigate('will-navigate', `${ORIGIN}/`), false, 'reloading our own page is allowed');
  assert.equal(navigate('will-navigate', 'https://example.com/'), true);
  assert.equal(navigate('will-redirect', 'file:///etc/passwd'), true);
  assert.equal(navigate('will-navigate', 'javascript:alert(1)'), true);
  assert.equal(navigate('will-attach-webview', ''), true);
  assert.deepEqual(contents.handler!({ url: 'https://example.com/paper' }), { action: 'deny' });
  assert.deepEqual(contents.handler!({ url: `${ORIGIN}/` }), { action: 'deny' });
  assert.deepEqual(opened, ['https://example.com/', 'https://example.com/paper'], 'http(s) links open in the user browser, nothing else');

  const s: Record<string, (...a: never[]) => unknown> = {};
  hardenSession(
    {
      setPermissionRequestHandler: (h) => (s.request = h as never),
      setPermissionCheckHandler: (h) => (s.check = h as never),
      webRequest: { onBeforeRequest: (h) => (s.before = h as never) },
    },
    () => ORIGIN,
  );
  const granted = await new Promise((r) => (s.request as (c: unknown, p: string, cb: (g: boolean) => void) => void)(null, 'notifications', r));
  assert.equal(granted, false);
  assert.equal((s.check as (c: unknown, p: string) => boolean)(null, 'clipboard-read'), false);
  const cancel = (url: string) => new Promise((r) => (s.before as (d: { url: string }, cb: (o: { cancel: boolean }) => void) => void)({ url }, (o) => r(o.cancel)));
  assert.equal(await cancel('https://example.com/track.gif'), true);
  assert.equal(await cancel(`${ORIGIN}/api/events`), false);
});

test('IPC: every payload and sender is validated before a handler runs', async () => {
  const registered = new Map<string, (e: IpcMainEventLike, ...a: unknown[]) => unknown>();
  const calls: [string, unknown][] = [];
  const handlers: IpcHandlers = {
    openNotebook: async () => (calls.push(['open', null]), '/x.html'),
    newNotebook: async (name) => (calls.push(['new', name]), null),
    revealFile: async (path) => void calls.push(['reveal', path]),
    appInfo: () => ({ version: '1', platform: 'linux', serverOrigin: ORIGIN }),
  };
  registerIpc({ handle: (c, fn) => registered.set(c, fn) }, handlers, () => ORIGIN);
  assert.deepEqual([...registered.keys()].sort(), Object.values(CHANNELS).sort());
  const page = { senderFrame: { url: `${ORIGIN}/` } };
  const invoke = async (channel: string, event: IpcMainEventLike, ...args: unknown[]) => registered.get(channel)!(event, ...args);

  await assert.rejects(invoke(CHANNELS.appInfo, { senderFrame: { url: 'https://evil.example/' } }), /refused a request from https:\/\/evil.example/);
  await assert.rejects(invoke(CHANNELS.appInfo, { senderFrame: null }), /unknown frame/);
  assert.throws(() => registered.get(CHANNELS.openNotebook)!(page, 'extra'), /takes no arguments/);
  for (const bad of [[], [42], ['../etc/passwd'], ['a/b.html'], ['x'.repeat(300)], ['nul\u0000.html'], ['.'], ['a', 'b']]) {
    assert.throws(() => registered.get(CHANNELS.newNotebook)!(page, ...bad), /promptscope:new-notebook/, JSON.stringify(bad));
  }
  for (const bad of [['relative/path.html'], [{}], ['/a\u0000b'], []]) {
    assert.throws(() => registered.get(CHANNELS.revealFile)!(page, ...bad), /promptscope:reveal-file/, JSON.stringify(bad));
  }
  assert.equal(calls.length, 0, 'no handler ran for a rejected request');
  await invoke(CHANNELS.newNotebook, page, 'experiment');
  await invoke(CHANNELS.revealFile, page, 'C:\\Users\\me\\nb.html');
  assert.equal(await invoke(CHANNELS.openNotebook, page), '/x.html');
  assert.deepEqual(calls, [['new', 'experiment.html'], ['reveal', 'C:\\Users\\me\\nb.html'], ['open', null]]);
});

test('the preload bridge exposes four typed functions, frozen, each one IPC request', async () => {
  const sent: unknown[][] = [];
  const bridge = createBridge({ invoke: async (...a: unknown[]) => (sent.push(a), null) });
  assert.deepEqual(Object.keys(bridge).sort(), ['appInfo', 'newNotebook', 'openNotebook', 'revealFile']);
  assert.ok(Object.isFrozen(bridge));
  await bridge.openNotebook();
  await bridge.newNotebook('a.html');
  await assert.rejects(bridge.newNotebook(5 as unknown as string), /must be a string/);
  assert.deepEqual(sent, [[CHANNELS.openNotebook], [CHANNELS.newNotebook, 'a.html']]);
});

test('the notebook to open comes from argv (.html, not flags or the main script)', () => {
  assert.equal(notebookFromArgv(['electron', 'main.cjs', '/n/a.html'], 'main.cjs'), '/n/a.html');
  assert.equal(notebookFromArgv(['Promptscope', '--no-sandbox', 'B.HTML']), 'B.HTML');
  assert.equal(notebookFromArgv(['electron', 'main.cjs', '--inspect'], 'main.cjs'), null);
});

test('the engine launcher waits for ready, refuses a non-loopback URL and reports early exits', async () => {
  const fake = () => {
    const child = new EventEmitter() as EventEmitter & EngineProcessLike & { killed?: boolean };
    child.kill = () => ((child.killed = true), true);
    return child;
  };
  let child = fake();
  let seen: Parameters<ForkFn> | null = null;
  const forkFn: ForkFn = (...a) => ((seen = a), child);
  const ready = startEngine(forkFn, { root: '/app', notebookPath: '/n/a.html', cacheDir: '/c' });
  child.emit('message', { type: 'ready', url: `${ORIGIN}/?token=t` });
  const engine = await ready;
  assert.equal(engine.origin, ORIGIN);
  const exits: (number | null)[] = [];
  engine.onUnexpectedExit((code) => exits.push(code));
  child.emit('exit', 137);
  assert.deepEqual(exits, [137], 'a crash after ready is reported');
  // The launcher that picks the bundle or the sources (bin/engine.mjs), with no tsx loader flag.
  assert.deepEqual(seen![0], join('/app', 'bin', 'engine.mjs'));
  assert.deepEqual(seen![1], ['/n/a.html', '--cache', '/c']);
  assert.deepEqual(seen![2].execArgv, []);
  assert.equal(engineCommand({ root: '/app', notebookPath: '/n' }).cwd, '/app');

  child = fake();
  const stoppedEngine = startEngine(forkFn, { root: '/app', notebookPath: '/n/a.html' });
  child.emit('message', { type: 'ready', url: `${ORIGIN}/` });
  const quiet = await stoppedEngine;
  quiet.onUnexpectedExit(() => assert.fail('stop() is not a crash'));
  quiet.stop();
  assert.equal(child.killed, true);
  child.emit('exit', null);

  child = fake();
  const remote = startEngine(forkFn, { root: '/app', notebookPath: '/n/a.html' });
  child.emit('message', { type: 'ready', url: 'http://evil.example:80/' });
  await assert.rejects(remote, /loopback/);
  assert.equal(child.killed, true);

  child = fake();
  const dies = startEngine(forkFn, { root: '/app', notebookPath: '/n/a.html' });
  child.emit('exit', 3);
  await assert.rejects(dies, /exited \(code 3\)/);
});

// The processes whose parent is `pid`, with their command lines (Linux /proc). tsx's esbuild service is left
// out: an engine run through tsx starts one beside its kernel.
function childrenOf(pid: number): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const ppid = Number(/\nPPid:\s+(\d+)/.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      if (ppid !== pid) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (!/esbuild\S* --service/.test(cmdline)) out.push({ pid: Number(name), cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('the engine runs from the bundle, as promptscope serve does: no tsx, and the bundled kernel', { skip: !existsSync('/proc/self/status') && 'needs /proc' }, async (t) => {
  const build = spawnSync(process.execPath, ['bin/build.mjs', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'promptscope-engine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const children: ReturnType<typeof fork>[] = [];
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));
  // Electron's utilityProcess.fork, played by Node's; PROMPTSCOPE_BUNDLE=require fails rather than fall back to tsx.
  const forkWith = (bundle: string): ForkFn => (modulePath, args, options) => {
    const child = fork(modulePath, args, { cwd: options.cwd, execArgv: options.execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'], env: { ...process.env, PROMPTSCOPE_BUNDLE: bundle, PROMPTSCOPE_TRUST_STORE: join(dir, 'trusted.json') } });
    children.push(child);
    return child;
  };
  // A notebook that does not exist yet opens as a new, trusted one: its kernel starts at once.
  const engine = await startEngine(forkWith('require'), { root: ROOT, notebookPath: join(dir, 'new.html'), cacheDir: join(dir, 'cache'), timeoutMs: 60_000 });
  t.after(() => engine.stop());
  const enginePid = children[0].pid!;
  assert.doesNotMatch(childrenOf(process.pid).find((c) => c.pid === enginePid)!.cmdline, /tsx/);
  let kernel: { cmdline: string } | undefined;
  for (let i = 0; i < 300 && !kernel; i++) {
    kernel = childrenOf(enginePid)[0];
    if (!kernel) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(kernel, 'the engine forked a kernel');
  assert.match(kernel.cmdline, /bin\/dist\/kernel-[\w-]+\.mjs/, 'the bundled kernel');
  assert.doesNotMatch(kernel.cmdline, /tsx/);

  // Without the bundle (PROMPTSCOPE_BUNDLE=off, as with edited sources) the same launcher runs the sources
  // through tsx, registered by itself, and the kernel's TypeScript.
  const fallback = await startEngine(forkWith('off'), { root: ROOT, notebookPath: join(dir, 'other.html'), cacheDir: join(dir, 'cache'), timeoutMs: 120_000 });
  t.after(() => fallback.stop());
  let tsKernel: { cmdline: string } | undefined;
  for (let i = 0; i < 300 && !tsKernel; i++) {
    tsKernel = childrenOf(children[1].pid!)[0];
    if (!tsKernel) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(tsKernel, 'the engine forked a kernel');
  assert.match(tsKernel.cmdline, /--import \S*tsx\S* \S*desktop\/kernel\/kernel-process\.ts/);

  // The same modes as the CLI's: an unknown one is refused before anything loads.
  const refused = forkWith('yes')(join(ROOT, 'bin/engine.mjs'), [join(dir, 'x.html')], { cwd: ROOT, execArgv: [], serviceName: 'x', stdio: 'inherit' }) as ReturnType<typeof fork>;
  let stderr = '';
  refused.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => refused.once('exit', r));
  assert.equal(code, 2);
  assert.match(stderr, /PROMPTSCOPE_BUNDLE="yes" is not one of auto, off, require/);
});

test('npm start without the Electron binary explains and points to promptscope serve', () => {
  // A binary path that does not exist stands for "no binary", whether or not the electron package downloaded one here.
  const missing = join(tmpdir(), 'promptscope-no-electron', 'electron');
  const r = spawnSync(process.execPath, [join(ROOT, 'desktop/electron/launch.mjs')], { encoding: 'utf8', env: { ...process.env, PROMPTSCOPE_ELECTRON: missing } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Electron's binary is not available \(PROMPTSCOPE_ELECTRON=.* does not exist\)/);
  assert.match(r.stderr, /promptscope serve/);
});

test('the bundled main process, on a fake electron: engine forked, window loads the UI, guards in place', async () => {
  const build = spawnSync(process.execPath, [join(ROOT, 'desktop/electron/launch.mjs'), '--build-only'], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'promptscope-electron-'));
  const nb = join(dir, 'demo.html');
  copyFileSync(fileURLToPath(new URL('./fixtures/demo.html', import.meta.url)), nb);
  const child = fork(join(ROOT, 'desktop/electron/dist/main.cjs'), [nb], {
    execArgv: ['-r', fileURLToPath(new URL('./fixtures/fake-electron.cjs', import.meta.url))],
    env: { ...process.env, PROMPTSCOPE_TRUST_STORE: join(dir, 'trusted.json'), PROMPTSCOPE_CACHE: join(dir, 'cache') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const msg = await new Promise<{ type: string; message?: string; record?: Record<string, never> }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('main.cjs did not load the window within 90 s')), 90_000);
      child.once('message', (m) => (clearTimeout(timer), resolve(m as never)));
      child.once('exit', (code) => reject(new Error(`main.cjs exited with ${code}`)));
    });
    assert.equal(msg.type, 'loaded', msg.message);
    const r = msg.record as unknown as {
      windows: { options: { webPreferences: Record<string, unknown> }; url: string; status: number; pageStatus: number; csp: string }[];
      ipc: string[];
      engines: { modulePath: string; execArgv: string[] }[];
      contents: Record<string, unknown>[];
      session: Record<string, unknown>;
      foreignIpc: string;
      appInfo: { serverOrigin: string };
    };
    assert.equal(r.windows.length, 1);
    const w = r.windows[0];
    assert.deepEqual(w.options.webPreferences, { ...webPreferences(join(ROOT, 'desktop/electron/dist/preload.cjs')) });
    assert.match(w.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    assert.equal(w.status, 302);
    assert.equal(w.pageStatus, 200);
    assert.match(w.csp, /script-src 'self'/);
    assert.equal(r.engines[0].modulePath, join(ROOT, 'bin/engine.mjs'));
    assert.deepEqual(r.ipc.sort(), Object.values(CHANNELS).sort());
    assert.deepEqual(r.contents[0], { navigateAway: true, navigateFile: true, navigateSelf: false, webview: true, openWindow: { action: 'deny' } });
    assert.deepEqual(r.session, { remoteCancelled: true, ownCancelled: false, permission: false });
    assert.match(r.foreignIpc, /refused a request/);
    assert.equal(r.appInfo.serverOrigin, new URL(w.url).origin);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.connected) child.send('close-window');
      else child.kill();
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
