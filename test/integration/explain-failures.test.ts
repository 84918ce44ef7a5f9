// explain and status on failing tests, through the built CLI on a real demo
// repository: three real cycles bring agent/web-rename's red test-web, then the
// store gets incidents read down to their tests (test/e2e/incidentFixture.ts)
// and a flaky test reported for quarantine.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoRepository } from '../../extension/cli/demo';
import type { ControllerState, Incident } from '../../extension/core/model';
import type { CheckFailures, FlakeView } from '../../extension/protocol/failures';
import { LONG_TEST, WEB_FAILURES, injectIncidentFailures } from '../e2e/incidentFixture';
import { runCli } from '../support/cli';

describe('explain and status: failing tests', function () {
  this.timeout(180_000);
  let work: string;
  let repo: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bm-explain-'));
    repo = join(work, 'shop');
    await createDemoRepository(repo);
    for (let i = 0; i < 3; i++) {
      const sync = await runCli(['sync', '--repo', repo]);
      assert.equal(sync.code, 0, sync.stderr);
    }
    injectIncidentFailures(repo);
    const file = join(repo, '.git', 'buildmaster', 'state.json');
    const store = JSON.parse(readFileSync(file, 'utf8')) as { state: ControllerState };
    const now = Date.now();
    store.state.flakes = {
      'test-web > web/clock.test.js > ticks': {
        check: 'test-web',
        test: 'web/clock.test.js > ticks',
        file: 'web/clock.test.js',
        seen: [
          { sha: 'a'.repeat(40), at: now - 30 * 86_400_000 },
          { sha: 'b'.repeat(40), at: now - 3_600_000 },
          { sha: 'c'.repeat(40), at: now - 60_000 },
          { sha: 'd'.repeat(40), at: now - 1000 },
        ],
        reportedAt: now - 1000,
      },
      'test-api > api/retry.test.js > backs off': {
        check: 'test-api',
        test: 'api/retry.test.js > backs off',
        seen: [{ sha: 'e'.repeat(40), at: now - 60_000 }],
      },
    };
    writeFileSync(file, JSON.stringify(store));
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('explain <incident> lists its failing tests by check with file:line, lane and why, capped; --json has them all', async () => {
    const text = await runCli(['explain', 'inc-e2eweb1', '--repo', repo]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^inc-e2eweb1 — open, test/);
    assert.match(text.stdout, new RegExp(`failing tests \\(${WEB_FAILURES} failures in 2 checks\\):`));
    assert.match(text.stdout, /\n {2}lint\n {4}✗ the check as a whole\n {6}lane web: no known test runner output was recognised/);
    assert.ok(text.stdout.includes(`    ✗ ${LONG_TEST}\n      web/app.js:1 → lane web: web/app.js is under lane web's paths`), text.stdout);
    assert.equal(text.stdout.split('\n').filter((l) => l.startsWith('    ✗ ')).length, 20);
    assert.match(text.stdout, /\(7 not shown: --json lists all 27\)/);
    const json = await runCli(['explain', 'inc-e2eweb1', '--repo', repo, '--json']);
    const doc = JSON.parse(json.stdout) as { incident: Incident };
    assert.equal(doc.incident.failures?.length, WEB_FAILURES);
  });

  it('explain <change> shows its red check down to the tests: which an open incident holds, and that its own lane’s does not excuse it', async () => {
    const text = await runCli(['explain', 'agent/web-rename', '--repo', repo]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /red checks:\n {2}test-web failure — blocks this change: 2 of 2 failing tests no other lane's incident holds/,
    );
    assert.match(text.stdout, /web\/app\.js:1 — held by inc-e2eweb1 \(lane web\), this change's own lane: not excused/);
    assert.match(text.stdout, /✗ web\/app\.test\.js > title > reads "Shop"\n {6}web\/app\.js:2 — no other lane's incident holds it/);
    const json = await runCli(['explain', 'agent/web-rename', '--repo', repo, '--json']);
    const doc = JSON.parse(json.stdout) as { checks: CheckFailures[] };
    assert.deepEqual(
      doc.checks.map((c) => [
        c.check,
        c.status,
        c.total,
        c.unknown,
        c.failures.map((f) => (f.known ? [f.known.incident, f.known.excuses] : null)),
      ]),
      [['test-web', 'failing', 2, 2, [['inc-e2eweb1', false], null]]],
    );
  });

  it('status lists the flaky tests reported for quarantine with their count in the window; --json has every flaky test', async () => {
    const text = await runCli(['status', '--repo', repo]);
    assert.match(
      text.stdout,
      /flaky tests reported for quarantine \(flaky runs in the last 7d\):\n {4}3× {2}test-web > web\/clock\.test\.js > ticks\n/,
    );
    assert.doesNotMatch(text.stdout, /retry\.test\.js/, 'a flaky test not reported is not listed in the text');
    assert.match(text.stdout, /inc-e2eweb1 {2}test {2}lanes web {2}red at \w+ {2}26 failing tests/);
    const json = await runCli(['status', '--repo', repo, '--json']);
    const doc = JSON.parse(json.stdout) as { flakes: FlakeView[] };
    assert.deepEqual(
      doc.flakes.map((f) => [f.test, f.count, f.reportedAt !== undefined]),
      [
        ['web/clock.test.js > ticks', 3, true],
        ['api/retry.test.js > backs off', 1, false],
      ],
    );
  });

  it('an unknown id names the open changes and the open incidents', async () => {
    const result = await runCli(['explain', 'inc-nope', '--repo', repo]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no open change "inc-nope"; open changes: agent\/web-rename; open incidents: inc-e2eweb1, inc-e2eapi1/);
  });
});
