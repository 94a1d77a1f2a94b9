/// <reference types="mocha" />
/**
 * A TypeScript workspace with no sprig.config, no tasks file and no .sprig/: opening its files does
 * not activate Sprig (activation events are Sprig's own, not every TypeScript workspace); opening
 * the Sprig view or running a Sprig command does.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, waitFor, workspaceDir } from './helpers.js';

suite('An unrelated workspace', () => {
  test('opening a TypeScript file leaves Sprig inactive; a Sprig command activates it', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed in this host`);
    const doc = await vscode.workspace.openTextDocument(path.join(workspaceDir(), 'src', 'index.ts'));
    await vscode.window.showTextDocument(doc);
    assert.equal(doc.languageId, 'typescript');
    // The language's activation would have fired by the time the TypeScript server answers a hover.
    await waitFor('the TypeScript server', async () => {
      const hs = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(0, 14));
      return (hs ?? []).length > 0;
    }, 120_000, 500);
    assert.equal(ext.isActive, false, 'Sprig activated in a workspace that does not use it');
    await vscode.commands.executeCommand('sprig.openMonitor');
    await waitFor('Sprig to activate on its command', () => ext.isActive, 30_000);
  });
});
