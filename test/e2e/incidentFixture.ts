// A store with open incidents read down to their failing tests, the way the
// controller records them (an incident's fingerprint, a check's failures), so
// the cockpit's incident views can be shown and screenshotted on real data
// shapes before a cycle produces them. Long test ids and more failures than a
// view lists are on purpose: they must not break the layout.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckRun, ControllerState, FailureMark, Incident } from '../../extension/core/model';

/** The failing test the demo's web check stands for; its id is long on purpose. */
export const LONG_TEST =
  'web/app.test.js > greeting > greets the customer by name in every supported locale, including the long BCP 47 tags such as de-CH-u-co-phonebk-x-private-use';
export const WEB_FAILURES = 27;

interface StoreFile {
  state: ControllerState;
  checks: Record<string, { runs: CheckRun[]; at: number }>;
}

export function injectIncidentFailures(repo: string, now = Date.now()): { web: string; api: string } {
  const file = join(repo, '.git', 'buildmaster', 'state.json');
  const store = JSON.parse(readFileSync(file, 'utf8')) as StoreFile;
  const head = (sha: string | undefined) => sha ?? '0'.repeat(40);
  const red = head(store.state.lastGreenSha);
  const webMarks: FailureMark[] = [
    { check: 'test-web', test: LONG_TEST, file: 'web/app.js', line: 1, lane: 'web', why: "web/app.js is under lane web's paths" },
    ...Array.from({ length: WEB_FAILURES - 2 }, (_, i): FailureMark => ({
      check: 'test-web',
      test: `web/app.test.js > checkout > step ${i + 1} keeps the basket`,
      file: 'web/app.js',
      line: 2,
      lane: 'web',
      why: "web/app.js is under lane web's paths",
    })),
    {
      check: 'lint',
      lane: 'web',
      why: 'no known test runner output was recognised; the check is attributed as a whole to lane web, which owns it',
    },
  ];
  const incident = (id: string, lane: string, failures: FailureMark[], checks: string[]): Incident => ({
    id,
    status: 'open',
    lanes: [lane],
    crossLane: false,
    unattributed: false,
    failureClass: 'test',
    classRule: 'the output matches "AssertionError"',
    tier: 'tier2',
    failingChecks: checks,
    failures,
    redSha: red,
    suspects: [{ sha: red, change: `agent/${lane}-break`, lane }],
    remedy: 'fix',
    openedAt: now - 25 * 60_000,
    attempts: [],
    retries: 0,
    countedFailures: [],
    repairMerges: [],
    escalated: false,
    revertProposed: false,
    rationale: `${checks.join(', ')} failure on main at ${red.slice(0, 7)}: the failing tests are under lane ${lane}; class test; a fix is dispatched`,
  });
  const web = incident('inc-e2eweb1', 'web', webMarks, ['test-web', 'lint']);
  const api = incident(
    'inc-e2eapi1',
    'api',
    [
      {
        check: 'test-api',
        test: 'api/server.test.js > routes > serves /health',
        file: 'api/server.js',
        line: 1,
        lane: 'api',
        why: "api/server.js is under lane api's paths",
      },
    ],
    ['test-api'],
  );
  store.state.incidents[web.id] = web;
  store.state.incidents[api.id] = api;
  for (const [lane, id] of [
    ['web', web.id],
    ['api', api.id],
  ] as const) {
    const state = store.state.lanes[lane];
    if (state)
      Object.assign(state, {
        state: 'degraded',
        incident: id,
        since: now - 25 * 60_000,
        reason: `incident ${id}: its failing tests are this lane's`,
      });
  }
  store.state.global = { ...store.state.global, state: 'incident-contained', reason: 'lanes web, api have incidents' };
  // agent/web-rename's red test-web, read down to its tests: one the web incident knows, one no incident does.
  for (const entry of Object.values(store.checks)) {
    for (const run of entry.runs) {
      if (run.name !== 'test-web' || run.conclusion !== 'failure') continue;
      run.failures = [
        { id: LONG_TEST, file: 'web/app.js', line: 1, message: "AssertionError: expected greeting to be 'hello'" },
        {
          id: 'web/app.test.js > title > reads "Shop"',
          file: 'web/app.js',
          line: 2,
          message: 'AssertionError: expected title to be defined',
        },
      ];
      run.failuresComplete = true;
      run.failuresNote = 'read from the mocha output';
    }
  }
  writeFileSync(file, JSON.stringify(store));
  return { web: web.id, api: api.id };
}
