// Attribution end to end (SPEC §4.1, issue 15): real git repositories in temp
// folders and the built CLI, with breaks made as a user makes them — merges by
// hand, around the queue. Every lane has checks of its own here, and a failing
// check is one failure as a whole (no test-level report is read).
import { strict as assert } from 'node:assert';
import { runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface Incident {
  id: string;
  lanes: string[];
  crossLane: boolean;
  unattributed: boolean;
  retries: number;
  countedFailures: string[];
  attempts: { attempt: number; outcome: string; change?: string; reason?: string }[];
  failingChecks: string[];
  redSha: string;
  rationale: string;
  escalated: boolean;
}

interface QueueEntry {
  change: string;
  reasons: { code: string; message: string }[];
  notes: string[];
}

interface SyncDoc {
  global: { state: string; reason: string };
  lanes: { name: string; state: string; reason: string; queue: QueueEntry[]; incident: { id: string } | null }[];
  incidents: Incident[];
  decisions: { kind: string; lane?: string; change?: string; incident?: string; from?: string; to?: string; rationale: string }[];
  actions: { key: string; kind: string; status: string; message: string }[];
}

async function sync(sb: Sandbox): Promise<{ result: CliResult; doc: SyncDoc }> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json'], { timeoutMs: 150_000 });
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  return { result, doc: JSON.parse(result.stdout) as SyncDoc };
}

const lane = (doc: SyncDoc, name: string) => doc.lanes.find((l) => l.name === name);
const merged = (doc: SyncDoc) => doc.actions.filter((a) => a.kind === 'merge' && a.status === 'done').map((a) => a.key.split(':')[1]);
const entry = (doc: SyncDoc, change: string) => doc.lanes.flatMap((l) => l.queue).find((q) => q.change === change);
const laneStates = (doc: SyncDoc) => Object.fromEntries(doc.lanes.map((l) => [l.name, l.state]));
const fixBranches = (sb: Sandbox) =>
  sb.git('branch', '--list', '--format=%(refname:short)', 'buildmaster/fix/*').split('\n').filter(Boolean);
/** Every incident the store holds, open or resolved. */
const allIncidents = (sb: Sandbox) =>
  Object.values((sb.state().state?.incidents ?? {}) as unknown as Record<string, Incident & { status: string }>);

/** A branch off main merged by hand (`git merge --no-ff`), around the queue, as anyone with push access can. */
function handMerge(sb: Sandbox, name: string, files: Record<string, string>): string {
  sb.branch(name, files);
  sb.git('merge', '--quiet', '--no-ff', '-m', `Merge branch '${name}'`, name);
  return sb.head();
}

/** The store's check results of one commit of the target, by check name. */
function checksAt(sb: Sandbox, sha: string): Record<string, string> {
  const data = sb.state() as unknown as { checks: Record<string, { runs: { name: string; conclusion: string }[] }> };
  const runs = data.checks[`commit:${sha}`]?.runs ?? [];
  return Object.fromEntries(runs.map((run) => [run.name, run.conclusion]));
}

/** Lanes core, ui (whose check builds against core, as a UI package bundles its core package) and docs. */
function dependentLaneFiles(): Record<string, string> {
  return {
    '.buildmaster.yml': `target: main
lanes:
  - name: core
    paths: ["core/**"]
    checks: ["test-core"]
  - name: ui
    paths: ["ui/**"]
    checks: ["test-ui"]
  - name: docs
    paths: ["docs/**"]
    checks: ["test-docs"]
autonomy:
  merge: A4
  fix: A2
  revert: A2
dispatch:
  worker: command
  command: "sh scripts/fixer.sh"
  timeout: 1m
local:
  branches: ["agent/*"]
  checks:
    - name: test-core
      run: sh core/test.sh
    - name: test-ui
      run: sh ui/test.sh
    - name: test-docs
      run: sh docs/test.sh
  check_timeout: 30s
`,
    'core/status': 'ok\n',
    'core/test.sh': 'grep -qx ok core/status || { echo "1 failing: core/status is not ok"; exit 1; }\n',
    'ui/status': 'ok\n',
    // The UI build reads the core package: a core break fails it too.
    'ui/test.sh':
      'grep -qx ok core/status || { echo "ui build failed: cannot bundle core"; exit 1; }\ngrep -qx ok ui/status || { echo "1 failing: ui"; exit 1; }\n',
    'docs/index.md': '# docs\n',
    'docs/test.sh': 'test -s docs/index.md\n',
    'scripts/fixer.sh': 'cat > /dev/null\nprintf "ok\\n" > core/status\necho fixed core\n',
  };
}

