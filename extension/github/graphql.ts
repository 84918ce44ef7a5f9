// The GraphQL reads of GitHub mode's observe (SPEC §8). One paginated query
// reads every open pull request with what the gate needs (head, base, fork,
// draft, labels, mergeability, reviews, the head commit's check rollup), one
// query reads the target's history with the checks of its newest commits, and
// a focused query re-reads named pull requests (a webhook said they changed).
// A GraphQL request costs points by GitHub's formula (connections × their
// `first`), not one request per pull request and part as REST did.
// Every query here is validated against @octokit/graphql-schema by the unit tests.
import type { GitHubApi } from './client';

/** Pull requests per page: GitHub's maximum for a connection. */
export const PULLS_PAGE = 100;
/** Check runs and statuses read per commit rollup. */
export const ROLLUP_CONTEXTS = 100;
/** Target commits listed per read; the first-parent chain is walked through them. */
export const TARGET_LISTED = 100;
/** The newest first-parent commits of the target whose check rollups are read. */
export const TARGET_CHECKED = 10;

const ROLLUP = `
fragment Rollup on StatusCheckRollup {
  state
  contexts(first: ${ROLLUP_CONTEXTS}) {
    totalCount
    nodes {
      __typename
      ... on CheckRun {
        databaseId
        name
        status
        conclusion
        detailsUrl
        url
        startedAt
        completedAt
        title
        summary
        text
      }
      ... on StatusContext {
        context
        state
        description
        targetUrl
        createdAt
      }
    }
  }
}`;

const PULL_FIELDS = `
fragment PullFields on PullRequest {
  number
  state
  title
  body
  author {
    __typename
    login
  }
  createdAt
  updatedAt
  isDraft
  labels(first: 100) {
    nodes {
      name
    }
  }
  headRefName
  headRefOid
  baseRefName
  baseRefOid
  isCrossRepository
  headRepository {
    nameWithOwner
  }
  mergeable
  mergeStateStatus
  reviewDecision
  changedFiles
  latestOpinionatedReviews(first: 100) {
    nodes {
      author {
        __typename
        login
      }
      state
      submittedAt
    }
  }
  commits(last: 1) {
    nodes {
      commit {
        oid
        statusCheckRollup {
          ...Rollup
        }
      }
    }
  }
}
${ROLLUP}`;

const RATE_LIMIT = `
  rateLimit {
    cost
    remaining
    resetAt
    limit
  }`;

/**
 * Every open pull request, 100 a page, in the form @octokit/plugin-paginate-graphql
 * pages (`$cursor`, `pageInfo { hasNextPage endCursor }`).
 */
export const OPEN_PULLS_QUERY = `
query openPulls($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: ${PULLS_PAGE}, after: $cursor, orderBy: { field: CREATED_AT, direction: ASC }) {
      nodes {
        ...PullFields
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
${RATE_LIMIT}
}
${PULL_FIELDS}`;

/**
 * What GitHub recomputes when the target moves (mergeability, merge state) and
 * what tells a missed delivery (head, base, last update) of every open pull
 * request, 100 a page, without a nested connection: one point a page where
 * the whole read costs four.
 */
export const OPEN_PULL_STATES_QUERY = `
query openPullStates($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: ${PULLS_PAGE}, after: $cursor, orderBy: { field: CREATED_AT, direction: ASC }) {
      nodes {
        number
        headRefOid
        baseRefName
        updatedAt
        isDraft
        mergeable
        mergeStateStatus
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
${RATE_LIMIT}
}`;

/** The target's first-parent chain, the newest commits with their check rollups, folded into one request. */
function checkedChain(depth: number): string {
  const level = (left: number): string =>
    left === 0
      ? ''
      : `
      parents(first: 1) {
        nodes {
          oid
          statusCheckRollup {
            ...Rollup
          }${level(left - 1)}
        }
      }`;
  return level(depth);
}

/**
 * The target branch: its listed history (oid, message, date, first parent) to
 * walk the first-parent chain, and the check rollups of the newest
 * `TARGET_CHECKED` commits of that chain (nested `parents(first: 1)`: each
 * level costs one request, where a rollup on every listed commit would cost 100).
 */
export const TARGET_QUERY = `
query targetHistory($owner: String!, $name: String!, $ref: String!) {
  repository(owner: $owner, name: $name) {
    ref(qualifiedName: $ref) {
      target {
        __typename
        oid
        ... on Commit {
          statusCheckRollup {
            ...Rollup
          }${checkedChain(TARGET_CHECKED - 1)}
          history(first: ${TARGET_LISTED}) {
            nodes {
              oid
              message
              committedDate
              parents(first: 1) {
                nodes {
                  oid
                }
              }
            }
          }
        }
      }
    }
  }
${RATE_LIMIT}
}
${ROLLUP}`;

/** Named pull requests (aliases `p12`), for a focused observe: a webhook said they changed. */
export function focusedPullsQuery(numbers: readonly number[]): string {
  const wanted = [...new Set(numbers)].filter((n) => Number.isSafeInteger(n) && n > 0);
  const fields = wanted.map((n) => `    p${n}: pullRequest(number: ${n}) {\n      ...PullFields\n    }`).join('\n');
  return `
query focusedPulls($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
${fields}
  }
${RATE_LIMIT}
}
${PULL_FIELDS}`;
}

