// `npm run bench:github`: one controller against the GitHub-compatible test
// server with 500 open pull requests in 5 lanes. Counts what a cycle costs
// against GitHub's limits:
// - requests (every HTTP request, 304s included): GitHub's secondary limits
//   (900 REST points a minute, 100 in flight) count every one of them;
// - points: what the primary hourly limit (5,000 an hour) counts: a REST answer
//   that is not a 304, and a GraphQL query's cost (LoggedRequest.cost).
// Then an organisation estimate from measured unit costs at 100 pull requests
// (a full resync, a focused cycle for one pull request's event, a cycle after
// the target moved, a merge), for 50 repositories in webhook mode.
// Times do not include pacing: the world raises the per-minute budget.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoggedRequest } from '../fixtures/github/server';
import { GitHubWorld } from '../fixtures/github/world';

const LANES = ['web', 'api', 'docs', 'infra-tools', 'mobile'];

/** The organisation the estimate is for (issue 11). */
const ORG = { repos: 50, prsPerRepo: 100, mergesPerRepoPerHour: 4, pushesPerRepoPerHour: 10, resyncsPerHour: 6 } as const;

/** The targets (issue 11), and the column of the older design kept for comparison. */
const TARGETS = {
  idle_cycle_requests: 10,
  idle_cycle_points: 30,
  target_moved_cycle_points: 40,
  webhook_idle_requests_per_hour: 100,
  org_points_per_hour: 5000,
  idle_cycle_rate_limited_requests: 5,
} as const;

function isGraphQL(r: LoggedRequest): boolean {
  return r.path === '/graphql';
}

/** Points against the primary hourly limit: a REST answer that is not a 304 is 1, a GraphQL query its cost. */
function pointsOf(requests: LoggedRequest[]): number {
  return requests.reduce((n, r) => n + (isGraphQL(r) ? (r.cost ?? 1) : r.status === 304 ? 0 : 1), 0);
}

interface Measured {
  label: string;
  requests: number;
  rateLimited: number;
  notModified: number;
  graphql: number;
  points: number;
  ms: number;
}

/** A world with `perLane` open pull requests in each of the five lanes, none approved (nothing merges by itself). */
async function openWorld(perLane: number): Promise<GitHubWorld> {
  const world = await GitHubWorld.start({ extraPolicy: '' });
  // Each lane requires the `lint` status the test CI reports on every commit; an approved, green change merges on its own (A4).
  const lanes = LANES.map((name) => `  - name: ${name}\n    paths: ["${name}/**"]\n    checks: ["lint"]\n`).join('');
  const policy = `target: main\nlanes:\n${lanes}merge:\n  required_approvals: 1\nautonomy:\n  merge: A4\ngithub:\n  repository: acme/app\n  api_url: ${world.server.url}\n`;
  writeFileSync(join(world.workspace, '.buildmaster.yml'), policy);
  await world.open();
  for (const lane of LANES)
    for (let i = 0; i < perLane; i += 1)
      world.origin.commit(`agent/${lane}-${i}`, { [`${lane}/change-${i}.txt`]: `${lane} ${i}\n` }, `${lane} change ${i}`, 'main');
  world.server.refsChanged();
  for (const lane of LANES)
    for (let i = 0; i < perLane; i += 1) world.server.openPull({ head: `agent/${lane}-${i}`, title: `${lane} change ${i}` });
  return world;
}

async function measure(world: GitHubWorld, label: string, cycle: () => Promise<unknown> = () => world.cycle()): Promise<Measured> {
  world.advance(1000);
  const from = world.server.requests.length;
  const started = performance.now();
  await cycle();
  const ms = performance.now() - started;
  const requests = world.server.requests.slice(from);
  return {
    label,
    requests: requests.length,
    // REST answers that are not 304: what REST's primary limit counts (GraphQL has its own budget, in points).
    rateLimited: world.server.rateLimited(requests.filter((r) => !isGraphQL(r))),
    notModified: requests.filter((r) => r.status === 304).length,
    graphql: requests.filter(isGraphQL).length,
    points: pointsOf(requests),
    ms,
  };
}

