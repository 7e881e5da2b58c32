// Preload for the sandboxed renderer (bundled into one file by launch.mjs: a sandboxed preload cannot
// load other files). It exposes the narrow bridge and nothing else.
import { createBridge } from './bridge.ts';
import type { IpcRendererLike } from './types.ts';

interface PreloadElectron {
  contextBridge: { exposeInMainWorld(key: string, api: unknown): void };
  ipcRenderer: IpcRendererLike;
}

// `require`, not `import`: Electron is not a dependency the type checker can see (see types.ts).
const { contextBridge, ipcRenderer } = require('electron') as PreloadElectron;
contextBridge.exposeInMainWorld('promptscope', createBridge(ipcRenderer));
