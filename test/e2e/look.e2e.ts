// How the cockpit looks where the light and dark suites (cockpit.e2e.ts) do not
// go: the high-contrast theme at 1280×800 and a narrow sidebar, with no cycle
// yet, three changes in a lane (the demo's web) and 200 with long names. Every
// check of a step is collected before the test fails, so one run shows all that
// is wrong; each step is screenshotted to test/e2e/artifacts/ (hc-*).
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Locator, Page } from 'playwright-core';
import { createDemoRepository } from '../../extension/cli/demo';
import { largeRepository } from '../../fixtures/largeStore';
import { installVsix, launchBrowser, openWorkbench, scratchDir, startCodeServer, type RunningCodeServer } from '../../fixtures/codeServer';
import { ARTIFACTS, VSIX, openContainer, palette, shot, sidebarView, textOf, until, webview } from './helpers';

const THEME = 'Default High Contrast';
const NARROW_SIDEBAR = 230;

/** Checks that do not stop the test: all of a run's problems are reported together. */
class Problems {
  private readonly list: string[] = [];
  check(ok: boolean, what: string): void {
    if (!ok) this.list.push(what);
  }
  assertNone(): void {
    assert.deepEqual(this.list, [], `the cockpit looks wrong:\n- ${this.list.join('\n- ')}`);
  }
}

/** Pixel facts of a tree row: is the start of its description (the lane's state) inside the clipped label? */
async function rowLayout(row: Locator): Promise<{ label: string; description: string; stateVisible: boolean; countVisible: boolean }> {
  return row.evaluate((el) => {
    const container = el.querySelector('.monaco-icon-label-container') ?? el;
    const label = el.querySelector('.label-name')?.textContent ?? '';
    const desc = el.querySelector('.label-description');
    const text = desc?.firstChild;
    let stateVisible = false;
    let countVisible = false;
    if (desc && text && text.nodeType === Node.TEXT_NODE) {
      // The first word of the description (the state) must end before the container clips.
      const word = (text.textContent ?? '').split(' ')[0] ?? '';
      const range = document.createRange();
      range.setStart(text, 0);
      range.setEnd(text, word.length);
      // An ellipsis does not move the text: compare with the nearest edges that clip it, up to the view's body.
      let clip = container.getBoundingClientRect().right;
      for (let e: Element | null = desc; e; e = e.closest('.pane-body') === e ? null : e.parentElement) {
        if (getComputedStyle(e).overflowX !== 'visible') clip = Math.min(clip, e.getBoundingClientRect().right);
      }
      stateVisible = word.length > 0 && range.getBoundingClientRect().right <= clip + 0.5;
      // The state and the count ("healthy · 200"): when the row overflows, the ellipsis covers the last
      // characters before the clip, so the count must end before the ellipsis begins.
      const stateAndCount = /^\S+\D*\d+/.exec(text.textContent ?? '')?.[0] ?? '';
      const whole = document.createRange();
      whole.selectNodeContents(text);
      const probe = document.createElement('span');
      probe.textContent = '…';
      desc.append(probe);
      const ellipsis = probe.getBoundingClientRect().width;
      probe.remove();
      const overflows = whole.getBoundingClientRect().right > clip + 0.5;
      range.setEnd(text, stateAndCount.length);
      countVisible = stateAndCount.length > 0 && range.getBoundingClientRect().right <= clip - (overflows ? ellipsis : 0) + 0.5;
    }
    return { label, description: desc?.textContent ?? '', stateVisible, countVisible };
  });
}

/** Narrows the primary sidebar by dragging the sash on its right edge, as a person would. */
async function narrowSidebar(page: Page, width: number): Promise<void> {
  const sidebar = page.locator('.part.sidebar');
  const box = await sidebar.boundingBox();
  assert.ok(box, 'the sidebar is shown');
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width + 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 8 });
  await page.mouse.up();
  await until(`the sidebar to be about ${width} px wide`, async () => {
    const now = await sidebar.boundingBox();
    return now !== null && Math.abs(now.width - width) < 30;
  });
}

