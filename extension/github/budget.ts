// The budget recorder: every GitHub answer's rate-limit headers (REST `core`,
// `graphql`), GraphQL's `rateLimit` field when a query asks for it, and the
// points this process spent in the last minute. Saved beside the store as
// github-budget.json (atomically, like the ETag cache) for `status` and the cockpit.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTime, type GitHubBudget, type ResourceBudget } from '../protocol/budget';

export type { GitHubBudget, ResourceBudget } from '../protocol/budget';

export const BUDGET_FILE = 'github-budget.json';
const MINUTE = 60_000;

type Resource = 'rest' | 'graphql';

function header(headers: Record<string, unknown>, name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

export class BudgetRecorder {
  private rest?: ResourceBudget;
  private graphql?: ResourceBudget;
  private spent: { at: number; resource: Resource; points: number }[] = [];
  private dirty = false;

  constructor(
    private readonly caps: { rest: number; graphql: number },
    private readonly file?: string,
  ) {}

  /** A recorder saving to the state directory's github-budget.json. */
  static in(dir: string, caps: { rest: number; graphql: number }): BudgetRecorder {
    return new BudgetRecorder(caps, join(dir, BUDGET_FILE));
  }

  /** An answer's `x-ratelimit-*` headers; `fallback` names the resource when GitHub did not. */
  recordHeaders(headers: Record<string, unknown> | undefined, fallback: Resource): void {
    if (!headers) return;
    const limit = header(headers, 'x-ratelimit-limit');
    const remaining = header(headers, 'x-ratelimit-remaining');
    if (limit === undefined || remaining === undefined) return;
    const named = headers['x-ratelimit-resource'];
    // Search, code scanning and the other budgets are not what Build Master spends: leave them out.
    const which: Resource | undefined =
      named === undefined ? fallback : named === 'core' ? 'rest' : named === 'graphql' ? 'graphql' : undefined;
    if (!which) return;
    const reset = header(headers, 'x-ratelimit-reset');
    this[which] = {
      limit,
      remaining,
      used: header(headers, 'x-ratelimit-used') ?? Math.max(0, limit - remaining),
      // A reset that is no time (negative, beyond any date) is not recorded: status would have nothing to show.
      resetAt: reset !== undefined && isTime(reset * 1000) ? reset * 1000 : (this[which]?.resetAt ?? 0),
    };
    this.dirty = true;
  }

  /** GraphQL's `rateLimit { limit cost remaining resetAt }`, when a query selected it. */
  recordGraphQLRateLimit(rateLimit: unknown): void {
    if (typeof rateLimit !== 'object' || rateLimit === null) return;
    const r = rateLimit as { limit?: unknown; remaining?: unknown; used?: unknown; resetAt?: unknown };
    if (typeof r.remaining !== 'number') return;
    const limit = typeof r.limit === 'number' ? r.limit : (this.graphql?.limit ?? 5000);
    const resetAt = typeof r.resetAt === 'string' ? Date.parse(r.resetAt) : NaN;
    this.graphql = {
      limit,
      remaining: r.remaining,
      used: typeof r.used === 'number' ? r.used : Math.max(0, limit - r.remaining),
      resetAt: Number.isFinite(resetAt) ? resetAt : (this.graphql?.resetAt ?? 0),
    };
    this.dirty = true;
  }

  /** Points spent against a per-minute limit (counted when a request is sent). */
  spend(resource: Resource, points: number, now = Date.now()): void {
    this.spent.push({ at: now, resource, points });
    this.spent = this.spent.filter((s) => now - s.at < MINUTE);
    this.dirty = true;
  }

  snapshot(now = Date.now()): GitHubBudget {
    const inMinute = (resource: Resource) =>
      this.spent.filter((s) => s.resource === resource && now - s.at < MINUTE).reduce((n, s) => n + s.points, 0);
    return {
      ...(this.rest ? { rest: { ...this.rest } } : {}),
      ...(this.graphql ? { graphql: { ...this.graphql } } : {}),
      lastMinute: { rest: inMinute('rest'), graphql: inMinute('graphql'), restCap: this.caps.rest, graphqlCap: this.caps.graphql },
      updatedAt: now,
    };
  }

  /** Writes the latest budget atomically (a reader never sees half a file); nothing new, nothing written. */
  save(now = Date.now()): void {
    if (!this.file || !this.dirty) return;
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.snapshot(now), null, 2)}\n`);
    renameSync(temp, this.file);
    this.dirty = false;
  }
}

function isResource(value: unknown): value is ResourceBudget {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return ['limit', 'remaining', 'used', 'resetAt'].every((key) => typeof r[key] === 'number');
}

/** The budget saved in a state directory, or undefined (none yet, or a file this version cannot read). */
export function readBudget(dir: string): GitHubBudget | undefined {
  const file = join(dir, BUDGET_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const minute = raw.lastMinute as Record<string, unknown> | undefined;
    if (typeof raw.updatedAt !== 'number' || typeof minute !== 'object') return undefined;
    const number = (v: unknown) => (typeof v === 'number' ? v : 0);
    return {
      ...(isResource(raw.rest) ? { rest: raw.rest } : {}),
      ...(isResource(raw.graphql) ? { graphql: raw.graphql } : {}),
      lastMinute: {
        rest: number(minute.rest),
        graphql: number(minute.graphql),
        restCap: number(minute.restCap),
        graphqlCap: number(minute.graphqlCap),
      },
      updatedAt: raw.updatedAt,
    };
  } catch {
    // A torn or foreign file hides the budget until the next cycle writes it; it never stops status.
    return undefined;
  }
}
