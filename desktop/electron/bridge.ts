// What the preload script exposes to the page as `window.promptscope`: a few typed functions, each one
// IPC request with a checked argument. The page gets no ipcRenderer, no Node, no generic "send".
import { CHANNELS, type AppInfo } from './ipc.ts';
import type { IpcRendererLike } from './types.ts';

export interface DesktopBridge {
  openNotebook(): Promise<string | null>;
  newNotebook(suggestedName: string): Promise<string | null>;
  revealFile(path: string): Promise<void>;
  appInfo(): Promise<AppInfo>;
}

export function createBridge(ipc: IpcRendererLike): DesktopBridge {
  return Object.freeze({
    openNotebook: () => ipc.invoke(CHANNELS.openNotebook) as Promise<string | null>,
    newNotebook: (suggestedName: string) => {
      // Checked here too so a page bug fails in the page, with a stack; main checks again regardless.
      if (typeof suggestedName !== 'string') return Promise.reject(new TypeError('newNotebook(name): name must be a string'));
      return ipc.invoke(CHANNELS.newNotebook, suggestedName) as Promise<string | null>;
    },
    revealFile: (path: string) => {
      if (typeof path !== 'string') return Promise.reject(new TypeError('revealFile(path): path must be a string'));
      return ipc.invoke(CHANNELS.revealFile, path) as Promise<void>;
    },
    appInfo: () => ipc.invoke(CHANNELS.appInfo) as Promise<AppInfo>,
  });
}
