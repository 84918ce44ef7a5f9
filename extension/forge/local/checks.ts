// Runs `local.checks` in a checkout of the commit under test, one after the
// other, each through extension/process (its own process group, an allowlisted
// environment, the timeout, nothing left running after it ends), with an
// output tail kept for classification.
import type { CheckRun } from '../../core/model';
import { formatDuration } from '../../core/policy/duration';
import { allowlistedEnv } from '../../process/env';
import { runCommand } from '../../process/run';

/** `named`: the variables `local.env` passes through beyond the allowlist. */
export async function runChecks(checks: readonly { name: string; run: string }[], cwd: string, timeoutMs: number, named: readonly string[] = []): Promise<CheckRun[]> {
  const runs: CheckRun[] = [];
  for (const check of checks) {
    const env = allowlistedEnv(named, { CI: 'true', BUILDMASTER_CHECK: check.name });
    // The checkout is the checks' alone: whatever still works in it when a check ends is that check's.
    const outcome = await runCommand(check.run, { cwd, env, timeoutMs, contain: cwd });
    if (outcome.timedOut) {
      runs.push({ name: check.name, conclusion: 'timed_out', output: `${outcome.output}\ncheck timed out after ${formatDuration(timeoutMs)} (local.check_timeout) and was killed` });
    } else {
      runs.push({ name: check.name, conclusion: outcome.exitCode === 0 ? 'success' : 'failure', output: outcome.output });
    }
  }
  return runs;
}
