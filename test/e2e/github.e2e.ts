// GitHub mode in the cockpit: a workspace whose policy points at the GitHub-compatible test server
// (started here, on 127.0.0.1), `buildMaster.forge: github` and a token the user stores with "Set
// GitHub Token" (code-server has no GitHub sign-in). After a cycle, the dashboard says what is left of
// GitHub's rate-limit budget, as `status` does. Light and dark themes, screenshotted to
// test/e2e/artifacts/ (github-*).
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { installVsix, launchBrowser, openWorkbench, scratchDir, startCodeServer, type RunningCodeServer } from '../../fixtures/codeServer';
import { GitHubWorld } from '../../fixtures/github/world';
import { ARTIFACTS, VSIX, openContainer, palette, shot, sidebarView, until, webview } from './helpers';

for (const theme of [
  { name: 'light', label: 'Default Light Modern' },
  { name: 'dark', label: 'Default Dark Modern' },
]) {
  describe(`GitHub mode in the cockpit end to end (${theme.name} theme)`, function () {
    this.timeout(300_000);
    let work: string;
    let world: GitHubWorld;
    let server: RunningCodeServer | undefined;
    let browser: Browser;
    let page: Page | undefined;
    const token = process.env.GITHUB_TOKEN;

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      work = scratchDir('bm-e2e-github-');
      world = await GitHubWorld.start();
      world.pull('web/feature', { 'web/feature.js': 'export const feature = 1;\n' }, { approve: false });
      // code-server's extension host inherits this environment: GitHub mode's token fallback.
      process.env.GITHUB_TOKEN = world.server.token;
      browser = await launchBrowser();
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed')
        await page?.screenshot({ path: join(ARTIFACTS, `github-${theme.name}-failed.png`) }).catch(() => undefined);
    });

    after(async () => {
      await server?.stop();
      await browser.close();
      await world.stop();
      if (token === undefined) delete process.env.GITHUB_TOKEN;
      else process.env.GITHUB_TOKEN = token;
      rmSync(work, { recursive: true, force: true });
    });

    it('runs a cycle against GitHub and shows the rate-limit budget left on the dashboard', async () => {
      const extensionsDir = join(work, 'extensions');
      installVsix(VSIX, extensionsDir);
      server = await startCodeServer({
        workspace: world.workspace,
        extensionsDir,
        settings: { 'workbench.colorTheme': theme.label, 'window.zoomLevel': 0, 'buildMaster.forge': 'github' },
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(world.workspace)}`);
      await openContainer(page);
      // code-server has no GitHub sign-in: the user stores a token (SecretStorage), as the cockpit offers.
      await palette(page, 'Build Master: Set GitHub Token');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor();
      await input.fill(world.server.token);
      await page.keyboard.press('Enter');
      await input.waitFor({ state: 'hidden' });
      await palette(page, 'Build Master: Run One Cycle');
      const lanes = sidebarView(page, 'Lanes');
      await lanes.locator('.monaco-list-row', { hasText: 'web' }).first().waitFor({ timeout: 60_000 });
      await until(
        'the cycle to have read GitHub',
        () => Promise.resolve(world.server.requests.some((r) => r.path === '/graphql')),
        120_000,
      );
      await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
      const view = webview(page);
      const line = view.locator('[data-testid="github-budget"]');
      await line.waitFor({ timeout: 60_000 });
      const text = (await line.textContent()) ?? '';
      assert.match(text, /GitHub budget: REST [\d,]+\/5,000 left \(resets \d\d:\d\d\), GraphQL [\d,]+\/5,000 left/, text);
      // The test server counts what it answered: the dashboard shows what GitHub's headers said, not a guess.
      const graphqlUsed = world.server.requests.filter((r) => r.path === '/graphql').reduce((n, r) => n + (r.cost ?? 0), 0);
      assert.ok(graphqlUsed > 0, 'the cycle spent GraphQL points');
      await shot(page, `github-${theme.name}-dashboard-budget`);
    });
  });
}
