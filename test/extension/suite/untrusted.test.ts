/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, tasksFile } from './helpers.js';

suite('Untrusted workspace', () => {
  test('the workspace is untrusted (restricted mode) and the extension is active', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const a = await api();
    assert.ok(a.activationMs >= 0);
  });

  test('Start Worker refuses, with an explanation, and starts no process', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand('sprig.startWorker', { tasksFile: tasksFile(), queues: ['celery'], concurrency: 1, pool: 'async' });
    assert.equal(r, undefined);
    assert.equal(a.workers().list().length, 0);
    await assert.rejects(a.workers().start({ tasksFile: tasksFile(), queues: ['celery'], concurrency: 1, pool: 'async' }), /untrusted workspace/);
  });

  test('Restart Worker refuses too', async () => {
    assert.equal(await vscode.commands.executeCommand('sprig.restartWorker', 'nope'), undefined);
  });
});
