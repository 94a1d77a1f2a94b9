/// <reference types="mocha" />
/**
 * Task files typecheck in the editor with nothing installed: the workspace has no node_modules, and
 * the extension's TypeScript server plugin gives `'sprig-queue'` the runtime's types.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { tasksFile, waitFor, workspaceDir } from './helpers.js';

const tsProblems = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'ts');

suite('Types in the editor', () => {
  test('no node_modules: the tasks file has zero TypeScript problems, a wrong call is a type error, hover shows task', async function () {
    this.timeout(240_000);
    const ws = workspaceDir();
    for (let d = ws; d !== path.dirname(d); d = path.dirname(d)) {
      assert.ok(!fs.existsSync(path.join(d, 'node_modules')), `${d} has a node_modules: this test would prove nothing`);
    }
    const tasks = await vscode.workspace.openTextDocument(tasksFile());
    await vscode.window.showTextDocument(tasks, { preview: false });
    // A probe with one deliberate mistake: its only problem must be the argument type (TS2345),
    // which the server can report only when it knows add's type (else: TS2307, cannot find module).
    const probe = vscode.Uri.file(path.join(ws, 'types-probe.ts'));
    fs.writeFileSync(probe.fsPath, "import { add } from './tasks';\nimport { task as t2 } from 'sprig';\nexport const r = add.delay('x', 3);\nexport const u = t2;\n");
    try {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(probe), { preview: false });
      const problems = await waitFor('the TypeScript server to check the probe', () => (tsProblems(probe).length ? tsProblems(probe) : undefined), 180_000, 250);
      assert.deepEqual(
        problems.map((d) => `${d.range.start.line + 1}: TS${typeof d.code === 'object' ? d.code.value : d.code}`),
        ['3: TS2345'],
        problems.map((d) => d.message).join('\n'),
      );
      // The tasks file was open first, so the server has checked it too: nothing to report.
      await vscode.window.showTextDocument(tasks, { preview: false });
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(tsProblems(tasks.uri).map((d) => `${d.range.start.line + 1}: ${d.message}`), []);

      const at = tasks.positionAt(tasks.getText().indexOf('task(') + 1);
      const hover = await waitFor('a hover on task', async () => {
        const hs = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', tasks.uri, at);
        const text = (hs ?? []).flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : c.value)).join('\n');
        return /\btask[<(]/.test(text) ? text : undefined;
      }, 60_000, 500);
      console.log(`    hover on task: ${hover.replace(/\s+/g, ' ').slice(0, 200)}`);
      assert.match(hover, /Task</, hover);
      // A bound task's context is typed, with no annotation.
      const ctxAt = tasks.positionAt(tasks.getText().indexOf('ctx.retry') + 1);
      const ctxHover = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', tasks.uri, ctxAt);
      assert.match((ctxHover ?? []).flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : c.value)).join('\n'), /TaskContext/);
    } finally {
      fs.rmSync(probe.fsPath, { force: true });
    }
  });
});