// ---- results ----

/** A user or an app's bot: GraphQL gives a bot's login without REST's `[bot]` suffix. */
export interface ActorData {
  __typename: string;
  login: string;
}

/** A login as REST gives it (`app[bot]` for a bot), so GraphQL and REST reads name people alike. */
export function loginOf(actor: ActorData | null | undefined): string {
  if (!actor) return '';
  return actor.__typename === 'Bot' && !actor.login.endsWith('[bot]') ? `${actor.login}[bot]` : actor.login;
}

export interface RateLimitData {
  cost: number;
  remaining: number;
  resetAt: string;
  limit: number;
}

export type CheckStatusState = 'COMPLETED' | 'IN_PROGRESS' | 'PENDING' | 'QUEUED' | 'REQUESTED' | 'WAITING';
export type StatusState = 'ERROR' | 'EXPECTED' | 'FAILURE' | 'PENDING' | 'SUCCESS';

export interface CheckRunNode {
  __typename: 'CheckRun';
  databaseId: number | null;
  name: string;
  status: CheckStatusState;
  /** SUCCESS, FAILURE, NEUTRAL, CANCELLED, SKIPPED, TIMED_OUT, ACTION_REQUIRED, STALE, STARTUP_FAILURE; null until completed. */
  conclusion: string | null;
  detailsUrl: string | null;
  url: string | null;
  startedAt: string | null;
  completedAt: string | null;
  title: string | null;
  summary: string | null;
  text: string | null;
}

export interface StatusContextNode {
  __typename: 'StatusContext';
  context: string;
  state: StatusState;
  description: string | null;
  targetUrl: string | null;
  createdAt: string;
}

export interface RollupData {
  state: StatusState;
  contexts: { totalCount: number; nodes: (CheckRunNode | StatusContextNode | null)[] | null };
}

export interface PullNode {
  number: number;
  state: 'OPEN' | 'CLOSED' | 'MERGED';
  title: string;
  body: string;
  author: ActorData | null;
  createdAt: string;
  updatedAt: string;
  isDraft: boolean;
  labels: { nodes: ({ name: string } | null)[] | null } | null;
  headRefName: string;
  headRefOid: string;
  baseRefName: string;
  baseRefOid: string;
  isCrossRepository: boolean;
  headRepository: { nameWithOwner: string } | null;
  mergeable: 'MERGEABLE' | 'CONFLICTING' | 'UNKNOWN';
  mergeStateStatus: string;
  reviewDecision: string | null;
  changedFiles: number;
  latestOpinionatedReviews: { nodes: ({ author: ActorData | null; state: string; submittedAt: string | null } | null)[] | null } | null;
  commits: { nodes: ({ commit: { oid: string; statusCheckRollup: RollupData | null } } | null)[] | null };
}

export type PullState = Pick<
  PullNode,
  'number' | 'headRefOid' | 'baseRefName' | 'updatedAt' | 'isDraft' | 'mergeable' | 'mergeStateStatus'
>;

