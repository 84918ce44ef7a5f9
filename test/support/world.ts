// A hand-driven world for decide() scenarios: open changes, target commits with
// checks, builds, and the controller state carried from cycle to cycle.
import { decide, initialState, type DecideResult } from '../../extension/core/decide';
import { applyOperator, type OperatorCommand } from '../../extension/core/operator';
import type { BuildRecord, Change, CheckRun, ControllerState, Decision, TargetCommit } from '../../extension/core/model';
import type { Policy } from '../../extension/core/policy/schema';
import { green, sha } from './builders';

export class World {
  state: ControllerState;
  changes: Change[] = [];
  commits: TargetCommit[] = [];
  builds: BuildRecord[] = [];
  workers = ['command'];
  now = 0;
  /** What the forge says keeps any merge from landing right now (a dirty target checkout). */
  mergeBlocked?: string;
  last!: DecideResult;
  private n = 0;

  constructor(
    readonly policy: Policy,
    readonly allChecks: string[] = ['test-web', 'test-api', 'test-docs'],
  ) {
    this.state = initialState(policy, 0);
    this.commits.push({ sha: sha('root'), checks: allChecks.map(green), time: 0 });
  }

  open(c: Change): this {
    this.changes.push(c);
    return this;
  }

  /** Merges a change (as the shell would) with its target checks pending. */
  merge(id: string): TargetCommit {
    const c = this.changes.find((x) => x.id === id);
    if (!c) throw new Error(`no open change ${id}`);
    this.changes = this.changes.filter((x) => x.id !== id);
    this.n += 1;
    const commit: TargetCommit = {
      sha: sha(`m${this.n}-${id}`),
      checks: this.allChecks.map((name) => ({ name, conclusion: 'pending' })),
      time: this.now,
      change: { id: c.id, files: c.files, branch: c.branch, ...(c.body ? { body: c.body } : {}) },
    };
    this.commits.push(commit);
    return commit;
  }

  /** Opens a change, lets a cycle merge it, merges it and settles its target checks with `failing` red. */
  land(c: Change, failing: CheckRun[] = []): TargetCommit {
    this.open(c);
    this.cycle();
    const commit = this.merge(c.id);
    this.settle(failing);
    return commit;
  }

  /** Settles the newest commit's checks: every check green except the ones given. */
  settle(overrides: CheckRun[] = [], at: TargetCommit = this.commits[this.commits.length - 1] as TargetCommit): this {
    at.checks = this.allChecks.map((name) => overrides.find((o) => o.name === name) ?? green(name));
    for (const o of overrides) if (!this.allChecks.includes(o.name)) at.checks.push(o);
    return this;
  }

  cycle(advance = 60_000): DecideResult {
    this.now += advance;
    this.last = decide(
      {
        forge: 'local',
        target: this.policy.target,
        changes: this.changes,
        targetCommits: this.commits,
        builds: this.builds,
        workers: this.workers,
        ...(this.mergeBlocked ? { mergeBlocked: this.mergeBlocked } : {}),
      },
      this.state,
      this.policy,
      this.now,
    );
    this.state = this.last.state;
    return this.last;
  }

  /** Runs cycles, executing every merge decision, until nothing merges. */
  drain(limit = 20): Decision[] {
    const all: Decision[] = [];
    for (let i = 0; i < limit; i++) {
      const result = this.cycle();
      all.push(...result.decisions);
      const merges = result.decisions.filter((d) => d.kind === 'merge');
      if (merges.length === 0) break;
      for (const m of merges) {
        this.merge(m.change as string);
        this.settle();
      }
    }
    return all;
  }

  operator(command: OperatorCommand): Decision {
    const result = applyOperator(this.state, command, this.now);
    if (!result.ok) throw new Error(result.message);
    this.state = result.state;
    return result.decision;
  }

  lane(name: string) {
    const lane = this.state.lanes[name];
    if (!lane) throw new Error(`no lane ${name}`);
    return lane;
  }

  kinds(kind: Decision['kind']): Decision[] {
    return this.last.decisions.filter((d) => d.kind === kind);
  }
}
