// An agent's process lineage, watched while it runs (Linux only: /proc). The supervisor kills, when
// the agent ends, what is still in its process group, carries its marker or works in its worktree; a
// daemon that left all three (setsid, `env -i`, `cd /`) would outlive it and keep writing. Every
// process seen once as the agent's (a child of one of its processes, in its group, carrying its
// worktree variable or working in it) stays the agent's, identified by pid and start time so a
// reused pid is never taken for it, and is killed when the agent ends.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';

/** How often the lineage is looked at: a process that detaches faster than this can still escape. */
const POLL_MS = 50;

interface Seen {
  ppid: number;
  pgrp: number;
  start: string;
}

function stat(pid: number): Seen | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]), start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

export class Lineage {
  /** pid → start time of every process known to be the agent's. */
  private readonly members = new Map<number, string>();
  /** `pid:start` of processes already judged not the agent's by their variables and folder (not read again). */
  private readonly strangers = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly dir: string;

  constructor(
    dir: string,
    private readonly marker: string,
  ) {
    let real = dir;
    try {
      real = realpathSync(dir);
    } catch {
      // not made yet: the path as given
    }
    this.dir = real;
  }

  /** Starts watching from the agent's first process (its group leader). */
  watch(root: number): void {
    if (process.platform !== 'linux') return;
    const seen = stat(root);
    if (seen) this.members.set(root, seen.start);
    this.scan();
    this.timer ??= setInterval(() => {
      this.scan();
    }, POLL_MS);
    this.timer.unref();
  }

  private scan(): void {
    let names: string[];
    try {
      names = readdirSync('/proc');
    } catch {
      return;
    }
    const table = new Map<number, Seen>();
    for (const name of names) {
      if (!/^[0-9]+$/.test(name)) continue;
      const pid = Number(name);
      if (pid === process.pid) continue;
      const seen = stat(pid);
      if (seen) table.set(pid, seen);
    }
    const groups = new Set([...this.members.keys()]);
    // Children found in one pass may have children of their own: repeat until nothing new joins.
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, seen] of table) {
        if (this.members.get(pid) === seen.start) continue;
        const known = this.members.get(seen.ppid);
        const child = known !== undefined && table.get(seen.ppid)?.start === known;
        if (child || groups.has(seen.pgrp) || this.carries(pid, seen.start)) {
          this.members.set(pid, seen.start);
          grew = true;
        }
      }
    }
  }

  /** Whether a process not linked by parent or group carries the worktree's variable or works inside it. */
  private carries(pid: number, start: string): boolean {
    const key = `${pid}:${start}`;
    if (this.strangers.has(key)) return false;
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === this.dir || cwd.startsWith(this.dir + sep)) return true;
    } catch {
      // gone, or not ours to read
    }
    try {
      if (`\0${readFileSync(`/proc/${pid}/environ`, 'utf8')}`.includes(`\0${this.marker}\0`)) return true;
    } catch {
      // gone, or not ours to read
    }
    this.strangers.add(key);
    return false;
  }

  /** Stops watching and kills every process of the lineage still alive (its pid not reused); returns how many. */
  kill(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (process.platform !== 'linux') return 0;
    let killed = 0;
    for (let pass = 0; pass < 20; pass++) {
      this.scan();
      const alive = [...this.members].filter(([pid, start]) => stat(pid)?.start === start);
      if (alive.length === 0) break;
      for (const [pid] of alive) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // gone meanwhile
        }
      }
    }
    return killed;
  }
}

/**
 * A subreaper between the shell and the command (Linux, with python3): a process that detaches
 * itself (a double fork, setsid) is re-parented to it instead of to init, so it stays in the lineage
 * the watcher sees; when the command ends, every process still its child is killed before it exits
 * with the command's status (a signal's death passed on as that signal).
 */
const SUBREAPER = [
  'import ctypes, os, signal, sys, time',
  'ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)',
  'child = os.fork()',
  'if child == 0:',
  '    os.execvp("sh", ["sh", "-c", sys.argv[1]])',
  'while True:',
  '    pid, status = os.waitpid(-1, 0)',
  '    if pid == child: break',
  'def orphans():',
  '    found = []',
  '    for name in os.listdir("/proc"):',
  '        if not name.isdigit(): continue',
  '        try:',
  '            text = open("/proc/" + name + "/stat").read()',
  '        except OSError:',
  '            continue',
  '        if int(text[text.rindex(")") + 2:].split(" ")[1]) == os.getpid(): found.append(int(name))',
  '    return found',
  'for _ in range(50):',
  '    left = orphans()',
  '    if not left: break',
  '    for pid in left:',
  '        try: os.kill(pid, signal.SIGKILL)',
  '        except OSError: pass',
  '    try:',
  '        while os.waitpid(-1, os.WNOHANG)[0] != 0: pass',
  '    except ChildProcessError:',
  '        pass',
  'if os.WIFSIGNALED(status):',
  '    try: signal.signal(os.WTERMSIG(status), signal.SIG_DFL)',
  '    except (OSError, ValueError): pass',
  '    os.kill(os.getpid(), os.WTERMSIG(status))',
  '    time.sleep(1)',
  'sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)',
].join('\n');

let subreaper: boolean | undefined;

/** Whether commands can run under the subreaper here (probed once: Linux, python3 with ctypes). */
function canReap(): boolean {
  if (subreaper === undefined) {
    subreaper =
      process.platform === 'linux' &&
      spawnSync('python3', ['-c', 'import ctypes, sys; sys.exit(ctypes.CDLL(None).prctl(36, 1, 0, 0, 0))'], {
        stdio: 'ignore',
        timeout: 10_000,
      }).status === 0;
  }
  return subreaper;
}

/** The shell command run under the subreaper where it can, else as it is. */
export function reaped(command: string): string {
  return canReap() ? `exec python3 -c ${shellQuote(SUBREAPER)} ${shellQuote(command)}` : command;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
