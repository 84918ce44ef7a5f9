// What a person sees and clicks: the packaged .vsix installed in code-server,
// driven in headless Chromium. Screenshots of every asserted step go to
// test/e2e/artifacts/ (git-ignored), in a light and a dark theme.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createDemoRepository } from '../../extension/cli/demo';
import { largeRepository } from '../../fixtures/largeStore';
import {
  ROOT,
  installVsix,
  launchBrowser,
  openWorkbench,
  scratchDir,
  startCodeServer,
  type RunningCodeServer,
} from '../../fixtures/codeServer';
import { ARTIFACTS, VSIX, git, openContainer, palette, shot, sidebarView, textOf, until, webview } from './helpers';

for (const theme of [
  { name: 'light', label: 'Default Light Modern' },
  { name: 'dark', label: 'Default Dark Modern' },
]) {
  describe(`cockpit end to end (${theme.name} theme)`, function () {
    this.timeout(300_000);
    let work: string;
    let repo: string;
    let server: RunningCodeServer;
    let browser: Browser;
    let page: Page;

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      work = scratchDir('bm-e2e-');
      repo = join(work, 'shop');
      await createDemoRepository(repo, { withApproval: true });
      const extensionsDir = join(work, 'extensions');
      installVsix(VSIX, extensionsDir);
      server = await startCodeServer({
        workspace: repo,
        extensionsDir,
        settings: { 'workbench.colorTheme': theme.label, 'window.zoomLevel': 0 },
      });
      browser = await launchBrowser();
      page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(repo)}`);
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed')
        await page
          .screenshot({ path: join(ARTIFACTS, `${theme.name}-failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}.png`) })
          .catch(() => undefined);
    });

    after(async () => {
      await browser.close();
      await server.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('opens the Build Master container and shows each lane with its state', async () => {
      await openContainer(page);
      const lanes = sidebarView(page, 'Lanes');
      for (const name of ['web', 'api', 'docs', 'shared']) await lanes.locator('.monaco-list-row', { hasText: name }).first().waitFor();
      await palette(page, 'Build Master: Run One Cycle');
      // After the cycle: web holds agent/web-rename (its pre-merge test fails), shared holds the tier 3 change.
      const rename = lanes.locator('.monaco-list-row', { hasText: 'agent/web-rename' }).first();
      await rename.waitFor({ timeout: 60_000 });
      await textOf(rename.locator('.label-description'), /^#\d+ checks? /); // short: the tooltip has the failing check's message
      const web = lanes.locator('.monaco-list-row', { hasText: /^web/ }).first();
      await textOf(web, /healthy · \d+ queued/);
      // The pending approval shows as a badge on the container's activity bar icon. While a cycle
      // runs, the same badge shows a progress spinner with no text: wait for the count.
      const badge = page
        .locator('.activitybar .action-item', { has: page.locator('a[aria-label^="Build Master"]') })
        .locator('.badge-content');
      await textOf(badge, '1');
      await shot(page, `${theme.name}-1-lanes`);
    });

    it('opens the dashboard from the status bar and shows lanes, KPIs and the approval', async () => {
      await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
      const view = webview(page);
      await view.locator('[data-testid="lane"][data-lane="web"]').waitFor({ timeout: 30_000 });
      await until('the dashboard to show 4 lanes', async () => (await view.locator('[data-testid="lane"]').count()) === 4);
      await until(
        'lane web to be healthy',
        async () => (await view.locator('[data-testid="lane"][data-lane="web"]').getAttribute('data-state')) === 'healthy',
      );
      await textOf(view.locator('[data-testid="global-state"]'), /normal|incident-contained/);
      await textOf(view.locator('[data-testid="kpi-merges"] .value'), /^[1-9]\d*$/); // the merges of the first cycle count
      await until('one approval on the dashboard', async () => (await view.locator('[data-testid="approval"]').count()) === 1);
      await textOf(view.locator('[data-testid="kpi-lead"] .value'), /^(?!—$)\S/); // a lead time from the merged heads
      await shot(page, `${theme.name}-2-dashboard`);
      await palette(page, 'View: Close All Editors');
    });

    if (theme.name === 'light') {
      it('approves the pending approval in the review panel and the change is merged in git', async () => {
        const before = git(repo, 'log', '--format=%(trailers:key=Build-Master-Change,valueonly)', 'main');
        assert.ok(!before.includes('agent/infra-deploy'));
        const approvals = sidebarView(page, 'Approvals');
        await approvals.locator('.monaco-list-row', { hasText: 'agent/infra-deploy' }).click();
        const view = webview(page);
        await textOf(view.locator('[data-testid="review-title"]'), /agent\/infra-deploy/);
        await view.locator('[data-testid="file-diff"][data-path="infra/deploy.sh"]').waitFor();
        await shot(page, `${theme.name}-3-review`);
        await view.locator('[data-testid="approve"]').click();
        await view.locator('[data-testid="resolved"]', { hasText: 'Approved and merged' }).waitFor({ timeout: 60_000 });
        const after = git(repo, 'log', '--format=%(trailers:key=Build-Master-Change,valueonly)', 'main');
        assert.ok(after.split('\n').includes('agent/infra-deploy'), 'the approved change is on main');
        await shot(page, `${theme.name}-4-approved`);
      });
    } else {
      it('rejects the pending approval with a reason, which is logged and keeps the change off main', async () => {
        const approvals = sidebarView(page, 'Approvals');
        await approvals.locator('.monaco-list-row', { hasText: 'agent/infra-deploy' }).click();
        const view = webview(page);
        await view.locator('[data-testid="reject"]').click();
        await view.locator('[data-testid="confirm-reject"]').click();
        await view.locator('[data-testid="notice"]', { hasText: 'needs a reason' }).waitFor();
        await view.locator('[data-testid="reject-reason"] textarea').fill('deploy scripts go through the infra review');
        await shot(page, `${theme.name}-3-reject`);
        await view.locator('[data-testid="confirm-reject"]').click();
        await view.locator('[data-testid="resolved"]', { hasText: 'Rejected' }).waitFor({ timeout: 30_000 });
        const log = execFileSync('node', [join(ROOT, 'dist', 'cli.js'), 'log', '--json', '--repo', repo], { encoding: 'utf8' });
        const events = (JSON.parse(log) as { events: { type: string; kind?: string; message: string }[] }).events;
        assert.ok(
          events.some((e) => e.type === 'operator' && e.kind === 'reject' && e.message.includes('infra review')),
          'the rejection and its reason are in the log',
        );
        assert.ok(!git(repo, 'log', '--format=%(trailers:key=Build-Master-Change,valueonly)', 'main').includes('agent/infra-deploy'));
        await shot(page, `${theme.name}-4-rejected`);
      });
    }
  });
}

describe('cockpit end to end: an empty repository and a busy one', function () {
  this.timeout(300_000);
  let work: string;
  let server: RunningCodeServer | undefined;
  let browser: Browser;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    work = scratchDir('bm-e2e-states-');
    browser = await launchBrowser();
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  after(async () => {
    await browser.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('offers to create a commented policy in a repository without one, with a lane per top-level folder', async () => {
    const repo = join(work, 'plain');
    mkdirSync(join(repo, 'frontend'), { recursive: true });
    mkdirSync(join(repo, 'backend'), { recursive: true });
    execFileSync(
      'sh',
      [
        '-c',
        'git init -q -b main && echo a > frontend/a.js && echo b > backend/b.go && git add -A && git -c user.name=T -c user.email=t@localhost commit -qm init',
      ],
      { cwd: repo },
    );
    const extensionsDir = join(work, 'ext-plain');
    installVsix(VSIX, extensionsDir);
    server = await startCodeServer({ workspace: repo, extensionsDir, settings: { 'workbench.colorTheme': 'Default Light Modern' } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(repo)}`);
    await openContainer(page);
    const create = page
      .locator('.welcome-view-content a, .welcome-view-content .monaco-button', { hasText: 'Create .buildmaster.yml' })
      .first();
    await create.waitFor({ timeout: 60_000 }).catch(async (error: unknown) => {
      await shot(page, 'light-failed-empty-welcome');
      throw error;
    });
    // The welcome text is read whole: its last line is inside the Lanes view, not under the next header.
    const clipped = await page.locator('.welcome-view-content', { hasText: 'The file is commented' }).evaluate((el) => {
      const body = el.closest('.pane-body') ?? el;
      const last = [...el.querySelectorAll('p')].pop() ?? el;
      return last.getBoundingClientRect().bottom > body.getBoundingClientRect().bottom + 0.5;
    });
    assert.ok(!clipped, 'the welcome text is clipped at the bottom of the Lanes view');
    await shot(page, 'light-5-empty-welcome');
    await create.click();
    await page.locator('.tab', { hasText: '.buildmaster.yml' }).waitFor();
    const lanes = sidebarView(page, 'Lanes');
    for (const name of ['backend', 'frontend', 'shared'])
      await lanes.locator('.monaco-list-row', { hasText: name }).first().waitFor({ timeout: 30_000 });
    const written = readFileSync(join(repo, '.buildmaster.yml'), 'utf8');
    assert.match(written, /- name: backend\n {4}paths: \["backend\/\*\*"\]/);
    await shot(page, 'light-6-policy-created');
    await page.close();
  });

  it('shows 200 changes in a lane with long names in the tree and on the dashboard', async () => {
    const repo = join(work, 'busy');
    largeRepository(repo, { lanes: 3, changes: 600, longNames: true });
    const extensionsDir = join(work, 'ext-busy');
    installVsix(VSIX, extensionsDir);
    server = await startCodeServer({ workspace: repo, extensionsDir, settings: { 'workbench.colorTheme': 'Default Dark Modern' } });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(repo)}`);
    await openContainer(page);
    const lanes = sidebarView(page, 'Lanes');
    // The row shows the name cut in its middle; its accessible name has it whole.
    const long = lanes.locator('.monaco-list-row[aria-label^="payments-and-billing-reconciliation"]').first();
    await long.waitFor({ timeout: 60_000 });
    await textOf(long, /200 queued/);
    await shot(page, 'dark-5-busy-tree');
    await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
    const view = webview(page);
    await textOf(view.locator('[data-testid="lane"]').first(), /and 192 more/);
    await shot(page, 'dark-6-busy-dashboard');
    await page.close();
  });
});
