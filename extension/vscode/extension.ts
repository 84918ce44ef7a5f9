// The cockpit's entry point. Activation is lazy (see package.json activationEvents).
import * as vscode from 'vscode';
import { parsePolicy } from '../core/policy/parse';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Build Master', { log: true });
  const diagnostics = vscode.languages.createDiagnosticCollection('build-master');
  context.subscriptions.push(log, diagnostics);
  context.subscriptions.push(
    vscode.commands.registerCommand('buildMaster.validatePolicy', async () => {
      const [file] = await vscode.workspace.findFiles('{.buildmaster.yml,.github/buildmaster.yml}', undefined, 1);
      if (!file) {
        void vscode.window.showInformationMessage('Build Master: no .buildmaster.yml in this workspace; every key uses its default.');
        return;
      }
      const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(file));
      const result = parsePolicy(text, vscode.workspace.asRelativePath(file));
      diagnostics.set(
        file,
        result.problems.map((problem) => {
          const range = new vscode.Range(problem.line - 1, problem.column - 1, problem.endLine - 1, problem.endColumn - 1);
          const diagnostic = new vscode.Diagnostic(range, `${problem.message} (${problem.hint})`, vscode.DiagnosticSeverity.Error);
          diagnostic.source = 'build-master';
          diagnostic.code = problem.code;
          return diagnostic;
        }),
      );
      log.info(`validated ${file.fsPath}: ${result.problems.length} problem(s)`);
      if (result.ok) void vscode.window.showInformationMessage('Build Master: the policy file is valid.');
    }),
  );
}

export function deactivate(): void {}
