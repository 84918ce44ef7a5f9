// Runs inside the extension host (the vscode bench): times a refresh of the
// cockpit model from a store holding 1,000 queued changes, and building the
// Lanes tree (every lane and every change item) from it. Writes JSON to
// BUILDMASTER_BENCH_OUT.
import { writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { CockpitApi } from '../../extension/vscode/extension';

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<CockpitApi>('build-master.build-master');
  if (!extension) throw new Error('build-master.build-master is not installed');
  const api = extension.isActive ? extension.exports : await extension.activate();
  const refresh: number[] = [];
  const tree: number[] = [];
  let items = 0;
  for (let i = 0; i < 25; i++) {
    const t0 = performance.now();
    await api.cockpit.refresh();
    const t1 = performance.now();
    items = 0;
    for (const lane of api.lanes.getChildren()) {
      api.lanes.getTreeItem(lane);
      items++;
      for (const child of api.lanes.getChildren(lane)) {
        api.lanes.getTreeItem(child);
        items++;
      }
    }
    const t2 = performance.now();
    refresh.push(t1 - t0);
    tree.push(t2 - t1);
  }
  const changes = api.cockpit.model.lanes.reduce((n, l) => n + l.queue.length, 0);
  const out = process.env.BUILDMASTER_BENCH_OUT;
  if (out)
    writeFileSync(
      out,
      JSON.stringify({ changes, lanes: api.cockpit.model.lanes.length, items, refresh, tree, activation_ms: api.activation.ms }),
    );
}
