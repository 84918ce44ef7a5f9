// The cockpit's costs (issue 4): bundle sizes, activation time in code-server
// read from the extension's own log ("[activate] end: activated in X ms"), and
// the time to build the Lanes tree from a store with 1,000 queued changes in
// 20 lanes. Targets: activation ≤ 50 ms, tree ≤ 100 ms. Needs the vscode tier's
// install (scripts/setup-vscode.sh); prints a table and writes bench/results/vscode.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDemoRepository } from '../extension/cli/demo';
import { largeRepository } from '../fixtures/largeStore';
import {
  ROOT,
  codeServerInstalled,
  installVsix,
  launchBrowser,
  openWorkbench,
  runInExtensionHost,
  scratchDir,
  startCodeServer,
} from '../fixtures/codeServer';

const RUNS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number;
}

function findLogs(dir: string, name: string, found: string[] = []): string[] {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findLogs(path, name, found);
    else if (entry.endsWith(`${name}.log`)) found.push(path);
  }
  return found;
}

async function main(): Promise<void> {
  const missing = codeServerInstalled();
  if (missing) throw new Error(missing);
  const vsix = join(ROOT, 'build-master.vsix');
  const sizes = {
    extension_bytes: statSync(join(ROOT, 'dist', 'extension.js')).size,
    server_bytes: statSync(join(ROOT, 'dist', 'server.js')).size,
    dashboard_bytes: statSync(join(ROOT, 'dist', 'webview', 'dashboard.js')).size,
    review_bytes: statSync(join(ROOT, 'dist', 'webview', 'review.js')).size,
    vsix_bytes: existsSync(vsix) ? statSync(vsix).size : undefined,
  };

  // Activation: the installed .vsix, a fresh window each run, times from the extension's log.
  const work = scratchDir('bm-bench-vscode-');
  const demo = join(work, 'shop');
  await createDemoRepository(demo, { withApproval: true });
  const extensionsDir = join(work, 'extensions');
  installVsix(vsix, extensionsDir);
  const activation: number[] = [];
  {
    const server = await startCodeServer({ workspace: demo, extensionsDir });
    const browser = await launchBrowser();
    try {
      for (let i = 0; i < RUNS; i++) {
        const page = await browser.newPage();
        await openWorkbench(page, `${server.url}/?folder=${encodeURIComponent(demo)}`);
        await page.locator('.statusbar-item', { hasText: 'Build Master' }).first().waitFor({ timeout: 60_000 });
        await page.close();
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const log of findLogs(server.userDataDir, 'Build Master')) {
        for (const match of readFileSync(log, 'utf8').matchAll(/activated in ([\d.]+) ms/g)) activation.push(Number(match[1]));
      }
    } finally {
      await browser.close();
      await server.stop();
    }
  }

  // The Lanes tree with 1,000 changes, measured inside the extension host.
  const large = join(work, 'large');
  largeRepository(large, { lanes: 20, changes: 1000 });
  const out = join(work, 'tree.json');
  process.env.BUILDMASTER_BENCH_OUT = out;
  {
    const server = await startCodeServer({ workspace: large });
    const browser = await launchBrowser();
    try {
      const { code } = await runInExtensionHost(browser, server, large, join(ROOT, 'dist-test', 'bench', 'inHost.js'), 180_000);
      if (code !== 0) throw new Error(`the in-host tree benchmark failed (exit ${code}):\n${server.output().slice(-3000)}`);
    } finally {
      await browser.close();
      await server.stop();
    }
  }
  const tree = JSON.parse(readFileSync(out, 'utf8')) as {
    changes: number;
    lanes: number;
    items: number;
    refresh: number[];
    tree: number[];
  };
  // The first runs warm up the JIT; report the steady state.
  const steadyTree = tree.tree.slice(5);
  const steadyRefresh = tree.refresh.slice(5);
  const result = {
    ...sizes,
    activation_runs: activation.length,
    activation_ms_median: activation.length ? median(activation) : null,
    activation_ms_max: activation.length ? Math.max(...activation) : null,
    tree_changes: tree.changes,
    tree_lanes: tree.lanes,
    tree_items: tree.items,
    tree_ms_median: median(steadyTree),
    tree_ms_p95: p95(steadyTree),
    tree_first_ms: tree.tree[0],
    refresh_ms_median: median(steadyRefresh),
    refresh_ms_p95: p95(steadyRefresh),
    targets: { activation_ms: 50, tree_ms: 100 },
  };
  const kb = (n: number | undefined) => (n === undefined ? '—' : `${(n / 1024).toFixed(0)} KiB`);
  console.log('| measure | value | target |\n| --- | --- | --- |');
  console.log(`| extension bundle | ${kb(sizes.extension_bytes)} | |`);
  console.log(`| language server bundle | ${kb(sizes.server_bytes)} | |`);
  console.log(`| dashboard / review webview | ${kb(sizes.dashboard_bytes)} / ${kb(sizes.review_bytes)} | |`);
  console.log(`| .vsix | ${kb(sizes.vsix_bytes)} | |`);
  console.log(
    `| activation (median of ${activation.length}, from the extension log) | ${result.activation_ms_median?.toFixed(1)} ms (max ${result.activation_ms_max?.toFixed(1)}) | ≤ 50 ms |`,
  );
  console.log(
    `| Lanes tree, ${tree.changes} changes in ${tree.lanes} lanes (${tree.items} items) | ${result.tree_ms_median.toFixed(1)} ms (p95 ${result.tree_ms_p95.toFixed(1)}, first ${result.tree_first_ms?.toFixed(1)}) | ≤ 100 ms |`,
  );
  console.log(
    `| model refresh from the store (same data) | ${result.refresh_ms_median.toFixed(1)} ms (p95 ${result.refresh_ms_p95.toFixed(1)}) | |`,
  );
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'vscode.json'), `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(`bench vscode: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
