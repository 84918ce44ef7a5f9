// The GitHub REST client: @octokit/rest with the throttling and retry plugins,
// pagination, and conditional requests. Every GET carries the ETag of the last
// answer to the same URL; a 304 costs nothing against the hourly rate limit and is
// answered from the cache, so an idle cycle is nearly free. The cache lives in
// the store directory so a new process (cron, `build-master sync`) starts warm.
// Every request is paced under GitHub's secondary limits (requests in flight,
// points a minute, GraphQL one query at a time), and every answer's rate-limit
// headers are recorded (budget.ts) so `status` and the cockpit show what is left.
import { Octokit } from '@octokit/rest';
import { paginateGraphQL } from '@octokit/plugin-paginate-graphql';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck/light.js';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BudgetRecorder } from './budget';
import { isTime } from '../protocol/budget';

/**
 * GitHub's secondary limits (docs: "About secondary rate limits"): at most 100
 * requests in flight, 900 REST points a minute (a read is 1 point, a write 5),
 * 2,000 GraphQL points a minute (a query 1, a mutation 5). Build Master stays well under each.
 */
export const PACING_DEFAULTS = {
  maxConcurrent: 8,
  restPointsPerMinute: 800,
  graphqlPointsPerMinute: 1800,
  windowMs: 60_000,
  logDelayOverMs: 5_000,
} as const;

export interface PacingOptions {
  /** Requests in flight at once (GitHub allows 100); default 8. */
  maxConcurrent?: number;
  /** REST points in any window (a read 1, a write 5; GitHub allows 900 a minute); default 800. */
  restPointsPerMinute?: number;
  /** GraphQL points in any window (a query 1, a mutation 5; GitHub allows 2,000 a minute); default 1,800. */
  graphqlPointsPerMinute?: number;
  /** The window the points are counted in: a minute (tests shrink it). */
  windowMs?: number;
  /** Pacing that holds a burst of requests back longer than this is logged, once; default 5 s. */
  logDelayOverMs?: number;
}

