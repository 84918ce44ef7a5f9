// The GitHub REST client: @octokit/rest with the throttling and retry plugins,
// pagination, and conditional requests. Every GET carries the ETag of the last
// answer to the same URL; a 304 costs nothing against the rate limit and is
// answered from the cache, so an idle cycle is nearly free. The cache lives in
// the store directory so a new process (cron, `build-master sync`) starts warm.
import { Octokit } from '@octokit/rest';
import { paginateGraphQL } from '@octokit/plugin-paginate-graphql';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck/light.js';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const GitHubOctokit = Octokit.plugin(throttling, retry, paginateGraphQL);
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

  /** Writes the cache atomically; entries not used for a week are dropped. */
  save(now = Date.now()): void {
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
}

export interface GitHubClient {
  api: GitHubApi;
  cache: ResponseCache;
}

export function createClient(options: ClientOptions): GitHubClient {
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
  return { api, cache: options.cache };
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
    const when = Number.isFinite(reset) && reset > 0 ? ` (resets at ${new Date(reset * 1000).toISOString()})` : '';
    return `${what}: GitHub's rate limit is exhausted${when}; Build Master retried and gave up, the next cycle tries again`;
  }
  if (status === 404) return `${what}: not found on GitHub (404); check \`github.repository\` in .buildmaster.yml and the token's access`;
  if (status && status >= 500) return `${what}: GitHub answered ${status} after retries; the next cycle tries again`;
  return `${what}: ${e.message ?? String(error)}${status ? ` (HTTP ${status})` : ''}`;
}