describe('attribution: culprits from their diffs, hand merges included', function () {
  this.timeout(300_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a hand merge touching web/ and api/ that breaks both lanes is one cross-lane incident: global hold, exit 3, no fix, nothing merges', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/docs-1', { 'docs/one.md': 'one\n' });
    sb.branch('agent/web-2', { 'web/two.txt': '2\n' });
    const before = sb.head();
    const bad = handMerge(sb, 'agent/both-bad', { 'web/status': 'bad\n', 'api/status': 'bad\n' });

    const first = await sync(sb);
    assert.equal(first.result.code, 3, `a cross-lane break holds everything (exit 3): ${first.result.stderr}`);
    assert.equal(
      first.doc.incidents.length,
      1,
      `one culprit, one incident: ${JSON.stringify(first.doc.incidents.map((i) => [i.id, i.lanes]))}`,
    );
    const incident = first.doc.incidents[0] as Incident;
    assert.equal(incident.redSha, bad);
    assert.deepEqual(incident.lanes, ['api', 'web']);
    assert.equal(incident.crossLane, true);
    assert.deepEqual([...incident.failingChecks].sort(), ['test-api', 'test-web']);
    const opened = first.doc.decisions.filter((d) => d.kind === 'open-incident');
    assert.equal(opened.length, 1);
    assert.match(opened[0]?.rationale ?? '', /suspects span lanes api, web: cross-lane/);
    assert.match(opened[0]?.rationale ?? '', /the break spans lanes, so a person must look/);
    assert.equal(first.doc.global.state, 'global-hold');
    assert.match(first.doc.global.reason, new RegExp(`${incident.id} spans lanes api, web`));
    assert.ok(
      first.doc.decisions.some((d) => d.kind === 'escalate' && d.incident === incident.id),
      'a person is asked to look',
    );
    assert.deepEqual(
      first.doc.decisions.filter((d) => d.kind === 'dispatch-fix'),
      [],
      'no fix races on one culprit',
    );
    assert.deepEqual(fixBranches(sb), []);
    assert.deepEqual(merged(first.doc), [], 'nothing merges under a global hold');
    assert.ok(
      entry(first.doc, 'agent/docs-1')?.reasons.some((r) => r.code === 'global-hold'),
      JSON.stringify(entry(first.doc, 'agent/docs-1')),
    );

    const status = await runCli(['status', '--repo', sb.dir]);
    assert.equal(status.code, 3, status.stderr);
    assert.match(status.stdout, /global: global-hold — .*spans lanes api, web/);
    assert.match(status.stdout, new RegExp(`${incident.id} .* lanes api, web`));

    const again = await sync(sb);
    assert.equal(again.result.code, 3);
    assert.deepEqual(merged(again.doc), []);
    assert.equal(again.doc.incidents.length, 1, 'still one incident');
    assert.deepEqual(
      again.doc.decisions.filter((d) => d.kind === 'open-incident' || d.kind === 'dispatch-fix'),
      [],
    );
    assert.equal(sb.git('rev-list', '--count', `${before}..main`), '2', 'main holds only the hand merge (and its branch commit)');

    // A person reverts the culprit by hand: the incident is over, but only an owner's release ends the hold.
    sb.git('revert', '--no-edit', '-m', '1', 'HEAD');
    const repaired = await sync(sb);
    assert.equal(repaired.result.code, 3, repaired.result.stderr);
    assert.ok(
      repaired.doc.decisions.some((d) => d.kind === 'resolve-incident' && d.incident === incident.id),
      JSON.stringify(repaired.doc.decisions),
    );
    assert.deepEqual(repaired.doc.incidents, []);
    assert.deepEqual(laneStates(repaired.doc), { web: 'healthy', api: 'healthy', docs: 'healthy', shared: 'healthy' });
    assert.deepEqual(merged(repaired.doc), []);
    assert.equal((await runCli(['release', '--ack', '--repo', sb.dir])).code, 0);
    const released = await sync(sb);
    assert.equal(released.result.code, 0, released.result.stderr);
    assert.equal(released.doc.global.state, 'normal');
    assert.ok(merged(released.doc).includes('agent/docs-1'), `merging resumes: ${JSON.stringify(released.doc.actions)}`);
  });

  it('two hand merges in one window breaking two lanes are two contained incidents, each repaired in its own lane', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      'scripts/fixer.sh':
        'cat > /dev/null\ncase "$BUILDMASTER_FAILING_CHECKS" in\n  *test-api*) printf "ok\\n" > api/status ;;\n  *) printf "ok\\n" > web/status ;;\nesac\n',
    });
    const webBad = handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    const apiBad = handMerge(sb, 'agent/api-bad', { 'api/status': 'bad\n' });
    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);
    const byLane = Object.fromEntries(first.doc.incidents.map((i) => [i.lanes.join(','), i]));
    assert.deepEqual(Object.keys(byLane).sort(), ['api', 'web'], JSON.stringify(first.doc.incidents.map((i) => [i.id, i.lanes])));
    assert.ok(first.doc.incidents.every((i) => !i.crossLane));
    // Both failures show first at the head, but each narrows to the suspect that touched its lane.
    const suspects = (i: Incident) => ((i as unknown as { suspects?: { sha: string }[] }).suspects ?? []).map((s) => s.sha);
    assert.deepEqual(suspects(byLane.web as Incident), [webBad]);
    assert.deepEqual(suspects(byLane.api as Incident), [apiBad]);
    assert.equal(first.doc.global.state, 'incident-contained');
    assert.deepEqual(
      first.doc.decisions
        .filter((d) => d.kind === 'dispatch-fix')
        .map((d) => d.lane)
        .sort(),
      ['api', 'web'],
    );

    const second = await sync(sb);
    assert.deepEqual(
      merged(second.doc).sort(),
      [`buildmaster/fix/${byLane.api?.id}`, `buildmaster/fix/${byLane.web?.id}`].sort(),
      'each lane’s fix merges in its own lane',
    );
    const third = await sync(sb);
    assert.deepEqual(
      third.doc.decisions
        .filter((d) => d.kind === 'resolve-incident')
        .map((d) => d.lane)
        .sort(),
      ['api', 'web'],
    );
    assert.deepEqual(laneStates(third.doc), { web: 'healthy', api: 'healthy', docs: 'healthy', shared: 'healthy' });
    assert.ok(allIncidents(sb).every((i) => i.retries === 0 && i.status === 'resolved'));
  });

  it('a hand merge touching only core/ that also fails ui’s check is one incident on core; ui keeps merging; the fix resolves everything', async () => {
    sb = new Sandbox(dependentLaneFiles());
    sb.branch('agent/ui-1', { 'ui/one.txt': '1\n' });
    sb.branch('agent/ui-2', { 'ui/two.txt': '2\n' });
    const bad = handMerge(sb, 'agent/core-bad', { 'core/status': 'bad\n' });

    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);
    assert.deepEqual(
      checksAt(sb, bad),
      { 'test-core': 'failure', 'test-docs': 'success', 'test-ui': 'failure' },
      'the core break fails ui’s check too',
    );
    assert.equal(first.doc.incidents.length, 1, `one incident: ${JSON.stringify(first.doc.incidents.map((i) => [i.id, i.lanes]))}`);
    const incident = first.doc.incidents[0] as Incident;
    assert.deepEqual(incident.lanes, ['core'], 'on the lane the culprit touched');
    assert.equal(incident.crossLane, false);
    assert.deepEqual([...incident.failingChecks].sort(), ['test-core', 'test-ui'], 'it holds ui’s failure too');
    const opened = first.doc.decisions.find((d) => d.kind === 'open-incident');
    assert.match(
      opened?.rationale ?? '',
      /test-ui \(the check as a whole\) maps to lane ui \(check test-ui belongs to lane ui\), but no suspect touched lane ui: it belongs to the lanes the suspects changed/,
    );
    assert.deepEqual(laneStates(first.doc), { core: 'degraded', ui: 'healthy', docs: 'healthy', shared: 'healthy' });
    assert.equal(first.doc.global.state, 'incident-contained');
    const dispatches = first.doc.decisions.filter((d) => d.kind === 'dispatch-fix');
    assert.deepEqual(
      dispatches.map((d) => [d.incident, d.lane]),
      [[incident.id, 'core']],
      'the fixer goes to core, where the break is',
    );
    assert.deepEqual(fixBranches(sb), [`buildmaster/fix/${incident.id}`]);
    // ui's check is red on the change only with the failure core's incident holds: a known failure, not a block.
    assert.deepEqual(merged(first.doc), ['agent/ui-1'], 'ui keeps merging while core is broken');
    assert.ok(
      entry(first.doc, 'agent/ui-1')?.notes.some((n) => n.includes(`only with failures ${incident.id} in lane core already holds`)),
      JSON.stringify(entry(first.doc, 'agent/ui-1')),
    );

    const status = await runCli(['status', '--repo', sb.dir]);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /^ui\s+● healthy/m);
    assert.match(status.stdout, new RegExp(`^core\\s+◐ degraded.*${incident.id}`, 'm'));

    const second = await sync(sb);
    assert.equal(second.result.code, 0, second.result.stderr);
    assert.ok(merged(second.doc).includes(`buildmaster/fix/${incident.id}`), `the core fix merges: ${JSON.stringify(second.doc.actions)}`);
    assert.equal(second.doc.decisions.filter((d) => d.kind === 'open-incident').length, 0, 'ui’s post-merge red is no new incident');

    const third = await sync(sb);
    assert.equal(third.result.code, 0, third.result.stderr);
    assert.ok(
      third.doc.decisions.some((d) => d.kind === 'resolve-incident' && d.incident === incident.id),
      JSON.stringify(third.doc.decisions),
    );
    assert.deepEqual(third.doc.incidents, [], 'no incident stays open');
    assert.deepEqual(
      allIncidents(sb).map((i) => [i.id, i.status]),
      [[incident.id, 'resolved']],
      'only ever one incident',
    );
    assert.deepEqual(laneStates(third.doc), { core: 'healthy', ui: 'healthy', docs: 'healthy', shared: 'healthy' }, 'nothing stays paused');
    assert.equal(third.doc.global.state, 'normal');
    const landed = [...merged(second.doc), ...merged(third.doc)];
    if (!landed.includes('agent/ui-2')) landed.push(...merged((await sync(sb)).doc));
    assert.ok(landed.includes('agent/ui-2'), `ui merges on: ${landed.join(', ')}`);
    assert.equal(sb.git('show', 'main:core/status'), 'ok');
  });
  it('a core break with a harmless ui merge in the same window: core’s fix lands, every incident resolves, ui is never paused and the harmless merge never reverted', async () => {
    sb = new Sandbox(dependentLaneFiles());
    assert.equal((await sync(sb)).result.code, 0, 'a green target on record');
    handMerge(sb, 'agent/core-bad', { 'core/status': 'bad\n' });
    handMerge(sb, 'agent/ui-harmless', { 'ui/readme.txt': 'harmless\n' });
    const docs: SyncDoc[] = [];
    const first = await sync(sb);
    docs.push(first.doc);
    assert.equal(first.result.code, 0, first.result.stderr);
    const core = first.doc.incidents.find((i) => i.lanes.includes('core'));
    assert.ok(core, JSON.stringify(first.doc.incidents));
    assert.ok(
      first.doc.incidents.every((i) => !i.crossLane),
      'no global hold',
    );
    // With whole-check failures and no check run in between, ui's red may be put on the ui merge
    // (it touched ui); whatever ui holds, it must end when the failures are gone from the target.
    for (let i = 0; i < 4 && (docs.at(-1)?.incidents.length ?? 0) > 0; i++) docs.push((await sync(sb)).doc);
    const last = docs.at(-1) as SyncDoc;
    assert.deepEqual(
      last.incidents,
      [],
      `every incident resolves: ${JSON.stringify(allIncidents(sb).map((i) => [i.id, i.lanes, i.status]))}`,
    );
    assert.ok(allIncidents(sb).every((i) => i.status === 'resolved'));
    assert.deepEqual(laneStates(last), { core: 'healthy', ui: 'healthy', docs: 'healthy', shared: 'healthy' }, 'nothing stays paused');
    assert.equal(last.global.state, 'normal');
    assert.equal(sb.git('show', 'main:core/status'), 'ok');
    const decisions = docs.flatMap((doc) => doc.decisions);
    assert.deepEqual(
      decisions.filter((d) => d.kind === 'lane-transition' && d.lane === 'ui' && d.to === 'paused'),
      [],
      'ui is never paused',
    );
    assert.deepEqual(
      decisions.filter((d) => d.kind === 'propose-revert' || (d.kind === 'escalate' && d.lane === 'ui')),
      [],
      'nothing proposes reverting the harmless ui merge',
    );
    assert.equal(sb.git('show', 'main:ui/readme.txt'), 'harmless', 'the harmless merge stays');
  });
});

