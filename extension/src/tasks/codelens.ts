import * as vscode from 'vscode';
import { findTaskDefinitions } from './task-index.js';

/** "Enqueue" (with Enqueue Task's icon, not the ▷ of Start Worker) above every `task('name', ...)` definition. */
export class TaskCodeLensProvider implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const text = doc.getText();
    if (!text.includes('sprig')) return [];
    return findTaskDefinitions(text, doc.uri.fsPath).map((d) => {
      const range = new vscode.Range(d.line, d.character, d.line, d.character);
      return new vscode.CodeLens(range, {
        title: '$(send) Enqueue',
        tooltip: `Enqueue the task '${d.name}'${d.params ? `: ${d.name}(${d.params.join(', ')})` : ''} (asks for its arguments as JSON)`,
        command: 'sprig.enqueueTask',
        arguments: [{ name: d.name, file: d.file }],
      });
    });
  }
}
