// `build-master run --progress FILE --plan-only` (issue 13): the real CLI reads a progress
// file and says which rows a round of agents would take and why the others wait; bad
// input names the line and the reason and exits 2. Nothing is started.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';

const PROGRESS = {
  rows: [
    { id: 'a', phase: 1, status: 'done', done_signal: 'a-done' },
    { id: 'b', phase: 1, blocked_by: ['a'], write_scope: ['web/**'], test_commands: ['npm test'], done_signal: 'b-done' },
    { id: 'c', phase: 2, blocked_by: ['b'] },
    { id: 'd', phase: 1, slice_size: 'umbrella' },
    { id: 'e', phase: 4 },
    { id: 'f', phase: 1, ready_when: ['deploy-green'] },
    { id: 'g', phase: 2 },
  ],
};

describe('run --plan-only: a progress file read into the rows that would run', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-plan-'));
    writeFileSync(join(dir, 'progress.json'), JSON.stringify(PROGRESS, null, 2));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes only eligible rows, contract rows first, up to --agents, and says why each other row waits', async () => {
    const result = await runCli(['run', '--progress', 'progress.json', '--plan-only', '--agents', '2'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^2 row\(s\) would run now \(max 2 agent\(s\), phases up to 3\): b, g$/m);
    for (const [row, verdict] of [
      ['a', 'done'],
      ['c', 'blocked'],
      ['d', 'umbrella'],
      ['e', 'above-max-phase'],
      ['f', 'waiting-signal'],
    ])
      assert.match(result.stdout, new RegExp(`^${row}\\s+\\d\\s+${verdict}\\s+\\S`, 'm'), `row ${row}: ${verdict}\n${result.stdout}`);
    assert.match(result.stdout, /nothing was started/);

    const one = await runCli(['run', '--progress', 'progress.json', '--plan-only', '--json'], { cwd: dir });
    assert.equal(one.code, 0, one.stderr);
    const doc = JSON.parse(one.stdout) as { selected: string[]; max_agents: number; rows: { row: string; verdict: string }[] };
    assert.deepEqual(doc.selected, ['b'], 'one agent by default: the contract row');
    assert.equal(doc.rows.find((r) => r.row === 'g')?.verdict, 'agents-full');
  });

  it('names the line and the reason of each problem, a blocked_by cycle included, and exits 2', async () => {
    writeFileSync(
      join(dir, 'bad.json'),
      '{\n  "rows": [\n    { "id": "a", "phase": 1, "blocked_by": ["b"] },\n    { "id": "b", "phase": 1, "blocked_by": ["a"] },\n    { "id": "c", "phase": "one" }\n  ]\n}\n',
    );
    const result = await runCli(['run', '--progress', 'bad.json', '--plan-only'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.json:5: row c: .*phase/);
    assert.match(result.stderr, /bad\.json:\d+: row [ab]: blocked_by forms a cycle: (a → b → a|b → a → b)/);
    assert.match(result.stderr, /2 problem\(s\) in bad\.json; nothing runs until they are fixed/);
    assert.equal(result.stdout, '');
  });

  it('refuses a missing file, a run without --plan-only and a bad --agents with a message and exit 2', async () => {
    const missing = await runCli(['run', '--progress', 'nope.json', '--plan-only'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the progress file nope\.json: it does not exist/);
    // Applying a plan runs agents in a repository: outside one, the run says so and starts nothing.
    const apply = await runCli(['run', '--progress', 'progress.json'], { cwd: dir });
    assert.equal(apply.code, 2);
    assert.match(apply.stderr, /is not inside a git repository/);
    const agents = await runCli(['run', '--progress', 'progress.json', '--plan-only', '--agents', '0'], { cwd: dir });
    assert.equal(agents.code, 2);
    assert.match(agents.stderr, /--agents takes a whole number/);
    const typo = await runCli(['run', '--progres', 'progress.json', '--plan-only'], { cwd: dir });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown option --progres; did you mean --progress\?/);
  });
});
