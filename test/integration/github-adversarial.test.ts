// GitHub mode under attack and careless use, through the real CLI (dist/cli.js)
// against the GitHub test server: what an unauthenticated client can do to
// `serve --webhooks` by never finishing what it sends.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { GitHubWorld } from '../../fixtures/github/world';
import { adjust, deliver, example } from '../../fixtures/github/webhooks';
import { CLI } from '../support/cli';

const SECRET = 'webhook secret of acme/app';
const REPO = 'acme/app';

/** A running `serve --webhooks` child: its URL, its log, and how it ends. */
class Served {
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  exited: Promise<number | null>;

  constructor(private readonly child: ChildProcessByStdio<null, Readable, Readable>) {
    child.stdout.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      child.on('close', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  static async start(world: GitHubWorld, extra: string[] = []): Promise<Served> {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--webhooks', '--forge', 'github', '--repo', world.workspace, '--port', '0', '--quiet', '300ms', ...extra],
      { env: { ...process.env, GITHUB_TOKEN: world.server.token, BUILDMASTER_WEBHOOK_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const served = new Served(child);
    await served.until(() => /listening on /.test(served.stdout), 'the bound URL');
    await served.until(() => /build-master: cycle \d+ read/.test(served.stderr), 'the first full cycle');
    return served;
  }

  get url(): URL {
    const url = /listening on (\S+)/.exec(this.stdout)?.[1];
    if (!url) throw new Error(`no URL printed:\n${this.stdout}\n${this.stderr}`);
    return new URL(url);
  }

  async until(predicate: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  stop(): Promise<number | null> {
    if (this.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    if (this.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** A client that sends a delivery's headers and a little of its body, then nothing more (a slow-loris). */
function neverFinishing(url: URL): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n` +
          `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: 1000000\r\n\r\n{"ref":`,
      );
      resolve(socket);
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

describe('GitHub mode, adversarial: serve --webhooks against clients that never finish', function () {
  this.timeout(180_000);
  let world: GitHubWorld;
  let served: Served | undefined;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    world = await GitHubWorld.start();
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    served?.kill();
    await served?.exited;
    served = undefined;
    await world.stop();
  });

  it('answers a real delivery while many clients hold half-sent bodies, and SIGTERM still stops it promptly', async () => {
    served = await Served.start(world, ['--resync', '10m']);
    const url = served.url;
    for (let i = 0; i < 50; i++) sockets.push(await neverFinishing(url));

    const answer = await deliver(url.toString(), SECRET, 'ping', adjust(example('ping'), { repository: REPO }));
    assert.equal(answer.status, 200, 'a signed delivery is answered while others stall');

    // The stalled clients must not hold the process: a stop finishes the cycle in flight, then closes every connection.
    const stopped = Date.now();
    const code = await Promise.race([served.stop(), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000))]);
    assert.notEqual(code, 'hung', `SIGTERM did not stop serve within 30 s while 50 clients held half-sent bodies\n${served.stderr}`);
    assert.equal(code, 0, 'a clean stop');
    assert.ok(Date.now() - stopped < 30_000);
  });
});

describe('GitHub mode, adversarial: a forged state', function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  beforeEach(async () => {
    world = await GitHubWorld.start();
  });

  afterEach(async () => {
    await world.stop();
  });

  it('a recorded file list that hides a tier-3 file never lets the change merge without a person', async () => {
    // Someone who can push the state (the buildmaster/state branch, or .git/buildmaster) records that the pull
    // request touches only a readme: tier 1, merged automatically. GitHub says it touches web/auth/: tier 3.
    const pull = world.pull('web/login', { 'web/auth/login.js': 'export const open = true;\n' });
    const head = world.origin.git(['rev-parse', 'refs/heads/web/login']).trim();
    world.session.store.setFact(`gh-files-v2:${pull}:${head}`, { files: ['web/README.md'], at: world.now });
    await world.session.store.save();
    await world.open();

    await world.cycle();
    await world.cycle();
    assert.equal(world.merged(pull), false, 'a tier-3 change waits for an operator, whatever the state says it touches');
    assert.ok(
      world.logs.some((line) => /web\/auth\/login\.js/.test(line)),
      `the refusal names the file the record left out\n${world.logs.join('\n')}`,
    );
  });
});