/** Points a request costs against GitHub's per-minute limits. */
function pointsOf(method: string, graphql: boolean, query: unknown): number {
  if (graphql) return typeof query === 'string' && /^\s*mutation\b/.test(query.replace(/^\s*#.*$/gm, '')) ? 5 : 1;
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 1 : 5;
}

/**
 * A token bucket of `perWindow` points: it starts with a sixth of them (a burst)
 * and refills the rest in equal steps over the window, so no window of that
 * length ever holds more than `perWindow` points, wherever it starts.
 */
function pointBucket(perWindow: number, windowMs: number): Bottleneck {
  // A write costs 5: the bucket must hold at least that, or it would wait forever.
  if (!(perWindow >= 10)) throw new Error(`pacing: ${perWindow} points a window is too few (at least 10)`);
  const burst = Math.max(5, Math.floor(perWindow / 6));
  // Bottleneck looks at the bucket every 250 ms: no more steps than that in a window.
  const steps = Math.max(1, Math.min(60, Math.floor(windowMs / 250), perWindow - burst));
  const step = Math.floor((perWindow - burst) / steps);
  return new Bottleneck({
    reservoir: burst,
    reservoirIncreaseMaximum: burst,
    reservoirIncreaseAmount: step,
    reservoirIncreaseInterval: Math.ceil(windowMs / steps),
  });
}

/**
 * The limiters of one GitHub identity (API address and token): GitHub counts its
 * secondary limits per user or app, so every client of one token in this process
 * shares them, and a process that reopens its session each cycle (watch) keeps
 * one set instead of starting a fresh burst (and a fresh timer) every time.
 */
class Pacing {
  readonly rest: Bottleneck;
  readonly graphql: Bottleneck;
  /** GitHub asks for GraphQL requests one at a time. */
  readonly graphqlSerial = new Bottleneck({ maxConcurrent: 1 });
  /** Requests on the wire at once. */
  readonly inFlightCap: Bottleneck;
  inFlight = 0;
  quietSince = Date.now();
  heldMs = 0;
  logged = false;

  constructor(readonly options: Required<PacingOptions>) {
    this.rest = pointBucket(options.restPointsPerMinute, options.windowMs);
    this.graphql = pointBucket(options.graphqlPointsPerMinute, options.windowMs);
    this.inFlightCap = new Bottleneck({ maxConcurrent: options.maxConcurrent });
  }

  private static readonly shared = new Map<string, Pacing>();

  static for(baseUrl: string, token: string, options: Required<PacingOptions>): Pacing {
    // The token is only hashed into a key, never kept.
    const key = createHash('sha256')
      .update(`${baseUrl}\n${token}\n${JSON.stringify(options)}`)
      .digest('hex');
    // Limiters quiet for two windows are full again: dropping them loses nothing and stops their timers.
    for (const [other, idle] of Pacing.shared)
      if (other !== key && idle.inFlight === 0 && Date.now() - idle.quietSince > 2 * idle.options.windowMs) {
        Pacing.shared.delete(other);
        void Promise.all([idle.rest.disconnect(), idle.graphql.disconnect()]);
      }
    let pacing = Pacing.shared.get(key);
    if (!pacing) {
      pacing = new Pacing(options);
      Pacing.shared.set(key, pacing);
    }
    return pacing;
  }

  /** Waits for `points` (and logs, once a burst, when the waiting passes the threshold). */
  async take(graphql: boolean, points: number, log: (message: string) => void): Promise<void> {
    const started = Date.now();
    // A pause in GitHub traffic (between cycles) starts a new burst: its holdups are logged afresh.
    if (this.inFlight === 0 && started - this.quietSince > 1000) {
      this.heldMs = 0;
      this.logged = false;
    }
    // Bottleneck's clock is unref'd: a process waiting only for points must not exit mid-cycle.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      await (graphql ? this.graphql : this.rest).schedule({ weight: points }, () => Promise.resolve());
    } finally {
      clearInterval(keepAlive);
    }
    this.heldMs += Date.now() - started;
    if (!this.logged && this.heldMs > this.options.logDelayOverMs) {
      this.logged = true;
      const { restPointsPerMinute, graphqlPointsPerMinute, windowMs } = this.options;
      const cap = graphql ? `${graphqlPointsPerMinute} GraphQL points` : `${restPointsPerMinute} REST points`;
      const per = windowMs === 60_000 ? 'a minute' : `per ${windowMs} ms`;
      log(
        `GitHub pacing: requests held back ${Math.round(this.heldMs / 1000)}s so far to stay under ${cap} ${per} (GitHub's secondary limit); the cycle goes on, more slowly`,
      );
    }
  }
}

interface Pacer {
  pacing: Pacing;
  budget: BudgetRecorder;
  log: (message: string) => void;
}

/**
 * Innermost hook (registered before the throttling plugin): every attempt that
 * reaches the network, retries included, waits for its points and a free slot,
 * then is sent; every answer (errors and 304s too) has its rate-limit headers recorded.
 */
function pacing(octokit: Pick<Octokit, 'hook'>, octokitOptions: { pacer?: Pacer; [option: string]: unknown }): void {
  const pacer = octokitOptions.pacer;
  if (!pacer) return;
  const { pacing, budget, log } = pacer;
  octokit.hook.wrap('request', async (request, options) => {
    const graphql = /^(?:https?:\/\/[^/]+)?(?:\/api)?\/graphql\b/.test(options.url);
    const resource = graphql ? 'graphql' : 'rest';
    const points = pointsOf(options.method.toUpperCase(), graphql, (options as { query?: unknown }).query);
    pacing.inFlight += 1;
    try {
      await pacing.take(graphql, points, log);
      budget.spend(resource, points);
      const send = () => pacing.inFlightCap.schedule(async () => request(options));
      const response = await (graphql ? pacing.graphqlSerial.schedule(send) : send());
      budget.recordHeaders(response.headers, resource);
      if (graphql) budget.recordGraphQLRateLimit((response.data as { data?: { rateLimit?: unknown } } | undefined)?.data?.rateLimit);
      return response;
    } catch (error) {
      budget.recordHeaders((error as { response?: { headers?: Record<string, unknown> } }).response?.headers, resource);
      throw error;
    } finally {
      pacing.inFlight -= 1;
      if (pacing.inFlight === 0) pacing.quietSince = Date.now();
    }
  });
}

const GitHubOctokit = Octokit.plugin(pacing, throttling, retry, paginateGraphQL);
export type GitHubApi = InstanceType<typeof GitHubOctokit>;

interface CachedResponse {
  etag: string;
  data: unknown;
  link?: string;
  at: number;
}

/** ETag cache keyed by method and full URL, persisted beside the store. */
export class ResponseCache {
  private entries = new Map<string, CachedResponse>();
  private dirty = false;
  private readonly saved: (() => void)[] = [];

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, CachedResponse>;
        this.entries = new Map(Object.entries(raw));
      } catch {
        // A torn or foreign cache costs one cold cycle, never a wrong answer.
        this.entries = new Map();
      }
    }
  }

  static in(dir: string): ResponseCache {
    return new ResponseCache(join(dir, 'github-cache.json'));
  }

  get(key: string): CachedResponse | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: CachedResponse): void {
    this.entries.set(key, value);
    this.dirty = true;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Runs `then` after every save: what is persisted at the same moment (the budget). */
  onSave(then: () => void): void {
    this.saved.push(then);
  }

  /** Writes the cache atomically; entries not used for a week are dropped. */
  save(now = Date.now()): void {
    for (const then of this.saved) then();
    if (!this.file || !this.dirty) return;
    const week = 7 * 24 * 3600 * 1000;
    const kept = Object.fromEntries([...this.entries].filter(([, v]) => now - v.at < week));
    const temp = `${this.file}.tmp`;
    writeFileSync(temp, JSON.stringify(kept));
    renameSync(temp, this.file);
    this.dirty = false;
  }
}