/** How many lines an element's text takes (1: it does not wrap). */
async function lines(element: Locator): Promise<number> {
  return element.evaluate((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
  });
}

/** No horizontal scrollbar in a webview: nothing wider than the panel. */
async function overflowsHorizontally(view: FrameLocator): Promise<boolean> {
  return view.locator('body').evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

describe('cockpit end to end: high contrast, a narrow sidebar, long names', function () {
  this.timeout(420_000);
  let work: string;
  let server: RunningCodeServer | undefined;
  let browser: Browser;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    work = scratchDir('bm-e2e-look-');
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

  it('sizes the views to their content, keeps lane states in sight, and shows the dashboard and review panel without shouting or overflow', async () => {
    const problems = new Problems();
    const repo = join(work, 'shop');
    await createDemoRepository(repo, { withApproval: true });
    const extensionsDir = join(work, 'ext-shop');
    installVsix(VSIX, extensionsDir);
    server = await startCodeServer({ workspace: repo, extensionsDir, settings: { 'workbench.colorTheme': THEME, 'window.zoomLevel': 0 } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(repo)}`);
      await openContainer(page);
      const lanes = sidebarView(page, 'Lanes');
      for (const name of ['web', 'api', 'docs', 'shared'])
        await lanes.locator('.monaco-list-row', { hasText: name }).first().waitFor({ timeout: 60_000 });

      // No cycle yet: every lane has 0 queued. The Lanes view gets the room, not the empty views below it.
      // A view with nothing to show may be hidden altogether: it then takes no room at all.
      const height = async (title: string) => {
        const pane = sidebarView(page, title);
        return (await pane.count()) ? ((await pane.boundingBox())?.height ?? 0) : 0;
      };
      const [lanesHeight, incidentsHeight, approvalsHeight] = [await height('Lanes'), await height('Incidents'), await height('Approvals')];
      problems.check(
        lanesHeight >= 2 * Math.max(incidentsHeight, approvalsHeight),
        `Lanes is ${lanesHeight} px beside Incidents ${incidentsHeight} px and Approvals ${approvalsHeight} px`,
      );
      problems.check(lanesHeight >= 300, `Lanes is only ${lanesHeight} px tall at 1280×800`);
      await shot(page, 'hc-1-lanes-no-cycle');

      await palette(page, 'Build Master: Run One Cycle');
      const rename = lanes.locator('.monaco-list-row', { hasText: 'agent/web-rename' }).first();
      await rename.waitFor({ timeout: 60_000 });
      // Three changes in web: each row's description is short enough to read whole.
      await until(
        'the change rows to have descriptions',
        async () => ((await rename.locator('.label-description').textContent()) ?? '').length > 0,
      );
      for (const change of ['agent/web-footer', 'agent/web-header', 'agent/web-rename']) {
        const row = lanes.locator('.monaco-list-row', { hasText: change }).first();
        const description = (await row.locator('.label-description').textContent()) ?? '';
        problems.check(description.length <= 24, `${change}'s description is long and gets cut: "${description}"`);
      }
      await shot(page, 'hc-2-lanes-three-changes');

      // A narrow sidebar: every lane's state still shows beside its name.
      await narrowSidebar(page, NARROW_SIDEBAR);
      const laneRows = lanes.locator('.monaco-list-row[aria-level="1"]');
      problems.check((await laneRows.count()) === 4, `${await laneRows.count()} lane rows`);
      for (const row of await laneRows.all()) {
        const layout = await rowLayout(row);
        problems.check(
          layout.stateVisible,
          `lane ${layout.label}'s state is cut at a ${NARROW_SIDEBAR} px sidebar: "${layout.description}"`,
        );
        problems.check(
          layout.countVisible,
          `lane ${layout.label}'s count is cut at a ${NARROW_SIDEBAR} px sidebar: "${layout.description}"`,
        );
      }
      await shot(page, 'hc-3-lanes-narrow-sidebar');

      // The dashboard of a young repository: words instead of a lone bar, real lane reasons, one-line ids.
      await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
      const view = webview(page);
      await view.locator('[data-testid="lane"][data-lane="web"]').waitFor({ timeout: 30_000 });
      await until('one approval on the dashboard', async () => (await view.locator('[data-testid="approval"]').count()) === 1);
      for (const reason of await view.locator('[data-testid="lane"] .reason').allTextContents())
        problems.check(reason.trim() !== 'new lane', 'a lane card reads "new lane"');
      const emptyCharts = await view.locator('[data-testid="chart-empty"]').allTextContents();
      problems.check(
        emptyCharts.some((t) => /Too young to chart|No merges or incidents/.test(t)),
        `the merges chart of a one-day-old repository draws instead of saying so: ${JSON.stringify(emptyCharts)}`,
      );
      const id = view.locator('[data-testid="approval"] td').first();
      const idLines = await id.evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      });
      problems.check(idLines === 1, `the approval id wraps over ${idLines} lines`);
      // The action ("merge agent/infra-deploy") and the Review button read on one line each.
      const actionLines = await lines(view.locator('[data-testid="approval"] td').nth(1));
      problems.check(actionLines === 1, `the approval's action wraps over ${actionLines} lines`);
      const buttonLines = await lines(view.locator('[data-testid="approval"] vscode-button'));
      problems.check(buttonLines === 1, `the approval's Review button wraps over ${buttonLines} lines`);
      problems.check(!(await overflowsHorizontally(view)), 'the dashboard scrolls sideways at 1280×800 with a narrow sidebar');
      await shot(page, 'hc-4-dashboard');
      await view.locator('[data-testid="approval"]').scrollIntoViewIfNeeded();
      await shot(page, 'hc-4b-dashboard-approvals');

      // Run a cycle from the dashboard: while it runs, the header must not say the controller stopped.
      const header = view.locator('.header');
      await view.locator('vscode-button', { hasText: 'Run cycle' }).click();
      const seen = await until(
        'the Run cycle button to show Running…',
        () =>
          header.evaluate((el) => {
            const button = [...el.querySelectorAll('vscode-button')].find((b) => /Running/.test(b.textContent));
            const controller = [...el.querySelectorAll('span')].find((span) => /controller|cycle running/.test(span.textContent));
            return button ? (controller?.textContent ?? '') : false;
          }),
        30_000,
      ).catch(() => undefined);
      if (seen !== undefined) problems.check(!/stopped/.test(seen), `"${seen}" beside a running cycle`);
      await view.locator('vscode-button', { hasText: 'Run cycle' }).waitFor({ timeout: 120_000 });
      await palette(page, 'View: Close All Editors');

      // The review panel: file names and shas as they are, one header per file.
      await sidebarView(page, 'Approvals').locator('.monaco-list-row', { hasText: 'agent/infra-deploy' }).click();
      const review = webview(page);
      const file = review.locator('[data-testid="file-diff"][data-path="infra/deploy.sh"]');
      await file.waitFor({ timeout: 30_000 });
      const heading = await review
        .locator('h2', { hasText: /^diff/i })
        .evaluate((el) => ({ text: (el as HTMLElement).innerText, transform: getComputedStyle(el).textTransform }));
      problems.check(
        /base [0-9a-f]{8} · head [0-9a-f]{8}/.test(heading.text),
        `the diff heading reads "${heading.text}" (text-transform ${heading.transform})`,
      );
      // Every element that shows the path, inside shadow roots too (a collapsible draws its heading there);
      // innerText applies text-transform, so it is what a person reads.
      const shown = await review.locator('body').evaluate(() => {
        // A stack, not a recursive helper: the bundler would name a helper with a function the page lacks.
        const texts: string[] = [];
        const roots: (Document | ShadowRoot)[] = [document];
        for (let root = roots.pop(); root; root = roots.pop()) {
          for (const el of root.querySelectorAll('*')) {
            if (
              [...el.childNodes].some(
                (n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').toLowerCase().includes('infra/deploy.sh'),
              )
            )
              texts.push((el as HTMLElement).innerText);
            if (el.shadowRoot) roots.push(el.shadowRoot);
          }
        }
        return texts;
      });
      problems.check(shown.length === 1, `the file's path shows ${shown.length} times: ${JSON.stringify(shown)}`);
      problems.check(
        shown.every((t) => t.includes('infra/deploy.sh')),
        `the file's path is upper-cased: ${JSON.stringify(shown)}`,
      );
      problems.check(!(await overflowsHorizontally(review)), 'the review panel scrolls sideways');
      await shot(page, 'hc-5-review');
      problems.assertNone();
    } catch (error) {
      await shot(page, 'hc-failed-demo').catch(() => undefined);
      throw error;
    } finally {
      await page.close();
    }
  });

  it('keeps a long lane name from hiding its state and 200 changes from overflowing, in a narrow sidebar', async () => {
    const problems = new Problems();
    const repo = join(work, 'busy');
    largeRepository(repo, { lanes: 3, changes: 600, longNames: true });
    const extensionsDir = join(work, 'ext-busy');
    installVsix(VSIX, extensionsDir);
    server = await startCodeServer({ workspace: repo, extensionsDir, settings: { 'workbench.colorTheme': THEME } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(repo)}`);
      await openContainer(page);
      const lanes = sidebarView(page, 'Lanes');
      // The long-named lane sorts first; its row may show the name cut, so it is found by its place.
      const long = lanes.locator('.monaco-list-row[aria-level="1"]').first();
      await long.waitFor({ timeout: 60_000 });
      await textOf(long, /paym.*healthy · 200 queued/);
      let layout = await rowLayout(long);
      problems.check(layout.stateVisible, `at 1280×800 the long lane's state is cut: "${layout.label}" "${layout.description}"`);
      await shot(page, 'hc-6-busy-tree');
      await narrowSidebar(page, NARROW_SIDEBAR);
      layout = await rowLayout(long);
      problems.check(
        layout.stateVisible,
        `at a ${NARROW_SIDEBAR} px sidebar the long lane's state is cut: "${layout.label}" "${layout.description}"`,
      );
      problems.check(
        layout.countVisible,
        `at a ${NARROW_SIDEBAR} px sidebar the long lane's count is cut: "${layout.label}" "${layout.description}"`,
      );
      await shot(page, 'hc-7-busy-tree-narrow');

      await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().click();
      const view = webview(page);
      await textOf(view.locator('[data-testid="lane"]').first(), /and 192 more/);
      for (const reason of await view.locator('[data-testid="lane"] .reason').allTextContents())
        problems.check(reason.trim() !== 'new lane', 'a lane card reads "new lane"');
      problems.check(!(await overflowsHorizontally(view)), 'the dashboard with 200 long-named changes scrolls sideways');
      // Each lane card's state ("healthy 9s") stays on one line; a long name is cut with an ellipsis and is whole in its tooltip.
      for (const card of await view.locator('[data-testid="lane"]').all()) {
        const lane = (await card.getAttribute('data-lane')) ?? '';
        const stateLines = await lines(card.locator('.top > span.muted'));
        problems.check(stateLines === 1, `lane card ${lane}'s state wraps over ${stateLines} lines`);
      }
      const longName = view.locator('[data-testid="lane"]').first().locator('.name');
      const name = await longName.evaluate((el) => ({ cut: el.scrollWidth > el.clientWidth, title: el.getAttribute('title') ?? '' }));
      problems.check(name.cut, 'the long lane name is not ellipsized on its card');
      problems.check(/^payments-and-billing-reconciliation/.test(name.title), `the long lane name's tooltip reads "${name.title}"`);
      await shot(page, 'hc-8-busy-dashboard');
      problems.assertNone();
    } catch (error) {
      await shot(page, 'hc-failed-busy').catch(() => undefined);
      throw error;
    } finally {
      await page.close();
    }
  });
});