describe('attribution: from the head’s actual failures', function () {
  this.timeout(300_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('first run, no saved state, head green: an old red commit in the history opens nothing', async () => {
    sb = new Sandbox(threeLaneFiles());
    handMerge(sb, 'agent/web-old-bad', { 'web/status': 'bad\n' });
    handMerge(sb, 'agent/web-old-fix', { 'web/status': 'ok\n' });
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const { result, doc } = await sync(sb);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(doc.incidents, []);
    assert.deepEqual(
      doc.decisions.filter((d) => d.kind === 'open-incident' || d.kind === 'dispatch-fix'),
      [],
    );
    assert.deepEqual(fixBranches(sb), []);
    assert.equal(doc.global.state, 'normal');
    assert.deepEqual(merged(doc), ['agent/api-1']);
  });

  it('first run, no saved state, bisecting a red head: a check red on an old commit but green at the head opens no incident and gets no fix', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'scripts/fixer.sh': 'cat > /dev/null\nprintf "ok\\n" > api/status\n' });
    // Long ago web broke and was repaired; now api is broken at the head.
    const oldBad = handMerge(sb, 'agent/web-old-bad', { 'web/status': 'bad\n' });
    handMerge(sb, 'agent/web-old-fix', { 'web/status': 'ok\n' });
    const apiBad = handMerge(sb, 'agent/api-bad', { 'api/status': 'bad\n' });

    const { result, doc } = await sync(sb);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /bisecting/, 'no green commit on record: it bisects');
    // Only the span back to the nearest commit without api's failure is checked: the old, repaired web break is never reached.
    assert.equal(checksAt(sb, oldBad)['test-web'], undefined, 'the bisection stops at the nearest commit without the head’s failures');
    assert.equal(checksAt(sb, apiBad)['test-web'], 'success', 'web is green at the head');
    assert.equal(
      doc.incidents.length,
      1,
      `only the head's failure is an incident: ${JSON.stringify(doc.incidents.map((i) => [i.id, i.lanes, i.failingChecks]))}`,
    );
    const incident = doc.incidents[0] as Incident;
    assert.deepEqual(incident.lanes, ['api']);
    assert.deepEqual(incident.failingChecks, ['test-api']);
    assert.equal(incident.redSha, apiBad);
    assert.equal(lane(doc, 'web')?.state, 'healthy');
    assert.equal(lane(doc, 'api')?.state, 'degraded');
    assert.deepEqual(
      doc.decisions.filter((d) => d.kind === 'dispatch-fix').map((d) => d.incident),
      [incident.id],
      'the only fix is api’s',
    );
    assert.deepEqual(fixBranches(sb), [`buildmaster/fix/${incident.id}`]);
  });
  // A first run bisects for where the head's own failures began. A binary search over any check's
  // health assumed one red streak: with a break, its repair and a new break in the history it stopped
  // at the old break and blamed the old, repaired merge (a cross-lane hold) instead of agent/web-bad.
  it('first run, bisecting a history with an old repaired break: the head’s break is blamed on the head’s merge, not the old one', async () => {
    sb = new Sandbox(threeLaneFiles());
    handMerge(sb, 'agent/old-both', { 'web/status': 'bad\n', 'api/notes.txt': 'x\n' });
    handMerge(sb, 'agent/old-fix', { 'web/status': 'ok\n' });
    const webBad = handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    const { result, doc } = await sync(sb);
    assert.equal(result.code, 0, `no global hold: ${result.stderr} ${JSON.stringify(doc.global)}`);
    assert.equal(doc.incidents.length, 1);
    const incident = doc.incidents[0] as Incident & { suspects: { sha: string; change?: string }[] };
    assert.deepEqual(incident.lanes, ['web']);
    assert.deepEqual(
      incident.suspects.map((s) => s.sha),
      [webBad],
      'the merge that broke the head is the suspect',
    );
  });
});