export interface ClientOptions {
  baseUrl: string;
  token: string;
  cache: ResponseCache;
  log: (message: string) => void;
  /** Milliseconds per second of `retry-after` (tests shrink it); default 1000. */
  retryAfterBaseMs?: number;
  /** Minimum gap between writes, GitHub's advice against secondary limits; default 1000 ms. */
  writeIntervalMs?: number;
  /** Longest rate-limit wait worth sleeping through inside a cycle, in seconds; default 60. */
  maxRateLimitWait?: number;
  /** Retries of a 5xx or a dropped connection; default 3. */
  retries?: number;
  /** Pacing under GitHub's secondary limits (PACING_DEFAULTS); tests shrink the window. */
  pacing?: PacingOptions;
  /**
   * The state directory: the budget is saved there as github-budget.json whenever
   * the ETag cache is saved (the end of a cycle's reads). Absent: kept in memory only.
   */
  stateDir?: string;
}

/** The options a session passes through to the client (tests shorten the waits). */
export type ClientTiming = Pick<ClientOptions, 'retryAfterBaseMs' | 'writeIntervalMs' | 'maxRateLimitWait' | 'retries' | 'pacing'>;

export interface GitHubClient {
  api: GitHubApi;
  cache: ResponseCache;
  /** GitHub's rate-limit budget as the answers report it, and this process's spending. */
  budget: BudgetRecorder;
}

export function createClient(options: ClientOptions): GitHubClient {
  const pace: Required<PacingOptions> = { ...PACING_DEFAULTS, ...options.pacing };
  const caps = { rest: pace.restPointsPerMinute, graphql: pace.graphqlPointsPerMinute };
  const budget = options.stateDir ? BudgetRecorder.in(options.stateDir, caps) : new BudgetRecorder(caps);
  // The budget is persisted with the ETag cache: one write at the end of a cycle's reads, never per request.
  options.cache.onSave(() => budget.save());
  const pacer: Pacer = { pacing: Pacing.for(options.baseUrl, options.token, pace), budget, log: options.log };
  const maxWait = options.maxRateLimitWait ?? 60;
  const base = options.retryAfterBaseMs ?? 1000;
  const limitHandler =
    (kind: string) => (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      if (retryCount < 2 && retryAfter <= maxWait) {
        options.log(`GitHub ${kind} on ${request.method} ${request.url}: retrying in ${retryAfter}s (attempt ${retryCount + 2} of 3)`);
        return true;
      }
      options.log(
        `GitHub ${kind} on ${request.method} ${request.url}: giving up (${retryCount + 1} attempt(s); the limit resets in ${retryAfter}s)`,
      );
      return false;
    };
  const api = new GitHubOctokit({
    baseUrl: options.baseUrl.replace(/\/$/, ''),
    auth: options.token,
    userAgent: 'build-master',
    pacer,
    // Octokit's own logging goes to our log (it never includes the token).
    // A 304 is an answer from the cache, not an error worth a line.
    log: {
      debug: () => undefined,
      info: () => undefined,
      warn: (m: string) => options.log(m),
      error: (m: string) => (/ - 304 with id /.test(m) ? undefined : options.log(m)),
    },
    throttle: {
      onRateLimit: limitHandler('rate limit'),
      onSecondaryRateLimit: limitHandler('secondary rate limit'),
      retryAfterBaseValue: base,
      fallbackSecondaryRateRetryAfter: 60,
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: options.writeIntervalMs ?? 1000 }),
      // Writes that notify people (issues, comments, merges): GitHub asks for more room, 3 s by default.
      notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: (options.writeIntervalMs ?? 1000) * 3 }),
    },
    retry: {
      retries: options.retries ?? 3,
      // 405/409/422 are answers (not mergeable, head moved, invalid), and 403/429
      // rate limits belong to the throttling plugin: none of them is retried blindly.
      doNotRetry: [400, 401, 403, 404, 405, 409, 410, 422, 429, 451],
      retryAfterBaseValue: base,
    },
  });

  // Conditional requests: outermost hook, so a 304 from any retry is answered from the cache.
  api.hook.wrap('request', async (request, requestOptions) => {
    const method = requestOptions.method.toUpperCase();
    if (method !== 'GET') return request(requestOptions);
    const { url } = api.request.endpoint.parse(requestOptions);
    const key = `GET ${url}`;
    const cached = options.cache.get(key);
    if (cached) requestOptions.headers = { ...requestOptions.headers, 'if-none-match': cached.etag };
    try {
      const response = await request(requestOptions);
      const etag = response.headers.etag;
      // A copy: pagination normalises (mutates) the data it is handed.
      if (etag)
        options.cache.set(key, {
          etag,
          data: structuredClone(response.data),
          ...(response.headers.link ? { link: response.headers.link } : {}),
          at: Date.now(),
        });
      return response;
    } catch (error) {
      if ((error as { status?: number }).status === 304 && cached) {
        cached.at = Date.now();
        return {
          status: 200,
          url,
          headers: { etag: cached.etag, ...(cached.link ? { link: cached.link } : {}) },
          data: structuredClone(cached.data),
        } as Awaited<ReturnType<typeof request>>;
      }
      throw error;
    }
  });
  return { api, cache: options.cache, budget };
}

