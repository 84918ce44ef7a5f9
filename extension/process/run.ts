// Runs one shell command for a check or a worker, through the supervisor
// (./supervisor.ts): its own process group, an allowlisted environment given
// by the caller, a timeout, an output tail, and nothing left running after it
// ends — on success, failure, timeout, or the controller's death.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SUPERVISOR_SOURCE } from './supervisor';

/** Characters of a command's output kept: its tail. */
export const OUTPUT_TAIL = 4000;
const TAIL = OUTPUT_TAIL;
/** How long a supervisor told to kill may take before it is killed itself. */
const KILL_GRACE_MS = 10_000;
/** How long output may keep arriving after the command and its processes are gone (an escaped process holding the pipe). */
const DRAIN_MS = 2_000;

export interface CommandOutcome {
  exitCode: number | null;
  timedOut: boolean;
  /** Stopped by `signal`. */
  aborted?: boolean;
  output: string;
  /** The command wrote more than the tail kept: `output` is only its end (a parse of it may miss failures). */
  outputCut: boolean;
  durationMs: number;
}

export interface CommandOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  input?: string;
  /**
   * A directory that belongs to this run alone (its worktree): a process still
   * working inside it when the run ends is the run's, whatever its group.
   */
  contain?: string;
  /** Stops the command and everything it started (a kill switch, a hedge's loser); the outcome says `aborted`. */
  signal?: AbortSignal;
  /** Called with the command's process group leader once it runs (recorded so a restart can clean it up). */
  onStarted?: (pid: number) => void;
}

interface SupervisorMessage {
  started?: number;
  exit?: number | null;
  signal?: string | null;
  error?: string;
  swept?: number;
}

function startSupervisor() {
  // Its own session, so a signal to the controller's process group (Ctrl-C)
  // reaches it only through the socket closing; ELECTRON_RUN_AS_NODE makes the
  // VS Code extension host's binary behave as node. Nothing else of the
  // controller's environment: the command's comes over the socket.
  const child = spawn(process.execPath, ['-e', SUPERVISOR_SOURCE], {
    env: { ELECTRON_RUN_AS_NODE: '1' },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const channel = child.stdio[3] as Socket;
  const messages: SupervisorMessage[] = [];
  const listeners: ((message: SupervisorMessage) => void)[] = [];
  let buffered = '';
  channel.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        const message = JSON.parse(line) as SupervisorMessage;
        messages.push(message);
        for (const listener of listeners) listener(message);
      } catch {
        // not a protocol line
      }
    }
  });
  channel.on('error', () => undefined);
  // Not 'close': the command (and an escaped child of it) shares the supervisor's
  // stdout, which may stay open; the socket is the supervisor's alone.
  const exited = Promise.all([
    new Promise<void>((done) => {
      child.on('exit', () => done());
      child.on('error', () => done());
    }),
    new Promise<void>((done) => channel.on('close', () => done())),
  ]).then(() => undefined);
  return {
    child,
    send: (message: object) => {
      if (!channel.destroyed) channel.write(`${JSON.stringify(message)}\n`);
    },
    messages,
    on: (listener: (message: SupervisorMessage) => void) => listeners.push(listener),
    exited,
  };
}

/** Runs `command` with `sh -c` in `cwd`; resolves when it and everything it started are gone. */
export function runCommand(command: string, options: CommandOptions): Promise<CommandOutcome> {
  const started = Date.now();
  const marker = randomBytes(12).toString('hex');
  const supervisor = startSupervisor();
  const { child } = supervisor;
  let output = '';
  let written = 0;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    written += text.length;
    output = (output + text).slice(-TAIL * 4);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const streamsClosed = Promise.all(
    [child.stdout, child.stderr].map((stream) => new Promise<void>((done) => stream.on('close', () => done()))),
  );
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  supervisor.send({
    command,
    cwd: options.cwd,
    // Not BUILDMASTER_RUN: a run's workers are given their run's id under that name.
    env: { ...options.env, BUILDMASTER_PROCESS_MARKER: marker },
    marker,
    ...(options.contain ? { contain: options.contain } : {}),
  });

  if (options.onStarted) {
    const onStarted = options.onStarted;
    supervisor.on((message) => {
      if (message.started) onStarted(message.started);
    });
  }

  let timedOut = false;
  const stopped = { aborted: false };
  let force: NodeJS.Timeout | undefined;
  const stop = () => {
    if (force) return;
    supervisor.send({ kill: true });
    // A supervisor that does not answer is killed, and the group with it.
    force = setTimeout(() => {
      const leader = supervisor.messages.find((m) => m.started)?.started;
      if (leader) killGroup(leader);
      child.kill('SIGKILL');
    }, KILL_GRACE_MS);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  const onAbort = () => {
    stopped.aborted = true;
    stop();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  return (async () => {
    await supervisor.exited;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (force) clearTimeout(force);
    const result = supervisor.messages.find((m) => 'exit' in m || 'error' in m);
    if (!result) {
      // The supervisor died without a word: make sure its command died too.
      const leader = supervisor.messages.find((m) => m.started)?.started;
      if (leader) killGroup(leader);
    }
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([streamsClosed, new Promise<void>((done) => (drainTimer = setTimeout(done, DRAIN_MS)))]);
    if (drainTimer) clearTimeout(drainTimer);
    child.stdout.destroy();
    child.stderr.destroy();
    if (result?.error) output += `\n${result.error}`;
    else if (!result) output += '\nthe command supervisor stopped unexpectedly';
    const exitCode = result && 'exit' in result ? (result.exit ?? null) : null;
    return {
      exitCode,
      timedOut,
      ...(stopped.aborted ? { aborted: true } : {}),
      output: output.slice(-TAIL),
      outputCut: written > TAIL,
      durationMs: Date.now() - started,
    };
  })();
}

/**
 * Kills every process whose working directory is inside `dir` (a check or a
 * worker from an earlier run that escaped its group), before `dir` is reused.
 * Linux only (/proc); elsewhere the process-group kill at the end of each run
 * is all there is.
 */
export async function killProcessesIn(dir: string): Promise<number> {
  if (process.platform !== 'linux') return 0;
  const supervisor = startSupervisor();
  supervisor.child.stdin.end();
  supervisor.child.stdout.resume();
  supervisor.child.stderr.resume();
  supervisor.send({ sweep: true, contain: dir });
  await supervisor.exited;
  return supervisor.messages.find((m) => m.swept !== undefined)?.swept ?? 0;
}

function killGroup(leader: number): void {
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {
    // already gone
  }
}