describe('attribution: repairs judged by their own incident', function () {
  this.timeout(300_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a fix red only in a check another lane’s incident holds is no failed attempt, and merges', async () => {
    const files = threeLaneFiles();
    sb = new Sandbox({
      ...files,
      // test-all is no lane's: every change must pass it (required_checks: all), and it builds web and api together.
      '.buildmaster.yml': files['.buildmaster.yml'].replace(
        '  check_timeout: 30s',
        '    - name: test-all\n      run: sh web/test.sh && sh api/test.sh\n  check_timeout: 30s',
      ),
      // The fixer can repair api only; for anything else it gives up.
      'scripts/fixer.sh':
        'cat > /dev/null\ncase "$BUILDMASTER_FAILING_CHECKS" in\n  *test-api*) printf "ok\\n" > api/status ;;\n  *) echo "cannot fix $BUILDMASTER_FAILING_CHECKS" >&2; exit 1 ;;\nesac\n',
    });
    handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);
    assert.equal(first.doc.incidents.length, 1);
    const web = first.doc.incidents[0] as Incident;
    assert.deepEqual(web.lanes, ['web']);

    handMerge(sb, 'agent/api-bad', { 'api/status': 'bad\n' });
    const second = await sync(sb);
    assert.equal(second.result.code, 0, second.result.stderr);
    const api = second.doc.incidents.find((i) => i.id !== web.id);
    assert.ok(api, `a second incident: ${JSON.stringify(second.doc.incidents)}`);
    assert.deepEqual(api.lanes, ['api']);
    assert.deepEqual(api.failingChecks, ['test-api']);
    assert.equal(second.doc.incidents.length, 2);
    assert.ok(
      second.doc.incidents.every((i) => !i.crossLane),
      'each break is contained in its lane',
    );
    assert.equal(second.doc.global.state, 'incident-contained');
    assert.ok(second.doc.decisions.some((d) => d.kind === 'dispatch-fix' && d.incident === api.id));
    const fix = `buildmaster/fix/${api.id}`;
    assert.ok(fixBranches(sb).includes(fix));

    // api's fix: test-api passes, test-all is still red with web's break, which web's incident holds.
    const third = await sync(sb);
    assert.equal(third.result.code, 0, third.result.stderr);
    assert.ok(
      merged(third.doc).includes(fix),
      `api's fix merges: ${JSON.stringify(third.doc.actions)} ${JSON.stringify(entry(third.doc, fix))}`,
    );
    assert.ok(
      entry(third.doc, fix)?.notes.some((n) => n.includes('check "test-all" is failure') && n.includes(`${web.id} in lane web`)),
      JSON.stringify(entry(third.doc, fix)),
    );

    const fourth = await sync(sb);
    assert.ok(
      fourth.doc.decisions.some((d) => d.kind === 'resolve-incident' && d.incident === api.id),
      'api recovers while test-all stays red for web',
    );
    assert.equal(lane(fourth.doc, 'api')?.state, 'healthy');
    const outcomes = [first, second, third, fourth]
      .flatMap((s) => s.doc.decisions)
      .filter((d) => d.kind === 'outcome' && d.incident === api.id);
    assert.deepEqual(outcomes, [], 'api’s fix attempt never counted as failed');
    const record = allIncidents(sb).find((i) => i.id === api.id);
    assert.equal(record?.retries, 0);
    assert.deepEqual(record.countedFailures, []);
    assert.deepEqual(
      record.attempts.map((a) => a.outcome),
      ['merged'],
    );
    assert.ok(
      allIncidents(sb).some((i) => i.id === web.id && i.status === 'open'),
      'web’s incident is still open: test-all is still red for it',
    );
  });

  it('a target repaired by hand resolves the incident; the now-unneeded fix is withdrawn and never merges', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      'scripts/fixer.sh': 'cat > /dev/null\nprintf "ok\\n" > web/status\necho "repaired by the fixer" > web/fixed-by.txt\n',
    });
    sb.branch('agent/web-2', { 'web/two.txt': '2\n' });
    handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);
    const incident = first.doc.incidents[0] as Incident;
    assert.equal(lane(first.doc, 'web')?.state, 'degraded');
    const fix = `buildmaster/fix/${incident.id}`;
    assert.deepEqual(fixBranches(sb), [fix], 'a fix is pending');

    // Someone reverts the bad merge by hand before the fix lands.
    sb.git('revert', '--no-edit', '-m', '1', 'HEAD');
    const repaired = sb.head();

    const second = await sync(sb);
    assert.equal(second.result.code, 0, second.result.stderr);
    const resolved = second.doc.decisions.find((d) => d.kind === 'resolve-incident' && d.incident === incident.id);
    assert.match(
      resolved?.rationale ?? '',
      new RegExp(`test-web \\(the check as a whole\\) no longer fails on main at ${repaired.slice(0, 7)}`),
    );
    assert.deepEqual(second.doc.incidents, []);
    assert.ok(
      second.doc.decisions.some((d) => d.kind === 'lane-transition' && d.lane === 'web' && d.from === 'degraded' && d.to === 'healthy'),
    );
    assert.equal(second.doc.global.state, 'normal');
    assert.ok(!merged(second.doc).includes(fix));
    assert.ok(
      entry(second.doc, fix)?.reasons.some((r) => r.code === 'link-withdrawn'),
      JSON.stringify(entry(second.doc, fix)),
    );

    const explain = await runCli(['explain', fix, '--repo', sb.dir]);
    assert.match(
      explain.stdout,
      new RegExp(`link-withdrawn\\s+it is the fix for ${incident.id}, which is resolved: it is withdrawn and never merges`),
    );

    const landed = [...merged(second.doc)];
    for (let i = 0; i < 2; i++) landed.push(...merged((await sync(sb)).doc));
    assert.ok(!landed.includes(fix), `the withdrawn fix never merges: ${landed.join(', ')}`);
    assert.ok(landed.includes('agent/web-2'), `web merges again: ${landed.join(', ')}`);
    const repo = sb;
    assert.throws(() => repo.git('merge-base', '--is-ancestor', fix, 'main'), 'the fix is not in main');
    assert.equal(sb.git('show', 'main:web/status'), 'ok');
  });
  it('a paused lane (fixes exhausted, a revert proposed) repaired by hand: resolved, healthy, and neither the fix nor the revert merges', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'scripts/fixer.sh': 'cat > /dev/null\necho "attempt $BUILDMASTER_ATTEMPT" > web/note.txt\n' });
    handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    await sync(sb);
    await sync(sb);
    const exhausted = await sync(sb);
    assert.equal(lane(exhausted.doc, 'web')?.state, 'paused');
    const incident = exhausted.doc.incidents[0] as Incident;
    const revert = `buildmaster/revert/${incident.id}`;
    assert.ok(sb.git('branch', '--list', revert), 'a revert is proposed');

    sb.git('revert', '--no-edit', '-m', '1', 'HEAD');
    const repaired = await sync(sb);
    assert.ok(repaired.doc.decisions.some((d) => d.kind === 'resolve-incident' && d.incident === incident.id));
    assert.ok(
      repaired.doc.decisions.some((d) => d.kind === 'lane-transition' && d.lane === 'web' && d.from === 'paused' && d.to === 'healthy'),
    );
    assert.equal(repaired.doc.global.state, 'normal');
    for (const change of [`buildmaster/fix/${incident.id}`, revert]) {
      assert.ok(
        entry(repaired.doc, change)?.reasons.some((r) => r.code === 'link-withdrawn'),
        `${change}: ${JSON.stringify(entry(repaired.doc, change))}`,
      );
    }
    const landed = [...merged(repaired.doc), ...merged((await sync(sb)).doc)];
    assert.deepEqual(landed, [], 'neither the fix nor the revert merges');
  });
});