/** A message a person can act on for a failed GitHub call; never includes the token. */
export function describeGitHubError(error: unknown, what: string): string {
  const e = error as { status?: number; message?: string; response?: { headers?: Record<string, string> } };
  const status = e.status;
  if (status === 401) return `${what}: GitHub rejected the token (401 Bad credentials); sign in again or set GITHUB_TOKEN`;
  if (
    (status === 403 || status === 429) &&
    (e.response?.headers?.['x-ratelimit-remaining'] === '0' || /rate limit/i.test(e.message ?? ''))
  ) {
    const reset = Number(e.response?.headers?.['x-ratelimit-reset']);
    const when = isTime(reset * 1000) ? ` (resets at ${new Date(reset * 1000).toISOString()})` : '';
    return `${what}: GitHub's rate limit is exhausted${when}; Build Master retried and gave up, the next cycle tries again`;
  }
  const reason = githubReason(error);
  if (status === 404) {
    // GitHub says "Not Found" for a missing (or hidden) repository; anything else is its own reason ("Branch not protected").
    if (reason && !/^not found$/i.test(reason)) return `${what}: GitHub answered 404: ${reason}`;
    return `${what}: not found on GitHub (404); check \`github.repository\` in .buildmaster.yml and the token's access`;
  }
  if (status && status >= 500) return `${what}: GitHub answered ${status} after retries; the next cycle tries again`;
  if (status && reason) return `${what}: GitHub refused it (HTTP ${status}): ${reason}`;
  return `${what}: ${e.message ?? String(error)}${status ? ` (HTTP ${status})` : ''}`;
}

/**
 * GitHub's own words from an error body: its message and each listed error
 * ("Validation Failed (Label color: invalid)"), or undefined when the body has none.
 */
function githubReason(error: unknown): string | undefined {
  const data = (error as { response?: { data?: unknown } }).response?.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const { message, errors } = data as { message?: unknown; errors?: unknown };
  if (typeof message !== 'string' || !message.trim()) return undefined;
  const details = (Array.isArray(errors) ? (errors as unknown[]) : [])
    .map((item) => {
      if (typeof item === 'string') return item;
      if (typeof item !== 'object' || item === null) return '';
      const e = item as Record<string, unknown>;
      const words = (...keys: string[]) => keys.map((k) => e[k]).filter((v): v is string => typeof v === 'string' && v !== '');
      const where = words('resource', 'field').join(' ');
      const what = words('message').join('') || words('code').join('');
      return [where, what].filter(Boolean).join(': ');
    })
    .filter(Boolean);
  return `${message.trim()}${details.length ? ` (${details.join('; ')})` : ''}`;
}
