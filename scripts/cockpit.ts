// npm run cockpit — see the cockpit in one command: a fresh demo repository,
// the packaged extension installed in code-server on 127.0.0.1, and the URL to
// open. Runs until Ctrl-C. Options: --port N, --dir DIR (an empty or new folder).
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDemoRepository } from '../extension/cli/demo';
import { ROOT, codeServerInstalled, freePort, installVsix, scratchDir, startCodeServer } from '../fixtures/codeServer';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, dir: { type: 'string' } } });
  const missing = codeServerInstalled();
  if (missing) throw new Error(missing);
  const repo = values.dir ? resolve(values.dir) : join(scratchDir('build-master-cockpit-'), 'shop');
  if (existsSync(repo) && readdirSync(repo).length) throw new Error(`${repo} is not empty; pass --dir with an empty or new folder`);
  await createDemoRepository(repo, { withApproval: true });
  const extensionsDir = join(scratchDir('build-master-extensions-'), 'extensions');
  installVsix(join(ROOT, 'build-master.vsix'), extensionsDir);
  const port = values.port ? Number(values.port) : await freePort();
  const server = await startCodeServer({ workspace: repo, extensionsDir, port, settings: { 'buildMaster.interval': '30s' } });
  const url = `${server.url}/?folder=${encodeURIComponent(repo)}`;
  process.stdout.write(
    [
      '',
      `Build Master cockpit: ${url}`,
      '',
      `demo repository: ${repo}`,
      '  open the Build Master icon in the activity bar, run "Build Master: Run One Cycle" (or Start the Controller),',
      '  review the tier 3 approval, and open the dashboard from the status bar.',
      `  the CLI works on the same repository: node ${join(ROOT, 'dist', 'cli.js')} status --repo ${repo}`,
      '',
      'Ctrl-C stops code-server.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    server.process.once('exit', done);
  });
  await server.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`cockpit: ${(error as Error).message}\n`);
  process.exit(1);
});