export interface OpenPullStatesData {
  repository: { pullRequests: { nodes: (PullState | null)[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } | null;
  rateLimit?: RateLimitData;
}

export interface OpenPullsData {
  repository: { pullRequests: { nodes: (PullNode | null)[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } | null;
  rateLimit?: RateLimitData;
}

export interface ChainCommit {
  oid: string;
  statusCheckRollup: RollupData | null;
  parents?: { nodes: (ChainCommit | null)[] | null };
}

export interface HistoryNode {
  oid: string;
  message: string;
  committedDate: string;
  parents: { nodes: ({ oid: string } | null)[] | null };
}

export interface TargetData {
  repository: {
    ref: {
      target:
        | (ChainCommit & { __typename: 'Commit'; history: { nodes: (HistoryNode | null)[] | null } })
        | { __typename: string; oid: string }
        | null;
    } | null;
  } | null;
  rateLimit?: RateLimitData;
}

export interface FocusedPullsData {
  repository: Record<string, PullNode | null> | null;
  rateLimit?: RateLimitData;
}

/** What a GraphQL read answered: its data, and the problems GitHub reported beside partial data. */
export interface GraphQLRead<T> {
  data: T;
  /** GraphQL errors that came with (partial) data: each with its path and GitHub's error type. */
  errors: GraphQLProblem[];
}

export interface GraphQLProblem {
  message: string;
  path: (string | number)[];
  type?: string;
}

/** Thrown when a GraphQL read gave no usable data: the message names the query and what GitHub said. */
export class GraphQLReadError extends Error {}

/**
 * Runs one GraphQL query. Errors that come with data (a field GitHub could not
 * resolve) are returned beside it, for the caller to mark what they touch;
 * errors without data become a `GraphQLReadError` naming the query.
 */
export async function readGraphQL<T>(
  api: GitHubApi,
  name: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<GraphQLRead<T>> {
  try {
    const data = await api.graphql<T>(query, variables);
    return { data, errors: [] };
  } catch (error) {
    // @octokit/graphql's GraphqlResponseError: told by its shape (a bundle may hold another copy of the class).
    const answered = error as { errors?: unknown; data?: unknown };
    if (Array.isArray(answered.errors)) {
      const problems = problemsOf(answered.errors);
      const data = answered.data as T | undefined | null;
      if (data) return { data, errors: problems };
      throw new GraphQLReadError(`GitHub's GraphQL API answered the ${name} query with errors: ${summarise(problems)}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Every open pull request, page by page (100 a page). A page answered with
 * partial data keeps what came: the pull requests its errors touch are
 * `unreadable`, the nodes it could not give at all are counted `lost`; a page with no data stops the
 * read with a `GraphQLReadError`. Pages are read one after another, as
 * GitHub asks. The query has the shape @octokit/plugin-paginate-graphql pages;
 * this loop is its own so a partial page is kept instead of thrown away.
 */
export async function readOpenPulls(
  api: GitHubApi,
  repo: { owner: string; repo: string },
): Promise<{
  pulls: PullNode[];
  unreadable: Set<number>;
  lost: number;
  errors: GraphQLProblem[];
  pages: number;
  cost: number;
  rateLimit?: RateLimitData;
}> {
  const pulls: PullNode[] = [];
  const errors: GraphQLProblem[] = [];
  const unreadable = new Set<number>();
  let lost = 0;
  let cursor: string | null = null;
  let pages = 0;
  let cost = 0;
  let rateLimit: RateLimitData | undefined;
  for (;;) {
    const read: GraphQLRead<OpenPullsData> = await readGraphQL<OpenPullsData>(api, 'openPulls', OPEN_PULLS_QUERY, {
      owner: repo.owner,
      name: repo.repo,
      cursor,
    });
    pages += 1;
    const connection = read.data.repository?.pullRequests;
    if (!connection)
      throw new GraphQLReadError(
        `GitHub's GraphQL API answered the openPulls query without the pull requests of ${repo.owner}/${repo.repo}${read.errors.length ? `: ${summarise(read.errors)}` : ''}`,
      );
    errors.push(...read.errors);
    // An error under a pull request's node marks that one unreadable; a node GitHub could not give at all is lost.
    const hit = new Set<number>();
    for (const problem of read.errors) {
      const index =
        problem.path[0] === 'repository' && problem.path[1] === 'pullRequests' && problem.path[2] === 'nodes' ? problem.path[3] : undefined;
      if (typeof index === 'number') hit.add(index);
    }
    connection.nodes.forEach((node, index) => {
      if (node && hit.has(index)) unreadable.add(node.number);
      if (node) pulls.push(node);
      else lost += 1;
    });
    if (read.data.rateLimit) {
      rateLimit = read.data.rateLimit;
      cost += read.data.rateLimit.cost;
    }
    if (!connection.pageInfo.hasNextPage || !connection.pageInfo.endCursor) break;
    cursor = connection.pageInfo.endCursor;
  }
  return { pulls, unreadable, lost, errors, pages, cost, ...(rateLimit ? { rateLimit } : {}) };
}

/**
 * The state of every open pull request (`OPEN_PULL_STATES_QUERY`), page by
 * page. Undefined when any page came with errors or without a node: the
 * caller then reads everything, never acting on a partial picture.
 */
export async function readOpenPullStates(api: GitHubApi, repo: { owner: string; repo: string }): Promise<PullState[] | undefined> {
  const states: PullState[] = [];
  let cursor: string | null = null;
  for (;;) {
    const read: GraphQLRead<OpenPullStatesData> = await readGraphQL<OpenPullStatesData>(api, 'openPullStates', OPEN_PULL_STATES_QUERY, {
      owner: repo.owner,
      name: repo.repo,
      cursor,
    });
    const connection = read.data.repository?.pullRequests;
    if (!connection || read.errors.length > 0 || connection.nodes.some((node) => node === null)) return undefined;
    states.push(...(connection.nodes as PullState[]));
    if (!connection.pageInfo.hasNextPage || !connection.pageInfo.endCursor) return states;
    cursor = connection.pageInfo.endCursor;
  }
}

function problemsOf(errors: readonly unknown[]): GraphQLProblem[] {
  return errors.map((raw) => {
    const e = raw as { message?: unknown; path?: unknown; type?: unknown };
    return {
      message: typeof e.message === 'string' ? e.message : 'an error without a message',
      path: Array.isArray(e.path) ? e.path.filter((p): p is string | number => typeof p === 'string' || typeof p === 'number') : [],
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
    };
  });
}

/** A short account of GraphQL errors for a log line: the first few messages with their paths. */
export function summarise(problems: readonly GraphQLProblem[]): string {
  if (problems.length === 0) return 'no error was given';
  const shown = problems.slice(0, 3).map((p) => `${p.message}${p.path.length ? ` (at ${p.path.join('.')})` : ''}`);
  return `${shown.join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`;
}
