// The desktop app's IPC: a handful of typed requests from the page to the main process. Every request
// is checked twice in main: it must come from our own engine page (not an injected frame), and its
// payload must have exactly the expected shape. A bad request is rejected with an error naming why.
import { isAppUrl } from './security.ts';
import type { IpcMainEventLike, IpcMainLike } from './types.ts';

export const CHANNELS = {
  openNotebook: 'promptscope:open-notebook',
  newNotebook: 'promptscope:new-notebook',
  revealFile: 'promptscope:reveal-file',
  appInfo: 'promptscope:app-info',
} as const;

export interface AppInfo {
  version: string;
  platform: string;
  /** The engine server's origin (no token). */
  serverOrigin: string;
}

/** What main does for each request; the dialogs and process handling live in main.ts. */
export interface IpcHandlers {
  /** Shows an Open dialog; switches the window to the chosen notebook. Returns its path, or null if cancelled. */
  openNotebook(): Promise<string | null>;
  /** Shows a Save dialog for a new notebook (suggested file name); opens it. Returns its path or null. */
  newNotebook(suggestedName: string): Promise<string | null>;
  /** Shows a file in the system file manager. */
  revealFile(path: string): Promise<void>;
  appInfo(): AppInfo;
}

export class IpcPayloadError extends Error {
  constructor(channel: string, why: string) {
    super(`${channel}: ${why}`);
    this.name = 'IpcPayloadError';
  }
}

export function expectNoArgs(channel: string, args: unknown[]): void {
  if (args.length !== 0) throw new IpcPayloadError(channel, `takes no arguments, got ${args.length}`);
}

/** A notebook file name: no directories, no control characters, ends in .html. */
export function validateSuggestedName(channel: string, args: unknown[]): string {
  if (args.length !== 1) throw new IpcPayloadError(channel, `takes one argument (a file name), got ${args.length}`);
  const name = args[0];
  if (typeof name !== 'string') throw new IpcPayloadError(channel, `file name must be a string, got ${typeof name}`);
  if (!name || name.length > 200) throw new IpcPayloadError(channel, 'file name must be 1 to 200 characters');
  if (/[\\/\u0000-\u001f]/.test(name) || name === '.' || name === '..') throw new IpcPayloadError(channel, `"${name}" is not a plain file name`);
  return /\.html?$/i.test(name) ? name : `${name}.html`;
}

/** An absolute path (POSIX or Windows), bounded, without NUL. */
export function validateAbsolutePath(channel: string, args: unknown[]): string {
  if (args.length !== 1) throw new IpcPayloadError(channel, `takes one argument (a path), got ${args.length}`);
  const path = args[0];
  if (typeof path !== 'string') throw new IpcPayloadError(channel, `path must be a string, got ${typeof path}`);
  if (path.length > 4096 || path.includes('\u0000')) throw new IpcPayloadError(channel, 'path is too long or contains NUL');
  if (!path.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(path)) throw new IpcPayloadError(channel, `path must be absolute, got "${path}"`);
  return path;
}

export function checkSender(channel: string, event: IpcMainEventLike, origin: string): void {
  const url = event.senderFrame?.url ?? '';
  if (!isAppUrl(url, origin)) throw new IpcPayloadError(channel, `refused a request from ${url || 'an unknown frame'}`);
}

/** Registers every channel on ipcMain; `origin()` is the current engine origin (it changes on Open). */
export function registerIpc(ipcMain: IpcMainLike, handlers: IpcHandlers, origin: () => string): void {
  const on = (channel: string, fn: (args: unknown[]) => unknown) =>
    ipcMain.handle(channel, (event, ...args) => {
      checkSender(channel, event, origin());
      return fn(args);
    });
  on(CHANNELS.openNotebook, (args) => (expectNoArgs(CHANNELS.openNotebook, args), handlers.openNotebook()));
  on(CHANNELS.newNotebook, (args) => handlers.newNotebook(validateSuggestedName(CHANNELS.newNotebook, args)));
  on(CHANNELS.revealFile, (args) => handlers.revealFile(validateAbsolutePath(CHANNELS.revealFile, args)));
  on(CHANNELS.appInfo, (args) => (expectNoArgs(CHANNELS.appInfo, args), handlers.appInfo()));
}
