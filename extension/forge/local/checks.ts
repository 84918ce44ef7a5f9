// Runs `local.checks` in a directory: each command in a shell of its own
// process group, killed with its children at the timeout, with an output tail
// kept for classification.
import { spawn } from 'node:child_process';
import type { CheckRun } from '../../core/model';
import { formatDuration } from '../../core/policy/duration';

const TAIL = 4000;

/** Secrets never reach checks or workers: the environment is scrubbed of anything token-like. */
export function scrubbedEnv(keep: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_KEY|AUTH/i.test(key)) continue;
    if (/^GIT_/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...keep };
}

export interface CommandOutcome {
  exitCode: number | null;
  timedOut: boolean;
  output: string;
  durationMs: number;
}

export function runCommand(command: string, options: { cwd: string; env: Record<string, string>; timeoutMs: number; input?: string }): Promise<CommandOutcome> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn('sh', ['-c', command], { cwd: options.cwd, env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-TAIL * 4);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      output += `\n${error.message}`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: code, timedOut, output: output.slice(-TAIL), durationMs: Date.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export async function runChecks(checks: readonly { name: string; run: string }[], cwd: string, timeoutMs: number): Promise<CheckRun[]> {
  const runs: CheckRun[] = [];
  for (const check of checks) {
    const outcome = await runCommand(check.run, { cwd, env: scrubbedEnv({ CI: 'true', BUILDMASTER_CHECK: check.name }), timeoutMs });
    if (outcome.timedOut) {
      runs.push({ name: check.name, conclusion: 'timed_out', output: `${outcome.output}\ncheck timed out after ${formatDuration(timeoutMs)} (local.check_timeout) and was killed` });
    } else {
      runs.push({ name: check.name, conclusion: outcome.exitCode === 0 ? 'success' : 'failure', output: outcome.output });
    }
  }
  return runs;
}
