// Electron main process. It holds no notebook state: it forks the engine (the same server as
// `promptscope serve`) in a utility process, opens a sandboxed window on it, and answers a few IPC
// requests (open/new notebook dialogs). The security policy lives in security.ts, IPC checks in ipc.ts.
// Bundled to desktop/electron/dist/main.cjs by launch.mjs (Electron cannot run TypeScript itself).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { notebookFromArgv } from './argv.ts';
import { startEngine, type Engine, type ForkFn } from './server-process.ts';
import { registerIpc, type IpcHandlers } from './ipc.ts';
import { hardenContents, hardenSession, windowOptions } from './security.ts';
import type { IpcMainLike, SessionLike, WebContentsLike, WindowOptionsLike } from './types.ts';

interface WindowLike {
  loadURL(url: string): Promise<void>;
  once(event: 'ready-to-show', listener: () => void): void;
  on(event: 'closed', listener: () => void): void;
  show(): void;
  focus(): void;
  isMinimized(): boolean;
  restore(): void;
  webContents: WebContentsLike;
}
interface MenuItemLike {
  label?: string;
  role?: string;
  type?: 'separator';
  accelerator?: string;
  click?: () => void;
  submenu?: MenuItemLike[];
}
interface MainElectron {
  app: {
    whenReady(): Promise<void>;
    on(event: string, listener: (...args: never[]) => void): void;
    quit(): void;
    requestSingleInstanceLock(): boolean;
    getVersion(): string;
    getPath(name: 'documents'): string;
  };
  BrowserWindow: new (options: WindowOptionsLike) => WindowLike;
  ipcMain: IpcMainLike;
  dialog: {
    showOpenDialog(win: WindowLike | undefined, o: object): Promise<{ canceled: boolean; filePaths: string[] }>;
    showSaveDialog(win: WindowLike | undefined, o: object): Promise<{ canceled: boolean; filePath?: string }>;
    showErrorBox(title: string, content: string): void;
  };
  shell: { openExternal(url: string): Promise<void>; showItemInFolder(path: string): void };
  session: { defaultSession: SessionLike };
  utilityProcess: { fork: ForkFn };
  Menu: { buildFromTemplate(t: MenuItemLike[]): unknown; setApplicationMenu(m: unknown): void };
}

// `require`, not `import`: the electron package is optional and invisible to the type checker.
const { app, BrowserWindow, ipcMain, dialog, shell, session, utilityProcess, Menu } = require('electron') as MainElectron;

/** The app root: this file runs as <root>/desktop/electron/dist/main.cjs. */
const root = resolve(__dirname, '..', '..', '..');
const preload = join(__dirname, 'preload.cjs');
const NOTEBOOK_FILTERS = [{ name: 'Notebooks (Observable 2.0 HTML)', extensions: ['html'] }];

let engine: Engine | null = null;
let win: WindowLike | null = null;
let opening: string | null = null;
const origin = () => engine?.origin ?? 'null:';

async function openNotebook(path: string): Promise<void> {
  opening = path;
  let next: Engine;
  try {
    next = await startEngine(utilityProcess.fork, { root, notebookPath: resolve(path) });
  } catch (err) {
    dialog.showErrorBox('Promptscope could not open the notebook', `${path}\n\n${(err as Error).message}`);
    return;
  }
  if (opening !== path) return next.stop();
  engine?.stop();
  engine = next;
  next.onUnexpectedExit((code) => {
    if (engine !== next) return;
    dialog.showErrorBox('The Promptscope engine stopped', `It exited with code ${code} while running ${path}. Cached stages are kept; reopen the notebook to continue.`);
  });
  if (!win) {
    const w = new BrowserWindow(windowOptions(preload));
    w.once('ready-to-show', () => w.show());
    w.on('closed', () => (win = null));
    win = w;
  }
  await win.loadURL(next.url);
}

async function askForNotebook(): Promise<string | null> {
  const r = await dialog.showOpenDialog(win ?? undefined, { title: 'Open a notebook', properties: ['openFile'], filters: NOTEBOOK_FILTERS });
  return r.canceled || !r.filePaths[0] ? null : r.filePaths[0];
}

async function askForNewNotebook(name = 'untitled.html'): Promise<string | null> {
  const r = await dialog.showSaveDialog(win ?? undefined, { title: 'New notebook', defaultPath: join(app.getPath('documents'), name), filters: NOTEBOOK_FILTERS });
  return r.canceled || !r.filePath ? null : r.filePath;
}

const handlers: IpcHandlers = {
  async openNotebook() {
    const path = await askForNotebook();
    if (path) await openNotebook(path);
    return path;
  },
  async newNotebook(name) {
    const path = await askForNewNotebook(name);
    if (path) await openNotebook(path);
    return path;
  },
  async revealFile(path) {
    shell.showItemInFolder(path);
  },
  appInfo: () => ({ version: app.getVersion(), platform: process.platform, serverOrigin: origin() }),
};

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', ((_event: unknown, argv: string[]) => {
    const path = notebookFromArgv(argv);
    if (path) void openNotebook(path);
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  }) as (...args: never[]) => void);
  // macOS delivers file associations as an event, possibly before `ready`.
  let pendingOpen: string | null = null;
  app.on('open-file', ((event: { preventDefault(): void }, path: string) => {
    event.preventDefault();
    if (engine || win) void openNotebook(path);
    else pendingOpen = path;
  }) as (...args: never[]) => void);
  app.on('web-contents-created', ((_event: unknown, contents: WebContentsLike) => {
    hardenContents(contents, origin, (url) => void shell.openExternal(url));
  }) as (...args: never[]) => void);
  app.on('window-all-closed', () => {
    engine?.stop();
    app.quit();
  });

  void app.whenReady().then(async () => {
    hardenSession(session.defaultSession, origin);
    registerIpc(ipcMain, handlers, origin);
    Menu.setApplicationMenu(
      Menu.buildFromTemplate([
        {
          label: 'File',
          submenu: [
            { label: 'Open…', accelerator: 'CmdOrCtrl+O', click: () => void handlers.openNotebook() },
            { label: 'New…', accelerator: 'CmdOrCtrl+N', click: () => void handlers.newNotebook('untitled.html') },
            { type: 'separator' },
            { role: 'quit' },
          ],
        },
        { role: 'editMenu' },
        { label: 'View', submenu: [{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }] },
      ]),
    );
    const fromArgs = notebookFromArgv(process.argv, process.argv[1]);
    const path = pendingOpen ?? (fromArgs && existsSync(fromArgs) ? fromArgs : null) ?? (await askForNotebook());
    if (!path) return app.quit();
    await openNotebook(path);
  });
}
