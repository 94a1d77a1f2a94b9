import * as vscode from 'vscode';
import { findTaskDefinitions } from './task-index.js';

/** "Enqueue" (with Enqueue Task's icon, not the ▷ of Start Worker) above every `task('name', ...)` definition. */
export class TaskCodeLensProvider implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const text = doc.getText();
    if (!text.includes('sprig')) return [];
    return findTaskDefinitions(text, doc.uri.fsPath).flatMap((d) => {
      const range = new vscode.Range(d.line, d.character, d.line, d.character);
      const signature = d.params ? `: ${d.name}(${d.params.join(', ')})` : '';
      return [
        new vscode.CodeLens(range, {
          title: '$(send) Enqueue',
          tooltip: `Enqueue the task '${d.name}'${signature} (asks for its arguments as JSON)`,
          command: 'sprig.enqueueTask',
          arguments: [{ name: d.name, file: d.file }],
        }),
        new vscode.CodeLens(range, {
          title: '$(debug-alt) Debug',
          tooltip: `Run the task '${d.name}'${signature} here under the debugger, as a worker would (asks for its arguments as JSON; breakpoints in this file hit)`,
          command: 'sprig.debugTask',
          arguments: [{ name: d.name, file: d.file }],
        }),
      ];
    });
  }
}