/** Runs cycles until one reads nothing new (the cold cycle's own writes are read back once). */
async function settle(world: GitHubWorld): Promise<void> {
  for (let i = 0; i < 3; i += 1) if ((await measure(world, 'settle')).rateLimited === 0) return;
}

/** The target moves without Build Master: a person merges (pushes) onto main. */
function personMergesIntoTarget(world: GitHubWorld, n: number): void {
  world.server.push('main', { [`README-${n}.md`]: `merged by a person ${n}\n` }, `a person merges ${n}`, 'main');
}

/** The 500-PR repository: today's columns, the idle and target-moved costs, webhook mode's idle cost. */
async function repository(): Promise<{ rows: Measured[]; result: Record<string, number> }> {
  const world = await openWorld(100);
  try {
    const cold = await measure(world, 'cold cycle');
    // The cold cycle wrote (the status digest issue): the next one reads that change once.
    const second = await measure(world, 'second cycle (reads its own writes)');
    const idle = await measure(world, 'idle cycle');
    // A new process (cron `build-master sync`): the ETag cache is read from disk.
    await world.open();
    const restarted = await measure(world, 'idle cycle, new process');
    personMergesIntoTarget(world, 1);
    const moved = await measure(world, 'target moved (a person merged into main)');
    await settle(world);
    // Webhook mode, idle: nothing arrives, the safety resync (every 10 minutes) is a full cycle.
    const resync = await measure(world, 'safety resync (webhook mode, idle)');
    return {
      rows: [cold, second, idle, restarted, moved, resync],
      result: {
        cold_cycle_requests: cold.requests,
        cold_cycle_rate_limited_requests: cold.rateLimited,
        second_cycle_rate_limited_requests: second.rateLimited,
        idle_cycle_requests: idle.requests,
        idle_cycle_rate_limited_requests: idle.rateLimited,
        idle_cycle_new_process_rate_limited_requests: restarted.rateLimited,
        idle_cycle_points: idle.points,
        target_moved_cycle_points: moved.points,
        target_moved_cycle_requests: moved.requests,
        resync_cycle_requests: resync.requests,
        webhook_idle_requests_per_hour: ORG.resyncsPerHour * resync.requests,
        cold_cycle_ms: Math.round(cold.ms),
        idle_cycle_ms: Math.round(idle.ms),
      },
    };
  } finally {
    await world.stop();
  }
}

/** Unit costs at the organisation's size (100 pull requests), in points. */
async function unitCosts(): Promise<{ rows: Measured[]; costs: Record<'resync' | 'push' | 'target_moved' | 'merge', number> }> {
  const world = await openWorld(ORG.prsPerRepo / LANES.length);
  try {
    await measure(world, 'cold');
    await settle(world);
    const resync = await measure(world, 'org: full resync cycle');
    // A push to one pull request (a `pull_request: synchronize` delivery): a cycle focused on it while its checks
    // run, and another when they complete (`check_suite: completed`).
    const pushed = world.server.push('agent/web-0', { 'web/change-0.txt': 'web 0, pushed again\n' }, 'push to #1', 'agent/web-0');
    world.server.setChecks(pushed, [{ name: 'lint', conclusion: 'pending' }]);
    const push = await measure(world, 'org: focused cycle, one pull request pushed (checks running)', () =>
      world.cycle({ changes: ['#1'], target: false, issues: false }),
    );
    world.server.setChecks(pushed, [{ name: 'lint', conclusion: 'success' }]);
    const checked = await measure(world, 'org: focused cycle, its checks completed', () =>
      world.cycle({ changes: ['#1'], target: false, issues: false }),
    );
    await settle(world);
    // A merge: the approval arrives (`pull_request_review`), the focused cycle merges it.
    const number = world.server.pulls().find((p) => p.state === 'open' && p.pull?.head === 'agent/api-0')?.number;
    if (number === undefined) throw new Error('bench: the pull request to merge is missing');
    world.server.review(number, 'alice', 'APPROVED');
    const merge = await measure(world, 'org: focused cycle that merges one pull request', () =>
      world.cycle({ changes: [`#${number}`], target: false, issues: false }),
    );
    if (!world.merged(number)) throw new Error(`bench: #${number} was approved and green but not merged`);
    // Its `push` to the target arrives: every other pull request's mergeability is GitHub's to recompute.
    const moved = await measure(world, 'org: target moved (the merge above)', () =>
      world.cycle({ changes: [], target: true, issues: false }),
    );
    // The target's own checks complete on the merge (`check_suite: completed` on the target).
    const targetChecked = await measure(world, 'org: the target’s checks completed', () =>
      world.cycle({ changes: [], target: true, issues: false }),
    );
    return {
      rows: [resync, push, checked, merge, moved, targetChecked],
      costs: {
        resync: resync.points,
        push: push.points + checked.points,
        target_moved: moved.points + targetChecked.points,
        merge: merge.points,
      },
    };
  } finally {
    await world.stop();
  }
}

