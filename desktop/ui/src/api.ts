// The UI's only channel to the engine: JSON requests with the token header, and one event stream. The
// wire types are desktop/protocol.ts's, shared with the server (the UI imports no server code).
import type { ActionReplies, CacheInfo, CellMode, NotebookView, RunSettings, ServerEvent, TableRows } from '../../protocol.ts';

export type { CacheInfo, CellSource, CellView, KernelView, NotebookView, RunSettings, ServerEvent } from '../../protocol.ts';

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

const act = <P extends keyof ActionReplies>(path: P, body: unknown) => call<ActionReplies[P]>('POST', path, body);

export const api = {
  notebook: () => call<NotebookView>('GET', '/api/notebook'),
  edit: (id: number, value: string) => act('/api/cell/edit', { id, value }),
  add: (mode: CellMode, value: string, after?: number) => act('/api/cell/add', { mode, value, after }),
  remove: (id: number) => act('/api/cell/remove', { id }),
  run: (id: number) => act('/api/cell/run', { id }),
  cancel: (id: number) => act('/api/cell/cancel', { id }),
  runAll: () => act('/api/run-all', {}),
  interrupt: () => act('/api/interrupt', {}),
  restart: () => act('/api/restart', {}),
  setInput: (name: string, value: unknown) => act('/api/input', { name, value }),
  save: (force = false) => act('/api/save', { force }),
  trust: () => act('/api/trust', {}),
  cache: () => call<CacheInfo>('GET', '/api/cache'),
  clearCache: () => act('/api/cache/clear', {}),
  runSettings: (run: RunSettings) => act('/api/run-settings', run),
  rows: (handle: string, offset: number, limit: number) => call<TableRows>('GET', `/api/table?handle=${encodeURIComponent(handle)}&offset=${offset}&limit=${limit}`),
};

/** Subscribes to engine events; EventSource reconnects by itself and the server re-sends a snapshot. */
export function events(onEvent: (e: ServerEvent) => void, onState: (connected: boolean) => void): EventSource {
  const source = new EventSource('/api/events');
  // Every event type the server sends; the record makes the compiler flag one added to the protocol.
  const types: Record<ServerEvent['type'], true> = { hello: true, cell: true, notebook: true, kernel: true, log: true };
  for (const type of Object.keys(types)) {
    source.addEventListener(type, (ev) => onEvent(JSON.parse((ev as MessageEvent<string>).data) as ServerEvent));
  }
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return source;
}