/** Lanes web and api share one check, `ci`, a real `node --test` run that writes a JUnit report. */
function sharedCheckFiles(): Record<string, string> {
  const test = (lane: string) =>
    `import test from 'node:test';\nimport assert from 'node:assert';\nimport { readFileSync } from 'node:fs';\ntest('${lane} status is ok', () => assert.equal(readFileSync('${lane}/status', 'utf8').trim(), 'ok'));\n`;
  return {
    '.buildmaster.yml': `target: main
lanes:
  - name: web
    paths: ["web/**"]
  - name: api
    paths: ["api/**"]
autonomy:
  merge: A4
  fix: A2
  revert: A2
dispatch:
  worker: command
  command: "sh scripts/fixer.sh"
  timeout: 1m
local:
  branches: ["agent/*"]
  checks:
    - name: ci
      run: mkdir -p reports && node --test --test-reporter=junit --test-reporter-destination=reports/junit.xml web/status.test.mjs api/status.test.mjs
      junit: reports/junit.xml
  check_timeout: 1m
`,
    'web/status': 'ok\n',
    'web/status.test.mjs': test('web'),
    'api/status': 'ok\n',
    'api/status.test.mjs': test('api'),
    // The fixer repairs the lane it is allowed to write, and only that one.
    'scripts/fixer.sh':
      'cat > /dev/null\ncase "$BUILDMASTER_ALLOWED_PATHS" in *web*) printf "ok\\n" > web/status;; esac\ncase "$BUILDMASTER_ALLOWED_PATHS" in *api*) printf "ok\\n" > api/status;; esac\n',
  };
}

