// Typed messages between the extension host and its webviews. A webview says
// `ready` once its script runs; the host queues everything until then (a panel
// restored after a reload would otherwise miss its first state). Requests carry
// an id and get exactly one reply.

/** Host → webview. */
export type HostMessage<State> =
  | { type: 'state'; state: State }
  | { type: 'reply'; id: number; ok: true; message?: string }
  | { type: 'reply'; id: number; ok: false; error: string };

/** Webview → host. */
export type WebviewMessage<Request> = { type: 'ready' } | { type: 'request'; id: number; request: Request };

export function isWebviewMessage<Request>(value: unknown): value is WebviewMessage<Request> {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as { type?: unknown; id?: unknown; request?: unknown };
  if (message.type === 'ready') return true;
  return message.type === 'request' && typeof message.id === 'number' && typeof message.request === 'object' && message.request !== null;
}
