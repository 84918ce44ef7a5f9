// The operator's runs as a person sees them: the Runs view (absent with no run, then run → tasks),
// the run panel of a 200-task run (its DAG scrolls inside itself, nothing sideways), a live run with
// a failed task retried in place, a run of long names and one with no tasks yet, and the run KPIs on
// the dashboard. Light and dark themes; every step is screenshotted to test/e2e/artifacts/ (runs-*).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { createDemoRepository } from '../../extension/cli/demo';
import type { Approval, ControllerState } from '../../extension/core/model';
import type { Run } from '../../extension/core/runs/model';
import {
  ROOT,
  installVsix,
  launchBrowser,
  openWorkbench,
  scratchDir,
  startCodeServer,
  type RunningCodeServer,
} from '../../fixtures/codeServer';
import { BIG_RUN, EMPTY_RUN, FAILED_TASK, LIVE_RUN, LONG_RUN, fixtureRuns } from '../../fixtures/runs';
import { ARTIFACTS, VSIX, openContainer, palette, shot, sidebarView, textOf, until, webview } from './helpers';

/** Writes the fixture runs into the store file, and their gates into the approval queue, as the operator would. */
function injectRuns(repo: string): void {
  const file = join(repo, '.git', 'buildmaster', 'state.json');
  const store = JSON.parse(readFileSync(file, 'utf8')) as { state: ControllerState; runs?: Record<string, Run> };
  const { runs, approvals } = fixtureRuns(Date.now());
  store.runs = Object.fromEntries(runs.map((run) => [run.id, run]));
  for (const approval of approvals) store.state.approvals[approval.id] = approval satisfies Approval;
  writeFileSync(file, JSON.stringify(store));
}

