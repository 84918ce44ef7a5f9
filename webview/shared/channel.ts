// The webview side of the typed channel: says `ready`, receives state, sends
// requests and resolves each with its reply.
import type { HostMessage, WebviewMessage } from '../../extension/protocol/messages';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** A reply shown under the panel's header. */
export interface Notice {
  text: string;
  error: boolean;
}

export class Channel<State, Request> {
  private readonly api = acquireVsCodeApi();
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (message: string | undefined) => void; reject: (error: Error) => void }>();

  constructor(onState: (state: State) => void) {
    window.addEventListener('message', (event: MessageEvent<HostMessage<State>>) => {
      const message = event.data;
      if (message.type === 'state') onState(message.state);
      else {
        const waiter = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        if (!waiter) return;
        if (message.ok) waiter.resolve(message.message);
        else waiter.reject(new Error(message.error));
      }
    });
    this.send({ type: 'ready' });
  }

  request(request: Request): Promise<string | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.send({ type: 'request', id, request });
    });
  }

  /** Sends a request and turns its reply into what the panel shows: the host's message, its error, or nothing. */
  async ask(request: Request): Promise<Notice | undefined> {
    try {
      const text = await this.request(request);
      return text ? { text, error: false } : undefined;
    } catch (error) {
      return { text: (error as Error).message, error: true };
    }
  }

  /** What the panel serializer gets back after a reload. */
  persist(state: unknown): void {
    this.api.setState(state);
  }

  private send(message: WebviewMessage<Request>): void {
    this.api.postMessage(message);
  }
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? ` ${h % 24}h` : ''}`;
}
