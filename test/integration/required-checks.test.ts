// Nothing merges untested, tier 3 is always human, withdrawn repairs never land:
// the core's guardrails seen end to end through the built CLI on real repositories.
import { strict as assert } from 'node:assert';
import { runCli } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface SyncDoc {
  lanes: { name: string; queue: { change: string; reasons: { code: string; message: string }[] }[] }[];
  decisions: { kind: string; change?: string }[];
  actions: { key: string; kind: string; status: string }[];
}

async function sync(sb: Sandbox): Promise<SyncDoc> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as SyncDoc;
}

const reasonsOf = (doc: SyncDoc, change: string) => doc.lanes.flatMap((l) => l.queue).find((q) => q.change === change)?.reasons ?? [];

describe('local mode: the core guardrails end to end', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a cross-lane change that breaks both of its lanes never merges (it needs every touched lane’s checks)', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/both', { 'web/status': 'bad\n', 'api/status': 'bad\n' });
    sb.branch('agent/stray', { Makefile: 'all:\n', 'web/status': 'bad\n' });
    const before = sb.head();
    const doc = await sync(sb);
    assert.equal(sb.head(), before, 'main did not move');
    assert.deepEqual(
      doc.actions.filter((a) => a.kind === 'merge'),
      [],
    );
    const both = reasonsOf(doc, 'agent/both')
      .filter((r) => r.code === 'check-failing')
      .map((r) => r.message);
    assert.deepEqual(both, ['required check "test-web" is failure', 'required check "test-api" is failure']);
    assert.ok(reasonsOf(doc, 'agent/stray').some((r) => r.code === 'check-failing' && /test-web/.test(r.message)));
  });

  it('a change that edits the policy to raise its own autonomy waits for a person', async () => {
    sb = new Sandbox(threeLaneFiles());
    const policy = sb.read('.buildmaster.yml').replace('merge: A4', 'merge: A5');
    sb.branch('agent/raise', { '.buildmaster.yml': `${policy}\nrisk:\n  tier3: []\n  tier1: [".buildmaster.yml"]\n` });
    const before = sb.head();
    const doc = await sync(sb);
    assert.equal(sb.head(), before);
    assert.ok(
      doc.decisions.some((d) => d.kind === 'request-approval' && d.change === 'agent/raise'),
      JSON.stringify(reasonsOf(doc, 'agent/raise')),
    );
    assert.ok(reasonsOf(doc, 'agent/raise').some((r) => r.code === 'needs-approval' || r.code === 'approval-pending'));
  });

  it('a repair branch for an incident that is not open is withdrawn, never merged', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('buildmaster/revert/inc-0000000', { 'web/other.txt': 'x\n' });
    const before = sb.head();
    const doc = await sync(sb);
    assert.equal(sb.head(), before);
    assert.deepEqual(
      reasonsOf(doc, 'buildmaster/revert/inc-0000000').map((r) => r.code),
      ['link-withdrawn'],
    );
  });
});