async function main(): Promise<void> {
  const repo = await repository();
  const org = await unitCosts();
  const c = org.costs;
  const perRepo = ORG.resyncsPerHour * c.resync + ORG.mergesPerRepoPerHour * (c.merge + c.target_moved) + ORG.pushesPerRepoPerHour * c.push;
  const orgPoints = ORG.repos * perRepo;

  console.log('| cycle | requests | rate-limited (not 304) | 304 | GraphQL | points | time |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of [...repo.rows, ...org.rows])
    console.log(
      `| ${row.label} | ${row.requests} | ${row.rateLimited} | ${row.notModified} | ${row.graphql} | ${row.points} | ${(row.ms / 1000).toFixed(2)} s |`,
    );
  const values: Record<keyof typeof TARGETS, number> = {
    idle_cycle_requests: repo.result.idle_cycle_requests ?? NaN,
    idle_cycle_points: repo.result.idle_cycle_points ?? NaN,
    target_moved_cycle_points: repo.result.target_moved_cycle_points ?? NaN,
    webhook_idle_requests_per_hour: repo.result.webhook_idle_requests_per_hour ?? NaN,
    org_points_per_hour: orgPoints,
    idle_cycle_rate_limited_requests: Math.max(
      repo.result.idle_cycle_rate_limited_requests ?? NaN,
      repo.result.idle_cycle_new_process_rate_limited_requests ?? NaN,
    ),
  };
  const meets = Object.fromEntries(Object.entries(TARGETS).map(([key, target]) => [key, values[key as keyof typeof TARGETS] <= target]));
  const result = {
    benchmark: 'github-cycle',
    open_prs: LANES.length * 100,
    lanes: LANES.length,
    ...repo.result,
    webhook_estimate: {
      formula:
        'resyncs_per_hour × resync_cycle_requests: idle, `serve --webhooks` reads GitHub only in its safety resync (a full cycle every 10 minutes; its only timer, controller/serve.ts)',
      resyncs_per_hour: ORG.resyncsPerHour,
    },
    org_points_per_hour: orgPoints,
    org_estimate: {
      formula:
        'repos × (resyncs_per_hour × resync + merges_per_repo_per_hour × (merge + target_moved) + pushes_per_repo_per_hour × push), unit costs in points measured at prs_per_repo open pull requests; push = a focused cycle while its checks run + one when they complete; target_moved = a target-focused cycle for the push to the target + one when the target’s checks complete',
      ...ORG,
      unit_costs: c,
    },
    limits: {
      primary_points_per_hour: 5000,
      secondary_rest_points_per_minute: 900,
      secondary_concurrent_requests: 100,
      secondary_graphql_points_per_minute: 2000,
    },
    target: TARGETS,
    meets_target: meets,
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'github.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log('');
  for (const [key, target] of Object.entries(TARGETS))
    console.log(`${key}: ${values[key as keyof typeof TARGETS]} (target ≤ ${target}): ${meets[key] ? 'met' : 'NOT met'}`);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
