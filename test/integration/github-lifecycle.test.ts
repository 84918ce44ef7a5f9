// The lane lifecycle of SPEC §4 in GitHub mode, against the GitHub-compatible
// test server: merges per lane, a red target commit attributed to its lane, the
// fix issue, the fix PR merged first, recovery, a global hold and its release.
import { strict as assert } from 'node:assert';
import { operate } from '../../extension/controller/operate';
import { GitHubWorld } from '../../fixtures/github/world';
import { present } from '../support/builders';

describe('GitHub mode: the lane lifecycle', function () {
  this.timeout(120_000);
  let world: GitHubWorld;

  beforeEach(async () => {
    world = await GitHubWorld.start();
  });

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  it('merges per lane, isolates a broken lane, repairs it through a fix issue and PR, and recovers', async () => {
    const web = world.pull('agent/web-feature', { 'web/feature.js': 'export const f = 1;\n' });
    const api = world.pull('agent/api-feature', { 'api/feature.js': 'export const g = 1;\n' });
    await world.cycle();
    assert.ok(world.merged(web) && world.merged(api), 'one merge per lane in one cycle');
    assert.equal(world.mergesOf(web), 1);

    // A change green before merging is red after it (a semantic clash on main).
    const culprit = world.pull('agent/web-break', { 'web/break.js': 'export const b = 1;\n' });
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(culprit));
    const redSha = world.server.item(culprit)?.pull?.mergeCommit as string;
    world.server.setChecks(redSha, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL web/break.test.js\n  TypeError: b is not a function' },
      { name: 'test-api', conclusion: 'success' },
      { name: 'lint', conclusion: 'success', type: 'status' },
    ]);
    const waiting = world.pull('agent/web-next', { 'web/next.js': 'export const n = 1;\n' });
    world.advance(60_000);
    await world.cycle();
    let state = world.recorded();
    assert.equal(state.lanes.web?.state, 'degraded');
    assert.equal(state.lanes.api?.state, 'healthy');
    assert.equal(state.global.state, 'incident-contained');
    const incident = present(Object.values(state.incidents)[0], 'the incident');
    assert.deepEqual(incident.lanes, ['web']);
    assert.equal(incident.failureClass, 'test');

    // The fix issue: failing check, log excerpt, suspect PR, allowed paths, the incident id, the agent label.
    const fixIssue = world.server.issues().find((i) => i.labels.includes('agent'));
    assert.ok(fixIssue, 'a fix issue labelled for the coding agent');
    assert.match(fixIssue.body ?? '', new RegExp(incident.id));
    assert.match(fixIssue.body ?? '', /test-web/);
    assert.match(fixIssue.body ?? '', /TypeError: b is not a function/);
    assert.match(fixIssue.body ?? '', new RegExp(`#${culprit}`));
    assert.match(fixIssue.body ?? '', /`web\/\*\*`/);
    assert.match(fixIssue.body ?? '', new RegExp(`buildmaster/fix/${incident.id}`));
    assert.equal(world.merged(waiting), false, 'the degraded lane holds its ordinary changes');

    // The healthy lane keeps merging meanwhile.
    const api2 = world.pull('agent/api-more', { 'api/more.js': 'export const m = 1;\n' });
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(api2), 'api merges while web is degraded');
    // web is still broken on main after the api merge: its check stays red there until the fix lands.
    world.server.setChecks(world.server.item(api2)?.pull?.mergeCommit as string, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL web/break.test.js\n  TypeError: b is not a function' },
      { name: 'test-api', conclusion: 'success' },
      { name: 'lint', conclusion: 'success', type: 'status' },
    ]);

    // The coding agent answers with a fix PR linked by its body marker; it merges first in its lane.
    const fix = world.pull(
      'agent/fix-it',
      { 'web/break.js': 'export const b = () => 1;\n' },
      { body: `Fixes the break.\n\nbuildmaster:fix ${incident.id}` },
    );
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(fix), 'the fix merges');
    assert.equal(world.merged(waiting), false, 'the fix went first');
    world.advance(60_000);
    await world.cycle();
    state = world.recorded();
    assert.equal(state.lanes.web?.state, 'healthy');
    assert.equal(state.incidents[incident.id]?.status, 'resolved');
    const path = world.session.store
      .readEvents()
      .filter((e) => e.kind === 'lane-transition' && e.lane === 'web')
      .map((e) => e.to);
    assert.deepEqual(path, ['degraded', 'recovering', 'healthy']);
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(waiting), 'the held change merges after recovery');
    assert.equal(world.server.item(fixIssue.number)?.state, 'closed', 'the fix issue is closed on recovery');
    for (const n of [web, api, culprit, api2, fix, waiting]) assert.equal(world.mergesOf(n), 1, `#${n} merged exactly once`);
  });

  it('holds everything on a cross-lane incident until an owner releases it', async () => {
    const web = world.pull('agent/web-x', { 'web/x.js': '1\n' });
    const api = world.pull('agent/api-x', { 'api/x.js': '1\n' });
    await world.cycle();
    assert.ok(world.merged(web) && world.merged(api));
    // The web merge's CI is still running when the api merge turns lint (owned by no lane) red.
    world.server.setChecks(world.server.item(web)?.pull?.mergeCommit as string, [{ name: 'lint', conclusion: 'pending', type: 'status' }]);
    world.server.setChecks(world.server.item(api)?.pull?.mergeCommit as string, [
      { name: 'lint', conclusion: 'failure', output: 'eslint: 3 problems', type: 'status' },
    ]);
    const docs = world.pull('agent/docs', { 'docs/more.md': '# more\n' });
    world.advance(60_000);
    await world.cycle();
    let state = world.recorded();
    assert.equal(state.global.state, 'global-hold', state.global.reason);
    const incident = present(Object.values(state.incidents)[0], 'the incident');
    assert.equal(incident.crossLane, true);
    assert.equal(world.merged(docs), false, 'nothing merges under a global hold');
    const escalation = world.server.issues().find((i) => i.labels.includes('escalation'));
    assert.ok(escalation, 'an escalation issue is opened');
    assert.match(escalation.body ?? '', /Action required/);
    assert.match(escalation.body ?? '', new RegExp(incident.id));

    // Still held on later cycles: only an owner's acknowledgment releases it.
    world.advance(60_000);
    await world.cycle();
    assert.equal(world.recorded().global.state, 'global-hold');
    assert.equal(world.merged(docs), false);
    await operate(world.session, { kind: 'release', ack: true, by: 'octocat' }, () => undefined, world.now);
    world.advance(60_000);
    await world.cycle();
    state = world.recorded();
    assert.notEqual(state.global.state, 'global-hold');
    assert.ok(world.merged(docs), 'the docs lane merges again after the release');
    assert.equal(world.server.issues().filter((i) => i.labels.includes('escalation')).length, 1, 'one escalation issue, never repeated');
  });
});
