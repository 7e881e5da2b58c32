// Every security decision of the desktop window in one plain module, so tests can assert it without
// Electron: the renderer is a sandboxed web page with no Node, it may only talk to our own engine server
// (no remote content), it cannot navigate away or open windows, and it is granted no permissions.
// Links a notebook's Markdown contains open in the user's browser, never inside the app.
import type { SessionLike, WebContentsLike, WebPreferencesLike, WindowOptionsLike } from './types.ts';

export function webPreferences(preload: string): WebPreferencesLike {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  };
}

export function windowOptions(preload: string): WindowOptionsLike {
  return {
    width: 1280,
    height: 900,
    minWidth: 720,
    minHeight: 480,
    // Shown once the page has painted, so the user never sees a white flash.
    show: false,
    title: 'Promptscope',
    backgroundColor: '#f6f7f9',
    webPreferences: webPreferences(preload),
  };
}

/** The engine server's origin, e.g. http://127.0.0.1:41234 (loopback only). */
export function engineOrigin(serverUrl: string): string {
  const u = new URL(serverUrl);
  if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    throw new Error(`refusing to load ${u.origin}: the desktop app only loads its own engine on loopback`);
  }
  return u.origin;
}

/** True for URLs of our own engine server. */
export function isAppUrl(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}

/** Requests the renderer may make: the engine server, inline data (images), devtools internals. */
export function isAllowedRequest(url: string, origin: string): boolean {
  if (isAppUrl(url, origin)) return true;
  return /^(data:|devtools:|chrome-extension:\/\/devtools)/.test(url);
}

/** Links opened outside the app (in the user's browser): http(s) and mailto only. */
export function isExternalLink(url: string): boolean {
  return /^(https?:|mailto:)/i.test(url);
}

export function hardenContents(contents: WebContentsLike, origin: () => string, openExternal: (url: string) => void): void {
  const guard = (event: { preventDefault(): void }, url: string) => {
    // A reload of our own page is fine; anything else would replace the app with someone's page.
    if (isAppUrl(url, origin())) return;
    event.preventDefault();
    if (isExternalLink(url)) openExternal(url);
  };
  contents.on('will-navigate', guard);
  contents.on('will-redirect', guard);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Our own pages never leave the app (in a browser they would lack the session cookie anyway).
    if (isExternalLink(url) && !isAppUrl(url, origin())) openExternal(url);
    return { action: 'deny' };
  });
}

export function hardenSession(session: SessionLike, origin: () => string): void {
  // The notebook UI needs no camera, notifications, geolocation, clipboard-read, …
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isAllowedRequest(details.url, origin()) }));
}