/** No horizontal scrollbar in a webview: nothing wider than the panel. */
async function overflowsHorizontally(view: FrameLocator): Promise<boolean> {
  return view.locator('body').evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

for (const theme of [
  { name: 'light', label: 'Default Light Modern' },
  { name: 'dark', label: 'Default Dark Modern' },
]) {
  describe(`runs in the cockpit end to end (${theme.name} theme)`, function () {
    this.timeout(300_000);
    let work: string;
    let repo: string;
    let server: RunningCodeServer;
    let browser: Browser;
    let page: Page;
    const name = (step: string) => `runs-${theme.name}-${step}`;

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      work = scratchDir('bm-e2e-runs-');
      repo = join(work, 'shop');
      await createDemoRepository(repo, { withApproval: true });
      execFileSync('node', [join(ROOT, 'dist', 'cli.js'), 'sync', '--repo', repo], { stdio: 'pipe' });
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
          .screenshot({ path: join(ARTIFACTS, `${name('failed')}-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}.png`) })
          .catch(() => undefined);
    });

    after(async () => {
      await browser.close();
      await server.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('has no Runs view before any run, then lists each run with its status and budget and its tasks', async () => {
      await openContainer(page);
      await sidebarView(page, 'Lanes').locator('.monaco-list-row', { hasText: 'web' }).first().waitFor({ timeout: 60_000 });
      assert.equal(await sidebarView(page, 'Runs').count(), 0, 'no run: no Runs view taking room');
      await shot(page, name('1-no-runs'));

      injectRuns(repo);
      const runs = sidebarView(page, 'Runs');
      const live = runs.locator('.monaco-list-row', { hasText: LIVE_RUN }).first();
      await live.waitFor({ timeout: 60_000 });
      await textOf(live.locator('.label-description'), /^running · 3\/7 tasks · 1 failed · \$3\.02 · \d+% of time cap$/);
      const failed = runs.locator('.monaco-list-row', { hasText: FAILED_TASK }).first();
      await textOf(failed.locator('.label-description'), 'failed · coder-small · $0.62 · attempt 2');
      // One progress notification per live run with tasks (a toast, or in the notification center when the window has no focus).
      await palette(page, 'Notifications: Show Notifications');
      const progress = page.locator('.notifications-center .notification-list-item', { hasText: 'Build Master: run' });
      await until('the runs’ progress notifications', async () => (await progress.count()) >= 2);
      const texts = await progress.allTextContents();
      assert.equal(texts.length, 2, `one notification per live run with tasks: ${JSON.stringify(texts)}`);
      assert.ok(
        texts.some((t) => t.includes(`run ${LIVE_RUN}: 3/7 tasks settled`)),
        JSON.stringify(texts),
      );
      await shot(page, name('2a-progress-notifications'));
      await palette(page, 'Notifications: Hide Notifications');
      // The long run's row leads with its status, so it shows however the name is cut.
      const long = runs.locator(`.monaco-list-row[aria-label^="run ${LONG_RUN}"]`).first();
      await textOf(long.locator('.label-description'), /^awaiting-approval · 0\/2 tasks/);
      // The gates are approvals too, named by step and run.
      await textOf(
        sidebarView(page, 'Approvals').locator('.monaco-list-row', { hasText: `apply step of run` }).first(),
        /apply step of run/,
      );
      await shot(page, name('2-runs-view'));
    });

    it('opens a 200-task run: a layered DAG that scrolls inside itself, budget bars, the decisions', async () => {
      // From the palette, as a person would for a run scrolled out of the view.
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.fill('>Build Master: Open Run');
      await page.locator('.quick-input-list .monaco-list-row[aria-label^="Build Master: Open Run"]').first().click();
      await input.fill(BIG_RUN);
      await page.locator(`.quick-input-list .monaco-list-row[aria-label^="${BIG_RUN}"]`).first().click();
      const view = webview(page);
      await until('201 DAG nodes', async () => (await view.locator('[data-testid="dag-node"]').count()) === 201, 60_000);
      await textOf(view.locator('[data-testid="run-status"]'), 'failed');
      assert.equal(await view.locator('[data-testid="budget-bar"]').count(), 3, 'USD, tokens and wall time');
      assert.equal(await overflowsHorizontally(view), false, 'the panel does not scroll sideways; the DAG scrolls inside its box');
      // The bars are drawn to scale (the panel's CSP forbids style attributes: widths are set another way).
      const usdFill = await view
        .locator('[data-testid="budget-bar"][data-dimension="usd"] > div')
        .evaluate((el) => el.getBoundingClientRect().width / (el.parentElement?.getBoundingClientRect().width ?? 1));
      assert.ok(Math.abs(usdFill - 25.16 / 40) < 0.03, `the USD bar is ${Math.round(usdFill * 100)}% full for $25.16 of $40`);
      const dag = await view.locator('[data-testid="dag"]').evaluate((el) => ({
        scrolls: el.scrollHeight > el.clientHeight,
        height: el.clientHeight,
      }));
      assert.ok(dag.scrolls && dag.height <= 460, `the DAG is a scrolling box, not a page of its own: ${JSON.stringify(dag)}`);
      await shot(page, name('3-big-run'));
      await view.locator('[data-testid="dag-node"][data-node^="t05-03"]').first().click();
      await textOf(view.locator('[data-testid="task-detail"] strong').first(), /^t05-03/);
      await shot(page, name('4-big-run-selected'));
      await view.locator('[data-testid="timeline"]').scrollIntoViewIfNeeded();
      assert.equal(await view.locator('[data-testid="decision"]').count(), 200, 'the newest 200 decisions; the rest are counted');
      await shot(page, name('5-big-run-timeline'));
      await palette(page, 'View: Close All Editors');
    });

    it('retries a failed task of a live run in place, and shows a long-named run and a run with no tasks whole', async () => {
      await sidebarView(page, 'Runs').locator('.monaco-list-row', { hasText: LIVE_RUN }).first().click();
      const view = webview(page);
      await view.locator(`[data-node="${FAILED_TASK}"]`).click();
      await textOf(view.locator('[data-testid="detail-status"]'), /^failed/);
      await textOf(view.locator('[data-testid="detail-error"]'), /rejects an empty basket/);
      await shot(page, name('6-live-run-failed-task'));
      await view.locator('[data-testid="retry"]').click();
      await textOf(view.locator('[data-testid="detail-status"]'), /^pending/);
      await shot(page, name('7-live-run-retried'));
      await palette(page, 'View: Close All Editors');

      await sidebarView(page, 'Runs').locator(`.monaco-list-row[aria-label^="run ${LONG_RUN}"]`).first().click();
      await textOf(view.locator('[data-testid="run-status"]'), 'awaiting-approval');
      await view.locator('[data-testid="gate"][data-step="apply"]').waitFor();
      assert.equal(await overflowsHorizontally(view), false, 'long names do not push the panel sideways');
      await shot(page, name('8-long-run'));
      await palette(page, 'View: Close All Editors');

      await sidebarView(page, 'Runs').locator('.monaco-list-row', { hasText: EMPTY_RUN }).first().click();
      await textOf(view.locator('[data-testid="no-tasks"]'), /No tasks yet: the run is planning/);
      await shot(page, name('9-empty-run'));
      await palette(page, 'View: Close All Editors');
    });

    it('shows the run KPIs on the dashboard', async () => {
      await palette(page, 'Build Master: Open Dashboard');
      const view = webview(page);
      const section = view.locator('[data-testid="run-kpis"]');
      await section.waitFor({ timeout: 30_000 });
      await section.scrollIntoViewIfNeeded();
      assert.equal(await view.locator('[data-testid^="kpi-run-"]').count(), 5);
      // core/runs/kpi.ts's numbers over the stored runs: the 200-task run merged changes at a cost.
      await textOf(view.locator('[data-testid="kpi-run-cost"] .value'), /^\$\d+\.\d\d$/);
      await textOf(view.locator('[data-testid="run-kpi-scope"]'), /^Over 4 runs and \d+ merged changes\.$/);
      assert.ok((await view.locator('[data-testid="run-kpi-classes"] tr').count()) >= 3, 'a success rate per worker class');
      await shot(page, name('10-dashboard-run-kpis'));
      await palette(page, 'View: Close All Editors');
    });
  });
}
