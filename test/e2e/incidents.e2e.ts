// An incident read down to its failing tests, as a person sees it: the
// Incidents view lists each failing test with file:line and the lane it maps
// to, the dashboard does too, and the review panel shows which of a change's
// failing tests an open incident already knows. file:line opens the file at
// that line. In a light and a dark theme; screenshots in test/e2e/artifacts/.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createDemoRepository } from '../../extension/cli/demo';
import {
  ROOT,
  installVsix,
  launchBrowser,
  openWorkbench,
  scratchDir,
  startCodeServer,
  type RunningCodeServer,
} from '../../fixtures/codeServer';
import { ARTIFACTS, VSIX, openContainer, palette, shot, sidebarView, textOf, until, webview } from './helpers';
import { LONG_TEST, injectIncidentFailures } from './incidentFixture';

/** The editor shows `file` with the cursor on `line` (the status bar's "Ln N, Col M"). */
async function editorAt(page: Page, file: string, line: number): Promise<void> {
  await page.locator('.tab.active', { hasText: file }).waitFor({ timeout: 30_000 });
  await textOf(page.locator('.statusbar-item', { hasText: /^Ln \d+, Col \d+/ }).first(), new RegExp(`^Ln ${line}, Col 1`));
}

for (const theme of [
  { name: 'light', label: 'Default Light Modern' },
  { name: 'dark', label: 'Default Dark Modern' },
]) {
  describe(`an incident's failing tests end to end (${theme.name} theme)`, function () {
    this.timeout(300_000);
    let work: string;
    let repo: string;
    let server: RunningCodeServer;
    let browser: Browser;
    let page: Page;

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      work = scratchDir('bm-e2e-incident-');
      repo = join(work, 'shop');
      await createDemoRepository(repo);
      // Three real cycles: the web lane's queue reaches agent/web-rename, whose test-web fails before merge.
      for (let i = 0; i < 3; i++) execFileSync('node', [join(ROOT, 'dist', 'cli.js'), 'sync', '--repo', repo], { stdio: 'pipe' });
      injectIncidentFailures(repo);
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
          .screenshot({
            path: join(ARTIFACTS, `${theme.name}-failed-incident-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}.png`),
          })
          .catch(() => undefined);
    });

    after(async () => {
      await browser.close();
      await server.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('lists the failing tests under the incident with file:line and lane, and opens the file at the line', async () => {
      await openContainer(page);
      const incidents = sidebarView(page, 'Incidents');
      const row = incidents.locator('.monaco-list-row', { hasText: 'inc-e2eweb1' }).first();
      await row.waitFor({ timeout: 60_000 });
      // With an incident open, the Incidents view has room for it without the user folding anything:
      // expanded, and tall enough for its first incident's rows (13 here, 22 px each).
      const room = await until('the Incidents view to be laid out', async () => {
        const box = await incidents.boundingBox();
        const expanded = await incidents.locator('.pane-header').first().getAttribute('aria-expanded');
        return box && box.height > 0 ? { height: box.height, expanded } : undefined;
      });
      assert.equal(room.expanded, 'true', 'the Incidents view is collapsed while an incident is open');
      assert.ok(room.height >= 300, `the Incidents view is ${room.height} px tall while an incident is open`);
      await shot(page, `${theme.name}-incident-0-room`);
      // Fold the Lanes view (and Approvals, when shown), as a user reading an incident would, so all the
      // incident's rows are in view (the tree renders only the rows it shows).
      const folded = [];
      for (const title of ['Lanes', 'Approvals'])
        if (await sidebarView(page, title).count()) folded.push(sidebarView(page, title).locator('.pane-header').first());
      for (const header of folded) if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
      await textOf(row, /26 failing tests/);
      // The sidebar is narrow: a row is the test's title beside file:line and lane; the full id is in its tooltip.
      const long = incidents
        .locator('.monaco-list-row', { hasText: LONG_TEST.replace('web/app.test.js > greeting > ', 'greeting › ') })
        .first();
      await textOf(long, /web\/app\.js:1 · lane web · test-web/);
      await textOf(
        incidents.locator('.monaco-list-row', { hasText: 'and 17 more failing tests' }).first(),
        /build-master explain inc-e2eweb1/,
      );
      await textOf(incidents.locator('.monaco-list-row', { hasText: 'lint: the check as a whole' }).first(), /lane web$/);
      await shot(page, `${theme.name}-incident-1-tree`);
      await incidents.locator('.monaco-list-row', { hasText: 'checkout › step 1 keeps the basket' }).first().click();
      await editorAt(page, 'app.js', 2);
      await palette(page, 'View: Close All Editors');
      for (const header of folded) if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
    });

    it('shows the failing tests on the dashboard, capped, without breaking the layout, and file:line opens the file', async () => {
      await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
      const view = webview(page);
      const failures = view.locator('[data-testid="incident-failures"][data-incident="inc-e2eweb1"]');
      await failures.waitFor({ timeout: 30_000 });
      // 10 of 27 listed: lint, failing as a whole, first; test-web the rest.
      await until('10 failures listed for inc-e2eweb1', async () => (await failures.locator('[data-testid="failure"]').count()) === 10);
      await textOf(failures.locator('[data-testid="failure"]').first(), /^the check as a whole\s+→ lane web: no known test runner output/);
      await textOf(failures.locator('[data-testid="failures-more"]'), /^and 17 more in test-web/);
      await textOf(
        failures.locator('[data-testid="failure"]', { hasText: LONG_TEST }),
        /web\/app\.js:1\s+→ lane web: web\/app\.js is under lane web's paths/,
      );
      await textOf(
        view.locator('[data-testid="incident-failures"][data-incident="inc-e2eapi1"] [data-testid="failure"]'),
        /api\/server\.js:1\s+→ lane api/,
      );
      await failures.scrollIntoViewIfNeeded();
      const overflow = await view.locator('body').evaluate((body) => body.scrollWidth - body.clientWidth);
      assert.ok(overflow <= 1, `the dashboard scrolls sideways by ${overflow}px: a long test id broke the layout`);
      await shot(page, `${theme.name}-incident-2-dashboard`);
      await failures.locator('.file', { hasText: 'web/app.js:2' }).first().click();
      await editorAt(page, 'app.js', 2);
      await palette(page, 'View: Close All Editors');
    });

    it('shows in the review panel which of a change’s failing tests an open incident holds, and that its own lane’s does not excuse it', async () => {
      const lanes = sidebarView(page, 'Lanes');
      await lanes.locator('.monaco-list-row', { hasText: 'agent/web-rename' }).first().click();
      const view = webview(page);
      const check = view.locator('[data-testid="check-failures"][data-check="test-web"]');
      await check.waitFor({ timeout: 30_000 });
      await textOf(check.locator('.verdict'), "2 of 2 failing tests no other lane's incident holds.");
      await textOf(
        check.locator('[data-testid="failure"]', { hasText: LONG_TEST }),
        /web\/app\.js:1\s+— held by inc-e2eweb1 \(lane web\), this change's own lane: not excused/,
      );
      await textOf(
        check.locator('[data-testid="failure"]', { hasText: 'reads "Shop"' }),
        /web\/app\.js:2\s+— no other lane's incident holds it/,
      );
      await check.scrollIntoViewIfNeeded();
      const overflow = await view.locator('body').evaluate((body) => body.scrollWidth - body.clientWidth);
      assert.ok(overflow <= 1, `the review panel scrolls sideways by ${overflow}px`);
      await shot(page, `${theme.name}-incident-3-review`);
      await palette(page, 'View: Close All Editors');
    });
  });
}
