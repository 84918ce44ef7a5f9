// The supervisor: a small Node process between the controller and a command.
// It runs the command as the leader of a new session (its own process group),
// holds a socket from the controller, and kills everything the command
// started — its process group, anything carrying the run's marker variable,
// anything whose working directory is inside the command's directory — when
// the command ends, when told to (timeout), and when the socket closes, which
// happens on every kind of controller death, SIGKILL included (Node 20 has no
// prctl(PR_SET_PDEATHSIG)). It is plain JavaScript run with `node -e`, so the
// CLI, the extension host (as ELECTRON_RUN_AS_NODE) and the tests share it
// without a separate bundle.
//
// Protocol on fd 3, one JSON object per line. Controller → supervisor: the spec
// `{command, cwd, env, marker, contain?}`, later `{kill: true}`. Supervisor →
// controller: `{started: pid}`, then `{exit: code, signal}` or `{error: message}`.
// `contain` is a directory only this run uses (its worktree): any process
// working inside it is the run's too. With `{sweep: true, contain}` it only
// kills what works inside `contain` and answers `{swept: n}`.

export const SUPERVISOR_SOURCE = String.raw`'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const channel = new net.Socket({ fd: 3, readable: true, writable: true });
let spec;
let child;
let finished = false;
let buffered = '';

function send(message) {
  try { channel.write(JSON.stringify(message) + '\n'); } catch (e) {}
}

function real(dir) {
  try { return fs.realpathSync(dir); } catch (e) { return dir; }
}

// One pass over /proc: the pids that belong to this run.
function members(pgid, marker, dir) {
  const found = [];
  if (process.platform !== 'linux') return found;
  let names = [];
  try { names = fs.readdirSync('/proc'); } catch (e) { return found; }
  const needle = marker ? Buffer.from('\0' + marker + '\0') : undefined;
  for (const name of names) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || pid === process.ppid) continue;
    let fields;
    try {
      const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
      fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch (e) { continue; }
    if (fields[0] === 'Z' || fields[0] === 'X') continue;
    if (pgid && Number(fields[2]) === pgid) { found.push(pid); continue; }
    if (needle) {
      try {
        const environ = Buffer.concat([Buffer.from('\0'), fs.readFileSync('/proc/' + pid + '/environ')]);
        if (environ.includes(needle)) { found.push(pid); continue; }
      } catch (e) {}
    }
    if (dir) {
      try {
        const cwd = fs.readlinkSync('/proc/' + pid + '/cwd');
        if (cwd === dir || cwd.startsWith(dir + '/')) found.push(pid);
      } catch (e) {}
    }
  }
  return found;
}

// Kills until a pass finds nobody: a process may fork while the last pass runs.
function sweep(pgid, marker, dir) {
  let killed = 0;
  if (pgid) { try { process.kill(-pgid, 'SIGKILL'); } catch (e) {} }
  for (let pass = 0; pass < 20; pass++) {
    const pids = members(pgid, marker, dir);
    if (pids.length === 0) break;
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); killed++; } catch (e) {} }
  }
  return killed;
}

function cleanup() {
  if (!spec) return 0;
  return sweep(child && child.pid, spec.marker && ('BUILDMASTER_PROCESS_MARKER=' + spec.marker), spec.contain ? real(spec.contain) : undefined);
}

function finish(message) {
  if (finished) return;
  finished = true;
  cleanup();
  send(message);
  channel.end();
}

function abandon() {
  // The controller is gone: nobody reads a result; leave nothing behind.
  if (!finished) { finished = true; cleanup(); }
  process.exit(0);
}

function start(given) {
  spec = given;
  if (spec.sweep) {
    const swept = spec.contain ? sweep(undefined, undefined, real(spec.contain)) : 0;
    finished = true;
    send({ swept });
    channel.end();
    return;
  }
  try {
    child = spawn('sh', ['-c', spec.command], { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['inherit', 'inherit', 'inherit'] });
  } catch (error) {
    finish({ error: String(error && error.message || error) });
    return;
  }
  child.on('error', (error) => finish({ error: String(error && error.message || error) }));
  child.on('exit', (code, signal) => finish({ exit: code, signal }));
  if (child.pid) send({ started: child.pid });
}

channel.on('data', (chunk) => {
  buffered += chunk.toString();
  let newline;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    let message;
    try { message = JSON.parse(line); } catch (e) { continue; }
    if (!spec) start(message);
    else if (message.kill && !finished) cleanup();
  }
});
channel.on('end', () => { if (!finished) abandon(); });
channel.on('close', () => { if (!finished) abandon(); });
channel.on('error', () => { if (!finished) abandon(); });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, abandon);
`;
