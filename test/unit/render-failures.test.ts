// What explain and status print about failing tests: an incident's fingerprint
// grouped by check and capped, a change's red checks with the failures an open
// incident knows, flaky tests reported for quarantine.
import { strict as assert } from 'node:assert';
import { renderCheckFailures, renderFlakes, renderIncidentExplain } from '../../extension/cli/render';
import type { CheckRun, FailureMark, FlakeRecord, Incident } from '../../extension/core/model';
import {
  checkFailures,
  flakesInWindow,
  incidentFailures,
  knownBy,
  redChecks,
  repositoryPath,
  testTitle,
  where,
} from '../../extension/protocol/failures';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 23, 22, 0, 0);

function incident(id: string, extra: Partial<Incident> = {}): Incident {
  return {
    id,
    status: 'open',
    lanes: ['web'],
    crossLane: false,
    unattributed: false,
    failureClass: 'test',
    classRule: 'the output matches "AssertionError"',
    tier: 'tier2',
    failingChecks: ['ci'],
    redSha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
    lastGreenSha: '0f1e2d3c4b5a69788796a5b4c3d2e1f001234567',
    suspects: [{ sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', change: 'agent/web-header', lane: 'web' }],
    remedy: 'fix',
    openedAt: NOW - 2 * HOUR,
    attempts: [],
    retries: 0,
    countedFailures: [],
    repairMerges: [],
    escalated: false,
    revertProposed: false,
    rationale: 'ci failure on main at a1b2c3d4: the failing tests are under lane web; class test; a fix is dispatched',
    ...extra,
  };
}

const webMark = (n: number): FailureMark => ({
  check: 'ci',
  test: `web/app.test.ts > header > renders the title for locale ${n}`,
  file: 'web/app.test.ts',
  line: 10 + n,
  lane: 'web',
  why: "web/app.test.ts is under lane web's paths",
});

describe('explain: an incident’s failing tests', () => {
  it('groups the failing tests by check with file:line, the lane and why, and names the check as a whole when no test is known', () => {
    const text = renderIncidentExplain(
      incident('inc-a1b2c3d', {
        failingChecks: ['ci', 'lint'],
        failures: [
          webMark(1),
          {
            check: 'lint',
            lane: 'web',
            why: 'no known test runner output was recognised; the check is attributed as a whole to lane web, which owns it',
          },
          webMark(2),
        ],
      }),
      NOW,
    );
    assert.match(text, /^inc-a1b2c3d — open, test \(the output matches "AssertionError"\), lane web, tier2/);
    assert.match(text, /red at a1b2c3d, last green 0f1e2d3; open 2h; remedy fix, retries 0/);
    assert.match(text, /failing tests \(3 failures in 2 checks\):/);
    const lines = text.split('\n');
    const ci = lines.indexOf('  ci (2)');
    assert.ok(ci > 0, text);
    assert.equal(lines[ci + 1], '    ✗ web/app.test.ts > header > renders the title for locale 1');
    assert.equal(lines[ci + 2], "      web/app.test.ts:11 → lane web: web/app.test.ts is under lane web's paths");
    const lint = lines.indexOf('  lint');
    assert.equal(lines[lint + 1], '    ✗ the check as a whole');
    assert.match(lines[lint + 2] ?? '', /^ {6}lane web: no known test runner output was recognised/);
  });

  it('shows the first 20 of 500 failures and says how many more, so the terminal is not flooded', () => {
    const failures = Array.from({ length: 500 }, (_, i) => webMark(i));
    const text = renderIncidentExplain(incident('inc-big', { failures }), NOW);
    assert.equal(text.split('\n').filter((l) => l.startsWith('    ✗ ')).length, 20);
    assert.match(text, /failing tests \(500 failures in 1 check\)/);
    assert.match(text, /… 480 more in ci/);
    assert.match(text, /\(480 not shown: --json lists all 500\)/);
    assert.ok(text.split('\n').length < 60, `${text.split('\n').length} lines`);
  });

  it('gives every check a line before any check a second, and lists a check as a whole before its tests', () => {
    const view = incidentFailures(
      {
        lanes: ['web'],
        failingChecks: ['ci', 'e2e'],
        failures: [
          webMark(1),
          webMark(2),
          webMark(3),
          {
            check: 'e2e',
            test: 'e2e/web/login.spec.ts > logs in',
            file: 'e2e/web/login.spec.ts',
            lane: 'web',
            why: "e2e/web/login.spec.ts is under lane web's tests",
          },
          { check: 'ci', lane: 'web', why: 'the output was cut; the check as a whole' },
        ],
      },
      3,
    );
    assert.deepEqual(
      view.groups.map((g) => [g.check, g.marks.map((m) => m.test ?? '(whole)'), g.total]),
      [
        ['ci', ['(whole)', webMark(1).test], 4],
        ['e2e', ['e2e/web/login.spec.ts > logs in'], 1],
      ],
    );
    assert.equal(view.hidden, 2);
  });

  it('explains an incident recorded before fingerprints by its failing checks', () => {
    const text = renderIncidentExplain(incident('inc-old', { failingChecks: ['test-web'] }), NOW);
    assert.match(
      text,
      /failing checks \(no failing tests on record\):\n {2}test-web\n {4}✗ the check as a whole\n {6}lane web: recorded before failing tests were read/,
    );
  });

  it('says so when a failure maps to no lane', () => {
    const text = renderIncidentExplain(
      incident('inc-un', {
        lanes: [],
        unattributed: true,
        failures: [
          {
            check: 'ci',
            test: 'tools/gen.test.ts > builds',
            file: 'tools/gen.test.ts',
            line: 4,
            why: 'tools/gen.test.ts is under no lane’s paths or tests',
          },
        ],
      }),
      NOW,
    );
    assert.match(text, /no lane \(unattributed\)/);
    assert.match(text, /tools\/gen\.test\.ts:4 → no lane: tools\/gen\.test\.ts is under no lane’s paths or tests/);
  });
});

describe('explain: text from check output is shown, never obeyed', () => {
  const spoof = 'web/a.test.ts > ok\n    ✗ api/forged.test.ts > blames api\u001b[2J\u202Egnp.exe';
  it('prints a test id, file, message and note with control and bidi characters escaped, each failure on its own two lines', () => {
    const incidentText = renderIncidentExplain(
      incident('inc-s', {
        failures: [{ check: 'ci', test: spoof, file: 'web/a\r.test.ts', line: 3, lane: 'web', why: 'under web\u001b[31m' }],
      }),
      NOW,
    );
    const changeText = renderCheckFailures([
      checkFailures(
        {
          name: 'ci',
          conclusion: 'failure',
          failuresNote: 'read\u001b]0;title\u0007',
          failures: [{ id: spoof, file: 'web/a.test.ts', line: 3 }],
        },
        [],
        ['web'],
      ),
    ]);
    for (const text of [incidentText, changeText]) {
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      assert.doesNotMatch(text, /^ +✗ api\/forged/m, 'a newline in a test id cannot forge a failure line');
      assert.match(text, /✗ web\/a\.test\.ts > ok\\n {4}✗ api\/forged\.test\.ts > blames api\\u\{1b\}\[2J\\u\{202e\}gnp\.exe/);
    }
  });
});

describe('explain: a change’s red checks', () => {
  // A shared check `ci` red on the target because of api's incident; the change is in lane web.
  const apiIncident = incident('inc-api0001', {
    lanes: ['api'],
    failures: [
      {
        check: 'ci',
        test: 'api/users.test.ts > lists users',
        file: 'api/users.test.ts',
        line: 31,
        lane: 'api',
        why: "api/users.test.ts is under lane api's paths",
      },
    ],
  });
  const ci: CheckRun = {
    name: 'ci',
    conclusion: 'failure',
    failures: [
      { id: 'api/users.test.ts > lists users', file: 'api/users.test.ts', line: 31, message: 'expected 3, got 2' },
      { id: 'web/app.test.ts > header > renders', file: 'web/app.test.ts', line: 12 },
    ],
    failuresComplete: true,
    failuresNote: 'read from JUnit XML reports/junit.xml',
  };

  it('for a failing check, marks which failures another lane’s open incident holds and which none does', () => {
    const view = checkFailures(ci, [apiIncident], ['web']);
    assert.equal(view.status, 'failing');
    assert.equal(view.unknown, 1);
    assert.deepEqual(
      view.failures.map((f) => f.known?.incident),
      ['inc-api0001', undefined],
    );
    assert.equal(
      renderCheckFailures([view]),
      [
        'red checks:',
        "  ci failure — blocks this change: 1 of 2 failing tests no other lane's incident holds",
        '    (read from JUnit XML reports/junit.xml)',
        '    ✗ api/users.test.ts > lists users',
        '      api/users.test.ts:31 — known: inc-api0001 (lane api)',
        '    ✗ web/app.test.ts > header > renders',
        "      web/app.test.ts:12 — no other lane's incident holds it",
      ].join('\n'),
    );
  });

  it('a check whose every failure another lane’s incident holds is excused, by that incident', () => {
    const only = { ...ci, failures: ci.failures?.slice(0, 1) ?? [] };
    const view = checkFailures(only, [apiIncident], ['web']);
    assert.equal(view.status, 'excused');
    assert.deepEqual(view.excusedBy, { incident: 'inc-api0001', lanes: ['api'] });
    const text = renderCheckFailures([view]);
    assert.match(text, /^ {2}ci failure — excused: only failures inc-api0001 \(lane api\) already holds$/m);
    assert.match(text, /api\/users\.test\.ts:31 — known: inc-api0001 \(lane api\)/);
  });

  it('the incident of the change’s own lane holds a failure but does not excuse it', () => {
    const only = { ...ci, failures: ci.failures?.slice(0, 1) ?? [] };
    const view = checkFailures(only, [apiIncident], ['api']);
    assert.equal(view.status, 'failing');
    assert.equal(view.unknown, 1);
    assert.match(
      renderCheckFailures([view]),
      /api\/users\.test\.ts:31 — held by inc-api0001 \(lane api\), this change's own lane: not excused/,
    );
  });

  it('counts the check as a whole, with why, when its failing tests could not be read; a test-level fingerprint does not hold it', () => {
    const view = checkFailures(
      {
        name: 'ci',
        conclusion: 'failure',
        failuresComplete: false,
        failuresNote: 'no known test runner output was recognised; the check is attributed as a whole',
      },
      [apiIncident],
      ['web'],
    );
    assert.equal(view.wholeCheck, true);
    assert.equal(view.wholeKnown, undefined);
    assert.equal(view.status, 'failing');
    assert.match(
      renderCheckFailures([view]),
      / {4}✗ the check as a whole\n {6}no known test runner output was recognised; the check is attributed as a whole — no other lane's incident holds it$/,
    );
  });

  it('a cut output lists the tests read and the check as a whole too, which keeps it from being excused', () => {
    const only = {
      ...ci,
      failures: ci.failures?.slice(0, 1) ?? [],
      failuresComplete: false,
      failuresNote: 'more than 500 failures; the rest are not listed',
    };
    const view = checkFailures(only, [apiIncident], ['web']);
    assert.equal(view.wholeCheck, true);
    assert.equal(view.unknown, 0);
    assert.equal(view.status, 'failing', 'the unlisted rest may be anything');
    assert.match(
      renderCheckFailures([view]),
      /✗ the check as a whole\n {6}more than 500 failures; the rest are not listed — no other lane's incident holds it\n {4}✗ api\/users/,
    );
  });

  it('a timed-out check fails as a whole even with a list, as the gate counts it', () => {
    assert.equal(checkFailures({ ...ci, conclusion: 'timed_out' }, [apiIncident], ['web']).wholeCheck, true);
  });

  it('does not count a flaky failure as unknown, says it is flaky, and a check of flaky failures only fails as a whole', () => {
    const view = checkFailures(
      { ...ci, failures: [{ id: 'web/clock.test.ts > ticks', file: 'web/clock.test.ts', line: 7, flaky: true }] },
      [],
      ['web'],
    );
    assert.equal(view.unknown, 0);
    assert.equal(view.wholeCheck, true);
    assert.match(renderCheckFailures([view]), /web\/clock\.test\.ts:7 — flaky \(passed on a re-run\)/);
  });

  it('caps a check’s failures and says how many more', () => {
    const many: CheckRun = {
      name: 'ci',
      conclusion: 'failure',
      failures: Array.from({ length: 300 }, (_, i) => ({ id: `web/t${i}.test.ts > case`, file: `web/t${i}.test.ts`, line: 1 })),
    };
    const view = checkFailures(many, [], ['web']);
    assert.equal(view.failures.length, 20);
    assert.equal(view.unknown, 300, 'the count covers the failures not shown');
    assert.match(renderCheckFailures([view]), /and 280 more \(--json lists them all\)/);
  });

  it('a whole-check entry or an incident recorded before fingerprints holds every failure of its check; a resolved one none', () => {
    const whole = incident('inc-w', { lanes: ['api'], failures: [{ check: 'ci', lane: 'api', why: 'the check as a whole' }] });
    assert.deepEqual(knownBy([whole], ['web'], 'ci', 'anything'), { incident: 'inc-w', lanes: ['api'], excuses: true });
    assert.equal(knownBy([whole], ['web'], 'lint', 'anything'), undefined);
    assert.equal(
      knownBy([incident('inc-legacy', { lanes: ['api'], failingChecks: ['ci'] })], ['web'], 'ci', undefined)?.incident,
      'inc-legacy',
    );
    assert.equal(knownBy([incident('inc-done', { status: 'resolved', failures: [webMark(1)] })], [], 'ci', webMark(1).test), undefined);
  });

  it('prefers the other lane’s incident, the oldest first, over the change’s own', () => {
    const mark = webMark(1);
    const own = incident('inc-own', { lanes: ['web'], failures: [mark], openedAt: NOW - 3 * HOUR });
    const newer = incident('inc-new', { lanes: ['api'], failures: [mark], openedAt: NOW - HOUR });
    const older = incident('inc-old', { lanes: ['docs'], failures: [mark], openedAt: NOW - 2 * HOUR });
    assert.equal(knownBy([own, newer, older], ['web'], 'ci', mark.test)?.incident, 'inc-old');
  });
});

describe('review panel: a change’s red checks', () => {
  const apiIncident = incident('inc-api0001', {
    lanes: ['api'],
    failures: [
      {
        check: 'ci',
        test: 'api/users.test.ts > lists users',
        file: 'api/users.test.ts',
        line: 31,
        lane: 'api',
        why: "api/users.test.ts is under lane api's paths",
      },
    ],
  });
  const ci: CheckRun = {
    name: 'ci',
    conclusion: 'failure',
    failures: [{ id: 'api/users.test.ts > lists users', file: 'api/users.test.ts', line: 31 }],
  };
  const entry = { lane: 'web', requiredChecks: ['ci', 'lint'] };

  it('lists the red required checks only, judged for the change’s lane', () => {
    const views = redChecks(
      [
        ci,
        { name: 'lint', conclusion: 'success' },
        { name: 'docs-build', conclusion: 'failure' },
        { name: 'lint', conclusion: 'failure', passedOnRerun: true },
      ],
      entry,
      [apiIncident],
    );
    assert.deepEqual(
      views.map((v) => [v.check, v.status, v.excusedBy?.incident]),
      [['ci', 'excused', 'inc-api0001']],
    );
    assert.deepEqual(
      redChecks([ci], { ...entry, lane: 'api' }, [apiIncident]).map((v) => v.status),
      ['failing'],
    );
  });
});

describe('status: flaky tests', () => {
  const flakes: Record<string, FlakeRecord> = {
    'ci > web/clock.test.ts > ticks': {
      check: 'ci',
      test: 'web/clock.test.ts > ticks',
      file: 'web/clock.test.ts',
      seen: [
        { sha: 'a', at: NOW - 9 * 24 * HOUR },
        { sha: 'b', at: NOW - 2 * HOUR },
        { sha: 'c', at: NOW - HOUR },
        { sha: 'd', at: NOW - 60_000 },
      ],
      reportedAt: NOW - 60_000,
    },
    'ci > api/retry.test.ts > backs off': { check: 'ci', test: 'api/retry.test.ts > backs off', seen: [{ sha: 'e', at: NOW - HOUR }] },
    e2e: { check: 'e2e', seen: [{ sha: 'f', at: NOW - 30 * 24 * HOUR }] },
  };

  it('counts flaky runs within the window only, most flaky first', () => {
    const view = flakesInWindow(flakes, 7 * 24 * HOUR, NOW);
    assert.deepEqual(
      view.map((f) => [f.test ?? f.check, f.count]),
      [
        ['web/clock.test.ts > ticks', 3],
        ['api/retry.test.ts > backs off', 1],
      ],
    );
  });

  it('lists the tests reported for quarantine with their count in the window, and nothing when none was reported', () => {
    const view = flakesInWindow(flakes, 7 * 24 * HOUR, NOW);
    assert.equal(
      renderFlakes(view, 7 * 24 * HOUR),
      'flaky tests reported for quarantine (flaky runs in the last 7d):\n    3×  ci > web/clock.test.ts > ticks',
    );
    assert.equal(
      renderFlakes(
        view.filter((f) => f.reportedAt === undefined),
        7 * 24 * HOUR,
      ),
      '',
    );
  });
});

describe('file paths from check output', () => {
  it('where() writes file:line, or the file alone without a usable line', () => {
    assert.equal(where('web/app.test.ts', 12), 'web/app.test.ts:12');
    assert.equal(where('web/app.test.ts', undefined), 'web/app.test.ts');
    assert.equal(where('web/app.test.ts', 0), 'web/app.test.ts');
    assert.equal(where(undefined, 12), undefined);
  });

  it('testTitle() drops the file a test id starts with, for the narrow tree; other ids stay whole', () => {
    assert.equal(testTitle('web/app.test.ts > header > renders'), 'header › renders');
    assert.equal(testTitle('tests/test_api.py::TestUsers::test_list'), 'TestUsers::test_list');
    assert.equal(testTitle('header > renders'), 'header > renders');
    assert.equal(testTitle('TestParse/empty_input'), 'TestParse/empty_input');
    assert.equal(testTitle('web/app.test.ts'), 'web/app.test.ts');
  });

  it('keeps paths inside the repository and refuses ones that climb out, are absolute or carry control characters', () => {
    assert.equal(repositoryPath('web/app.test.ts'), 'web/app.test.ts');
    assert.equal(repositoryPath('./web//app.test.ts'), 'web/app.test.ts');
    assert.equal(repositoryPath('web\\app.test.ts'), 'web/app.test.ts');
    assert.equal(repositoryPath('web/a b/ünïcode test.ts'), 'web/a b/ünïcode test.ts');
    for (const bad of [
      '../secrets.txt',
      'web/../../etc/passwd',
      '/etc/passwd',
      'C:\\Windows\\win.ini',
      'file:///etc/passwd',
      'web/app\u0000.ts',
      'web/app\n.ts',
      '',
      '.',
      './',
    ]) {
      assert.equal(repositoryPath(bad), undefined, JSON.stringify(bad));
    }
  });
});