describe('attribution: one shared check read down to its failing tests (JUnit)', function () {
  this.timeout(600_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('two lanes broken by two merges are two incidents; each lane’s fix is verified by its own test while the check stays red for the other', async () => {
    sb = new Sandbox(sharedCheckFiles());
    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);

    handMerge(sb, 'agent/web-bad', { 'web/status': 'bad\n' });
    const one = await sync(sb);
    assert.equal(one.result.code, 0, one.result.stderr);
    const web = one.doc.incidents.find((i) => i.lanes.includes('web'));
    assert.ok(web, JSON.stringify(one.doc.incidents));
    assert.deepEqual(web.lanes, ['web']);
    assert.equal(lane(one.doc, 'api')?.state, 'healthy', 'one shared check, but only web is broken');
    const webIncident = allIncidents(sb).find((i) => i.id === web.id) as unknown as {
      failures: { check: string; test?: string; file?: string; lane?: string }[];
    };
    assert.deepEqual(
      webIncident.failures.map((f) => [f.check, f.file, f.lane]),
      [['ci', 'web/status.test.mjs', 'web']],
      'the incident is its failing test, read from the JUnit report',
    );

    handMerge(sb, 'agent/api-bad', { 'api/status': 'bad\n' });
    const two = await sync(sb);
    assert.equal(two.result.code, 0, two.result.stderr);
    const api = allIncidents(sb).find((i) => i.lanes.includes('api') && i.status === 'open');
    assert.ok(api, 'a second break in the same check, with a different failing test, is a second incident');
    assert.equal(allIncidents(sb).filter((i) => i.status === 'open').length, 2);
    assert.equal(two.doc.global.state, 'incident-contained');
    assert.ok(
      merged(two.doc).includes(`buildmaster/fix/${web.id}`),
      `web's fix merges although ci is red for api: ${JSON.stringify(two.doc.actions)}`,
    );

    const three = await sync(sb);
    assert.equal(three.result.code, 0, three.result.stderr);
    const after = Object.fromEntries(allIncidents(sb).map((i) => [i.id, i.status]));
    assert.equal(after[web.id], 'resolved', 'web recovers by its own test');
    assert.equal(lane(three.doc, 'web')?.state, 'healthy');
    assert.equal(allIncidents(sb).find((i) => i.id === web.id)?.retries, 0, "api's red never counted against web's fix");

    // api's fix lands too; then everything is green and every incident is over.
    for (let i = 0; i < 3 && allIncidents(sb).some((x) => x.status === 'open'); i++) await sync(sb);
    assert.deepEqual(
      allIncidents(sb)
        .filter((i) => i.status === 'open')
        .map((i) => i.id),
      [],
    );
    const last = await sync(sb);
    assert.deepEqual(laneStates(last.doc), { web: 'healthy', api: 'healthy', shared: 'healthy' });
  });
});
