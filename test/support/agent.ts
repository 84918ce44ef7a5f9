// What the runs integration tests share: the scripted agent (fixtures/agent/scripted-agent.mjs) as a
// worker command, its invocation log, a two-lane local policy with a runs section, and whether a
// process still runs.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const AGENT = resolve(__dirname, '../../fixtures/agent/scripted-agent.mjs');

/** One line of the scripted agent's log: an invocation's start, or (`event: 'end'`) its end. */
export interface Invocation {
  task: string;
  attempt: number;
  pid: number;
  at: number;
  event?: 'end';
  repair?: boolean;
}

/** The worker command that runs the scripted agent on `script` (a JSON file; see the agent's header). */
export function agentCommand(script: string): string {
  return `SCRIPTED_AGENT=${JSON.stringify(script)} ${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`;
}

export function invocations(log: string): Invocation[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Invocation);
}

/** Lanes web and api, each with a check that fails on its BROKEN file, merges at A5, and `runs` as given. */
export function runsPolicy(runs: string, extra = ''): string {
  return `lanes:
  - name: web
    paths: ["web/**"]
    checks: [web]
  - name: api
    paths: ["api/**"]
    checks: [api]
autonomy: { merge: A5 }
merge: { wait_for_target_green: false }
local:
  checks:
    - { name: web, run: "test ! -e web/BROKEN" }
    - { name: api, run: "test ! -e api/BROKEN" }
${extra}runs:
${runs}`;
}

/** Whether `pid` runs: a zombie (killed, not yet reaped by its new parent) does not. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return process.platform !== 'linux';
  }
}
