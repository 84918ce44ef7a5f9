// GitHub webhook deliveries: the signature checked (by github/signature.ts:
// @octokit/webhooks, a constant-time HMAC-SHA256 comparison), the body parsed, and
// the delivery routed to whatever maps it (the serve loop maps it to an observe
// focus). Usable from `build-master serve` and from a GitHub App's own server:
// `handleDelivery` takes headers and the raw body, `webhookListener` is a Node
// (req, res) listener built on it. A delivery that is not signed with the
// secret, or not understood, changes nothing; the secret and the payload are
// never logged.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A verified, parsed delivery. */
export interface Delivery {
  /** X-GitHub-Event: `pull_request`, `check_run`, … */
  event: string;
  /** X-GitHub-Delivery: GitHub's id of this delivery (the same on a redelivery). */
  id: string;
  payload: unknown;
}

/** What the router makes of a delivery: what it adds (accepted), nothing (ignored), or a payload missing what its event needs. */
export type Routed<T> = { kind: 'accepted'; adds: T; why: string } | { kind: 'ignored'; why: string } | { kind: 'malformed'; why: string };

export interface DeliveryAnswer<T> {
  status: number;
  message: string;
  /** Set only for an accepted delivery: what it adds to the next cycle. */
  adds?: T;
}

/** Whether `signature` (X-Hub-Signature-256) signs `payload` with the webhook's secret (github/signature.ts). */
export type Verifier = (payload: string, signature: string) => Promise<boolean>;

export interface WebhookOptions<T> {
  /** Holds the webhook's secret, as set on the repository's or the App's webhook: `githubVerifier(secret)`. */
  verify: Verifier;
  route: (delivery: Delivery) => Routed<T>;
  /** One line per delivery: event, action, delivery id, the answer. */
  log: (line: string) => void;
}

export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** GitHub caps a delivery's payload at 25 MB; anything larger is not GitHub's. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** Verifies and routes one delivery. Never throws: every failure is an answer with its status. */
export async function handleDelivery<T>(headers: Headers, body: string | Buffer, options: WebhookOptions<T>): Promise<DeliveryAnswer<T>> {
  // Logged before the signature is checked: anyone can send these headers, so only GitHub's alphabet is shown as is.
  const event = header(headers, 'x-github-event') ?? '';
  const id = header(headers, 'x-github-delivery') ?? 'no delivery id';
  const shownEvent = /^[a-z_]{1,64}$/.test(event) ? event : JSON.stringify(event.slice(0, 64));
  const shownId = /^[\w-]{1,100}$/.test(id) ? id : JSON.stringify(id.slice(0, 100));
  const signature = header(headers, 'x-hub-signature-256');
  const raw = typeof body === 'string' ? body : body.toString('utf8');
  const answer = (status: number, message: string, action?: string, adds?: T): DeliveryAnswer<T> => {
    options.log(`webhook ${event ? shownEvent : '(no event)'}${action ? `.${action}` : ''} ${shownId}: ${status} ${message}`);
    return adds === undefined ? { status, message } : { status, message, adds };
  };
  // Authenticity first: an unsigned sender learns nothing about what the server understands.
  if (!signature) return answer(401, 'no X-Hub-Signature-256: the delivery is not signed (set the webhook secret); ignored');
  if (!(await verified(options.verify, raw, signature)))
    return answer(401, 'the X-Hub-Signature-256 does not match the webhook secret; ignored');
  if (!event) return answer(400, 'no X-GitHub-Event header: not a GitHub delivery');
  const payload = parseBody(headers, raw);
  if (payload === undefined) return answer(400, 'the body is not a JSON object; nothing changed');
  const action = typeof payload.action === 'string' && /^[a-z_]{1,64}$/.test(payload.action) ? payload.action : undefined;
  if (event === 'ping') return answer(200, 'pong', action);
  const routed = options.route({ event, id, payload });
  switch (routed.kind) {
    case 'accepted':
      return answer(200, routed.why, action, routed.adds);
    case 'ignored':
      return answer(202, `ignored: ${routed.why}`, action);
    case 'malformed':
      return answer(400, `${routed.why}; nothing changed`, action);
  }
}

/**
 * A Node request listener for `path`: POST deliveries are handled, anything
 * else is 404/405. `accept` receives what each accepted delivery adds.
 */
export function webhookListener<T>(
  path: string,
  options: WebhookOptions<T>,
  accept: (adds: T) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const reply = (status: number, message: string, close = false) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(close ? { connection: 'close' } : {}) });
      // A body left unread is not waited for: the connection ends with the answer.
      res.end(`${message}\n`, close ? () => req.destroy() : undefined);
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      reply(404, `not found: deliveries go to ${path}`);
      return;
    }
    if (req.method !== 'POST') {
      reply(405, 'webhook deliveries are POSTed');
      return;
    }
    // Refused before the body is read: an unsigned or oversized sender gets no memory to fill.
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      options.log(
        `webhook delivery refused: it announces ${Number(req.headers['content-length'])} bytes (GitHub sends at most ${MAX_BODY_BYTES})`,
      );
      reply(413, `the delivery is larger than ${MAX_BODY_BYTES} bytes`, true);
      return;
    }
    if (!header(req.headers, 'x-hub-signature-256')) {
      void handleDelivery(req.headers, '', options).then((answer) => reply(answer.status, answer.message, true));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        reply(413, `the delivery is larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      void handleDelivery(req.headers, Buffer.concat(chunks), options).then((answer) => {
        if (answer.adds !== undefined) accept(answer.adds);
        reply(answer.status, answer.message);
      });
    });
  };
}

async function verified(verify: Verifier, body: string, signature: string): Promise<boolean> {
  // An empty body cannot be verified (the library refuses it): it is no delivery of GitHub's.
  if (body.length === 0) return false;
  try {
    return await verify(body, signature);
  } catch {
    return false;
  }
}

/** The payload object: a JSON body, or GitHub's form encoding (`payload=<json>`) when the webhook is set to it. */
function parseBody(headers: Headers, raw: string): Record<string, unknown> | undefined {
  const form = (header(headers, 'content-type') ?? '').startsWith('application/x-www-form-urlencoded');
  const text = form ? (new URLSearchParams(raw).get('payload') ?? '') : raw;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  const first = Array.isArray(value) ? (value[0] as string | undefined) : (value as string | undefined);
  return first?.trim() || undefined;
}
