// The state branch's pieces without GitHub: the runner protocol reader, the
// layout of a state commit (segments of the event log, facts beside the state),
// and the compare-and-swap loop against an in-memory ref store whose writes
// another "run" can race.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotation, escapeData, inputVariable, readBooleanInput, readInput, writeOutput } from '../../extension/action/inputs';
import { onStateRef, StateRaceError } from '../../extension/controller/on-ref';
import { isStateBranch, touchesStateBranch } from '../../extension/core/state-branch';
import {
  collect,
  gitBlobSha,
  materialise,
  segmentOf,
  stateBranchOf,
  type SaveOutcome,
  type StateBackend,
  type StateCommit,
} from '../../extension/github/state-ref';
import { InputError } from '../../extension/ports';
import { Store } from '../../extension/store/store';

/** A ref holding commits of files, moved only from the commit a writer read (like updateRef with force: false). */
class MemoryRef implements StateBackend {
  readonly branch = 'buildmaster/state';
  head: string | undefined;
  private commits = new Map<string, Map<string, string>>();
  /** Paths each write uploaded (changed files only). */
  uploads: string[][] = [];
  /** Runs before a save is judged: a test's other writer. */
  beforeSave?: () => Promise<void>;

  load(): Promise<StateCommit> {
    const files = this.head ? (this.commits.get(this.head) ?? new Map<string, string>()) : new Map<string, string>();
    const entries = new Map([...files].map(([path, content]) => [path, gitBlobSha(content)]));
    return Promise.resolve({
      commit: this.head,
      tree: this.head,
      entries,
      read: (path: string) => Promise.resolve(files.get(path) ?? ''),
    });
  }

  /** The commit messages of every save, in order. */
  messages: string[] = [];

  async save(base: StateCommit, files: ReadonlyMap<string, string>, message = ''): Promise<SaveOutcome> {
    this.messages.push(message);
    const hook = this.beforeSave;
    this.beforeSave = undefined;
    await hook?.();
    const changed = [...files].filter(([path, content]) => base.entries.get(path) !== gitBlobSha(content));
    if (changed.length === 0 && base.commit) return { kind: 'unchanged' };
    if (this.head !== base.commit) return { kind: 'lost', why: 'Update is not a fast forward' };
    const next = new Map(base.commit ? this.commits.get(base.commit) : []);
    for (const [path, content] of changed) next.set(path, content);
    const id = `c${this.commits.size + 1}`;
    this.commits.set(id, next);
    this.head = id;
    this.uploads.push(changed.map(([path]) => path));
    return { kind: 'written', commit: id };
  }

  file(path: string): string {
    return (this.head && this.commits.get(this.head)?.get(path)) || '';
  }

  events(): { seq: number; message: string; type: string }[] {
    const files = this.head ? [...(this.commits.get(this.head)?.keys() ?? [])].filter((p) => p.startsWith('events/')).sort() : [];
    return files.flatMap((path) =>
      this.file(path)
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { seq: number; message: string; type: string }),
    );
  }
}

/** One "cycle": a few events and a done action record, as a cycle leaves them. */
function cycleOf(name: string) {
  return async (store: Store): Promise<string> => {
    store.append([{ at: 1, type: 'info', message: `${name} ran` }]);
    store.data.actions[`merge:#${name}:abc`] = {
      key: `merge:#${name}:abc`,
      kind: 'merge',
      status: 'done',
      decision: { kind: 'merge', rationale: name, key: `merge:#${name}:abc` },
      startedAt: 1,
      finishedAt: 2,
      result: `merged #${name}`,
      attempts: 1,
    };
    store.recordMerge(`#${name}`, { head: 'abc', sha: `sha-${name}`, at: 2 });
    await store.save();
    return name;
  };
}

