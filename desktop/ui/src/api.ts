// The UI's only channel to the engine: JSON requests with the token header, and one event stream.
import type { CellView, HostEvent, NotebookView } from '../../server/host.ts';
import type { CellMode } from '../../../cells/engine/notebook.ts';

export type { CellView, NotebookView, HostEvent };

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

export const token = meta('promptscope-token');
export const styleNonce = meta('promptscope-style-nonce');

export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { 'X-Promptscope-Token': token, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(data.error ?? `${method} ${path} failed with HTTP ${res.status}`, res.status);
  return data as T;
}

export interface CacheInfo {
  root: string;
  entries: number;
  bytes: number;
  stages: { stage: string; entries: number; bytes: number }[];
}

export const api = {
  notebook: () => call<NotebookView>('GET', '/api/notebook'),
  edit: (id: number, value: string) => call('POST', '/api/cell/edit', { id, value }),
  add: (mode: CellMode, value: string, after?: number) => call<{ id: number }>('POST', '/api/cell/add', { mode, value, after }),
  remove: (id: number) => call('POST', '/api/cell/remove', { id }),
  run: (id: number) => call('POST', '/api/cell/run', { id }),
  cancel: (id: number) => call('POST', '/api/cell/cancel', { id }),
  runAll: () => call('POST', '/api/run-all', {}),
  restart: () => call('POST', '/api/restart', {}),
  setInput: (name: string, value: unknown) => call('POST', '/api/input', { name, value }),
  save: (force = false) => call<{ path: string; bytes: number }>('POST', '/api/save', { force }),
  trust: () => call('POST', '/api/trust', {}),
  cache: () => call<CacheInfo>('GET', '/api/cache'),
  clearCache: () => call<{ cache: CacheInfo }>('POST', '/api/cache/clear', {}),
  rows: (handle: string, offset: number, limit: number) =>
    call<{ numRows: number; offset: number; rows: unknown[][] }>('GET', `/api/table?handle=${encodeURIComponent(handle)}&offset=${offset}&limit=${limit}`),
};

/** Subscribes to engine events; EventSource reconnects by itself and the server re-sends a snapshot. */
export function events(onEvent: (e: HostEvent | { type: 'hello'; notebook: NotebookView }) => void, onState: (connected: boolean) => void): EventSource {
  const source = new EventSource('/api/events');
  for (const type of ['hello', 'cell', 'notebook', 'log']) {
    source.addEventListener(type, (ev) => onEvent(JSON.parse((ev as MessageEvent<string>).data) as HostEvent));
  }
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return source;
}
