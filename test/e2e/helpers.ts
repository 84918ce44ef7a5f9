// What the end-to-end suites share: driving the workbench as a person does
// (the palette, the Build Master container, a webview's page), waiting on
// states rather than sleeping, and screenshots of what is asserted.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { ROOT } from '../../fixtures/codeServer';

export const ARTIFACTS = join(ROOT, 'test', 'e2e', 'artifacts');
export const VSIX = join(ROOT, 'build-master.vsix');

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
}

export async function palette(page: Page, command: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${command}`);
  // Click the row named exactly so: a longer command can rank first for the same words.
  const row = page.locator(`.quick-input-list .monaco-list-row[aria-label^="${command}"]`).first();
  await row.click();
  await input.waitFor({ state: 'hidden' });
}

/** Opens the Build Master container from the activity bar. */
export async function openContainer(page: Page): Promise<void> {
  await page.locator('.activitybar a[aria-label^="Build Master"]').click();
}

/** One view of the container (Lanes, Approvals, …) by its header. */
export function sidebarView(page: Page, title: string): Locator {
  return page.locator('.pane', { has: page.locator('.pane-header', { hasText: title }) });
}

/** The page inside the one visible webview (panels are opened one at a time). */
export function webview(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
}

/**
 * Waits until `probe` returns something other than undefined or false. The
 * workbench paints asynchronously (a progress spinner stands in for a badge's
 * count while a cycle runs, a webview fills in after it loads), so a value is
 * awaited as a state, never read once.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the locator's text matches; a timeout names what it read last. */
export async function textOf(locator: Locator, expected: RegExp | string, timeoutMs = 30_000): Promise<string> {
  let last = null as string | null; // set inside the polled callback
  let problem = '';
  const matches = (text: string) => (typeof expected === 'string' ? text === expected : expected.test(text));
  try {
    return await until(
      `${String(locator)} to read ${String(expected)}`,
      async () => {
        const text = await locator.textContent({ timeout: 5_000 }).catch((error: unknown) => {
          problem = (error as Error).message.split('\n')[0] ?? '';
          return null;
        });
        if (text === null) return undefined;
        last = text.trim();
        return matches(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    const read = last === null ? `it never appeared${problem ? ` (${problem})` : ''}` : `it read ${JSON.stringify(last)}`;
    throw new assert.AssertionError({ message: `${(error as Error).message}; ${read}`, actual: last, expected, operator: 'match' });
  }
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(300); // let the last paint land
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}
