// Runs in a second code-server whose workspace is not trusted (the runner's
// second pass): Build Master shows state but runs no cycle and merges nothing.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as vscode from 'vscode';
import type { CockpitApi } from '../../extension/vscode/extension';

describe('untrusted workspace', function () {
  this.timeout(60_000);

  it('runs no cycle, starts no controller and merges nothing; it still shows the lanes', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the runner opens this pass untrusted');
    const extension = vscode.extensions.getExtension<CockpitApi>('build-master.build-master');
    assert.ok(extension);
    const api = extension.isActive ? extension.exports : await extension.activate();
    const model = await api.cockpit.refresh();
    assert.deepEqual(
      model.lanes.map((l) => l.name),
      ['web', 'api', 'docs', 'shared'],
    );
    assert.equal(model.controller.trusted, false);
    const dir = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath as string;
    const before = execFileSync('git', ['rev-parse', 'main'], { cwd: dir, encoding: 'utf8' });
    await vscode.commands.executeCommand('buildMaster.sync');
    await vscode.commands.executeCommand('buildMaster.startController');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(api.cockpit.model.controller.running, false);
    assert.equal(api.cockpit.model.lastCycle, undefined, 'no cycle ran');
    assert.equal(execFileSync('git', ['rev-parse', 'main'], { cwd: dir, encoding: 'utf8' }), before, 'nothing merged');
    await assert.rejects(api.cockpit.sync(), /untrusted workspace/);
  });
});