describe('the state branch', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'bm-state-unit-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  describe('the runner protocol', () => {
    it('reads inputs as the runner names them: upper-cased, spaces to underscores, hyphens kept', () => {
      assert.equal(inputVariable('dry-run'), 'INPUT_DRY-RUN');
      assert.equal(inputVariable('state ref'), 'INPUT_STATE_REF');
      assert.equal(readInput({ 'INPUT_STATE-REF': '  buildmaster/state \n' }, 'state-ref'), 'buildmaster/state');
      assert.equal(readInput({}, 'token'), '');
    });

    it('reads booleans as the YAML core schema spells them, and refuses anything else by name', () => {
      for (const yes of ['true', 'True', 'TRUE']) assert.equal(readBooleanInput({ 'INPUT_DRY-RUN': yes }, 'dry-run', false), true);
      for (const no of ['false', 'False', 'FALSE']) assert.equal(readBooleanInput({ 'INPUT_DRY-RUN': no }, 'dry-run', true), false);
      assert.equal(readBooleanInput({}, 'dry-run', true), true);
      for (const bad of ['yes', '1', 'on', 'tRUE'])
        assert.throws(() => readBooleanInput({ 'INPUT_DRY-RUN': bad }, 'dry-run', false), {
          message: `input dry-run must be true or false, not "${bad}"`,
        });
    });

    it('keeps one annotation on one line, whatever the message holds', () => {
      assert.equal(escapeData('50% done\r\n::error::spoofed'), '50%25 done%0D%0A::error::spoofed');
      assert.equal(annotation('error', 'a\nb', { file: 'a,b:c.yml', line: 3 }), '::error file=a%2Cb%3Ac.yml,line=3::a%0Ab');
    });

    it('writes outputs in the delimited form, a value holding newlines and delimiter-like text intact', () => {
      const file = join(root, 'output');
      const value = 'line one\nghadelimiter_x\nEOF';
      writeOutput(file, 'summary', value);
      const [first, ...rest] = readFileSync(file, 'utf8').split('\n');
      const delimiter = /^summary<<(.+)$/.exec(first ?? '')?.[1] ?? '';
      assert.ok(delimiter.startsWith('ghadelimiter_'));
      assert.equal(rest.slice(0, rest.indexOf(delimiter)).join('\n'), value);
    });
  });

  describe('names', () => {
    it('takes only buildmaster/state and buildmaster/state-<name>, and never the target', () => {
      assert.equal(stateBranchOf(undefined, 'main'), 'buildmaster/state');
      assert.equal(stateBranchOf('', 'main'), 'buildmaster/state');
      assert.equal(stateBranchOf('refs/heads/buildmaster/state-prod', 'main'), 'buildmaster/state-prod');
      for (const bad of [
        'main',
        'buildmaster/fix/x',
        'buildmaster/state-',
        'buildmaster/state-a..b',
        'buildmaster/state-x.lock',
        'buildmaster/state- x',
      ])
        assert.throws(() => stateBranchOf(bad, 'main'), InputError, bad);
      assert.throws(() => stateBranchOf(undefined, 'buildmaster/state'), /cannot be Build Master's state branch/);
      assert.ok(isStateBranch('buildmaster/state') && !isStateBranch('buildmaster/statement'));
    });

    it('a pull request from or into the state branch is no change; a fork’s branch of that name is', () => {
      assert.equal(touchesStateBranch({ branch: 'buildmaster/state', base: 'main' }), true);
      assert.equal(touchesStateBranch({ branch: 'feature', base: 'buildmaster/state' }), true);
      assert.equal(touchesStateBranch({ branch: 'buildmaster/state', base: 'main', headRepo: 'mallory/app' }), false);
      assert.equal(touchesStateBranch({ branch: 'buildmaster/statement', base: 'main' }), false);
    });
  });

  describe('the layout', () => {
    it('splits the log into segments of 1000 and reads back only the newest; sealed segments are never uploaded again', async () => {
      const ref = new MemoryRef();
      await onStateRef({ backend: ref, log: () => undefined }, async (store) => {
        store.append(Array.from({ length: 1500 }, (_, i) => ({ at: i, type: 'info' as const, message: `event ${i + 1}` })));
        await store.save();
      });
      assert.deepEqual([...new Set(ref.events().map((e) => segmentOf(e.seq)))], ['events/00000000.jsonl', 'events/00000001.jsonl']);
      await onStateRef({ backend: ref, log: () => undefined }, async (store) => {
        assert.equal(store.readEvents().length, 500, 'a cycle reads only the newest segment');
        store.append([{ at: 2000, type: 'info', message: 'event 1501' }]);
        await store.save();
      });
      assert.deepEqual(
        ref.uploads[1]?.sort(),
        ['events/00000001.jsonl', 'state.json'],
        'the sealed segment and unchanged facts stay as they were',
      );
      assert.deepEqual(
        ref.events().map((e) => e.seq),
        Array.from({ length: 1501 }, (_, i) => i + 1),
      );
      const dir = join(root, 'all');
      await materialise(await ref.load(), dir, { allEvents: true });
      assert.equal((await Store.open(dir)).readEvents().length, 1501, '`log --from-ref` reads them all');
    });

    it('keeps facts and check results beside the state and folds them back', async () => {
      const dir = join(root, 'store');
      const store = await Store.open(dir);
      store.setFact('gh-files:abc', { files: ['a.js'], at: 1 });
      store.setCheckResult('commit:abc', [{ name: 'test', conclusion: 'success' }], 1);
      await store.save();
      const files = collect(dir);
      assert.equal((JSON.parse(files.get('state.json') ?? '{}') as Record<string, unknown>).facts, undefined);
      assert.ok(files.get('facts.json')?.includes('gh-files:abc'));
      const ref = new MemoryRef();
      await ref.save(await ref.load(), files);
      const back = join(root, 'back');
      await materialise(await ref.load(), back);
      const reopened = await Store.open(back);
      assert.deepEqual(reopened.fact('gh-files:abc')?.files, ['a.js']);
      assert.equal(reopened.checkResult('commit:abc')?.[0]?.conclusion, 'success');
    });

    it('refuses a state.json on the branch that is not a state, naming where it is', async () => {
      const ref = new MemoryRef();
      await ref.save(await ref.load(), new Map([['state.json', '{"version": 1,']]));
      await assert.rejects(
        onStateRef({ backend: ref, log: () => undefined }, () => Promise.resolve()),
        (error: Error) => error instanceof InputError && /state\.json on c1 is not valid JSON/.test(error.message),
      );
    });
  });

  describe('compare-and-swap', () => {
    it('a run that loses the race re-reads the winner’s state, carries its records and events over, and runs again', async () => {
      const ref = new MemoryRef();
      await onStateRef({ backend: ref, log: () => undefined }, cycleOf('first'));
      // While run B works, run A saves: B's save is refused and B must try again on A's state.
      ref.beforeSave = async () => {
        await onStateRef({ backend: ref, log: () => undefined }, cycleOf('A'));
      };
      const lines: string[] = [];
      const attempts: number[] = [];
      const result = await onStateRef({ backend: ref, log: (m) => lines.push(m) }, async (store, n) => {
        attempts.push(n);
        // The second attempt sees A's state and what B did before: nothing is redone.
        if (n === 2) {
          assert.ok(store.recordedMerges()['#A'], 'the winner’s merge is in the state it re-read');
          assert.equal(store.action('merge:#B:abc')?.status, 'done', 'its own done action is carried over');
          return 'B';
        }
        return cycleOf('B')(store);
      });
      assert.deepEqual(attempts, [1, 2]);
      assert.equal(result.attempts, 2);
      assert.match(lines.join('\n'), /lost the race for buildmaster\/state: Update is not a fast forward/);
      const messages = ref.events().map((e) => e.message);
      assert.deepEqual(
        messages.filter((m) => m.endsWith(' ran')),
        ['first ran', 'A ran', 'B ran'],
        'every run’s events, the loser’s after the winner’s',
      );
      assert.ok(messages.some((m) => m.startsWith('this run lost the race')));
      assert.deepEqual(
        ref.events().map((e) => e.seq),
        ref.events().map((_, i) => i + 1),
      );
      const state = JSON.parse(ref.file('state.json')) as { merged: Record<string, unknown> };
      assert.deepEqual(Object.keys(state.merged).sort(), ['#A', '#B', '#first']);
    });

    it('gives up after its attempts with a clear error, listing the events it could not save', async () => {
      const ref = new MemoryRef();
      let other = 0;
      const lines: string[] = [];
      const backend: StateBackend = {
        branch: ref.branch,
        load: () => ref.load(),
        save: async (base, files, message) => {
          // Another writer gets in before every save.
          await ref.save(await ref.load(), new Map([['other.txt', String(++other)]]), 'other');
          return ref.save(base, files, message);
        },
      };
      await assert.rejects(
        onStateRef({ backend, log: (m) => lines.push(m), maxAttempts: 3 }, cycleOf('B')),
        (error: Error) => error instanceof StateRaceError && /kept moving: 3 attempts lost the race/.test(error.message),
      );
      assert.ok(lines.some((l) => l.startsWith('unsaved event: ') && l.includes('B ran')));
    });

    it('a cycle that fails part way saves what it recorded, with the failure in the log, and still fails', async () => {
      const ref = new MemoryRef();
      await assert.rejects(
        onStateRef({ backend: ref, log: () => undefined }, async (store) => {
          await cycleOf('half')(store);
          throw new Error('GitHub answered 502 after retries');
        }),
        /GitHub answered 502 after retries/,
      );
      const state = JSON.parse(ref.file('state.json')) as { merged: Record<string, unknown> };
      assert.ok(state.merged['#half'], 'the merge it made before failing is on record');
      assert.deepEqual(
        ref.events().map((e) => e.message),
        ['half ran', 'the cycle failed: GitHub answered 502 after retries'],
      );
      assert.match(ref.messages.at(-1) ?? '', /\(the cycle failed\)$/);
    });

    it('a read-only run (a dry run) saves nothing', async () => {
      const ref = new MemoryRef();
      const result = await onStateRef({ backend: ref, log: () => undefined, readOnly: true }, cycleOf('dry'));
      assert.equal(result.saved, 'read-only');
      assert.equal(ref.head, undefined);
    });
  });
});
