// GitHub's rate-limit budget as Build Master last saw it: what GitHub's headers
// said of the hourly limits (REST `core` and GraphQL), and what this process
// spent in the last minute against the per-minute (secondary) limits. Written
// beside the store by the client, shown by `status`, `status --json` and the cockpit.

/** One of GitHub's hourly budgets, from the `x-ratelimit-*` headers of its latest answer. */
export interface ResourceBudget {
  limit: number;
  remaining: number;
  used: number;
  /** When the hour's budget is refilled (ms since the epoch). */
  resetAt: number;
}

export interface GitHubBudget {
  rest?: ResourceBudget;
  graphql?: ResourceBudget;
  /**
   * Points this process spent in the minute before `updatedAt` (REST: a read 1, a
   * write 5; GraphQL: a query 1, a mutation 5), and the caps pacing keeps them under.
   */
  lastMinute: { rest: number; graphql: number; restCap: number; graphqlCap: number };
  updatedAt: number;
}

/** Whether `at` (ms since the epoch) is a time a Date can hold: a server's or a file's absurd reset is not shown. */
export function isTime(at: number): boolean {
  return Number.isFinite(at) && at > 0 && !Number.isNaN(new Date(at).getTime());
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** 10:14 in the given time zone (the machine's when absent). */
function clock(at: number, timeZone?: string): string {
  return new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, ...(timeZone ? { timeZone } : {}) }).format(
    new Date(at),
  );
}

function resource(name: string, budget: ResourceBudget | undefined, timeZone?: string): string | undefined {
  if (!budget) return undefined;
  const reset = isTime(budget.resetAt) ? ` (resets ${clock(budget.resetAt, timeZone)})` : '';
  return `${name} ${count(budget.remaining)}/${count(budget.limit)} left${reset}`;
}

/**
 * One line for a person: "GitHub budget: REST 4,812/5,000 left (resets 10:14), GraphQL
 * 4,950/5,000 left (resets 10:20); last minute 42 of 800 REST points". Undefined when nothing was recorded.
 */
export function budgetLine(budget: GitHubBudget | undefined, timeZone?: string): string | undefined {
  if (!budget) return undefined;
  const hourly = [resource('REST', budget.rest, timeZone), resource('GraphQL', budget.graphql, timeZone)].filter(
    (part): part is string => part !== undefined,
  );
  const { rest, graphql, restCap, graphqlCap } = budget.lastMinute;
  const minute = [
    rest > 0 ? `${count(rest)} of ${count(restCap)} REST points` : '',
    graphql > 0 ? `${count(graphql)} of ${count(graphqlCap)} GraphQL points` : '',
  ].filter(Boolean);
  if (hourly.length === 0 && minute.length === 0) return undefined;
  const head = hourly.length ? hourly.join(', ') : 'no rate-limit headers seen yet';
  return `GitHub budget: ${head}${minute.length ? `; last minute ${minute.join(', ')}` : ''}`;
}

/** Under a tenth of an hourly budget left: worth a warning colour in the cockpit. */
export function budgetLow(budget: GitHubBudget | undefined): boolean {
  return [budget?.rest, budget?.graphql].some((b) => b !== undefined && b.limit > 0 && b.remaining < b.limit / 10);
}
