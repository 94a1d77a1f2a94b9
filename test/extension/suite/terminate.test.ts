/// <reference types="mocha" />
/**
 * Revoke vs terminate, through the commands the monitor's row buttons call: a task not started
 * is revoked and never runs; a running one is terminated (the confirmation names what its pool
 * does) and ends REVOKED, not SUCCESS; an ended one offers neither.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { stopActionFor } from '../../../extension/src/tasks/stop-action.js';
import { api, tasksFile, waitFor } from './helpers.js';

interface EnqueueResult {
  taskId: string;
}

suite('Revoke vs terminate', function () {
  this.timeout(120_000);
  const queue = `test-${randomUUID()}`;

  suiteTeardown(async () => {
    const a = await api();
    await a.workers().stopAll();
  });

  test('process pool: the waiting task revoked never runs; the running one terminated (SIGKILL named) ends REVOKED', async () => {
    const a = await api();
    const hostname = (await vscode.commands.executeCommand<string>('sprig.startWorker', { tasksFile: tasksFile(), queues: [queue], concurrency: 1, pool: 'process' }))!;
    const w = a.workers().byHostname(hostname)!;
    await waitFor('the worker to be ready', () => w.state === 'running', 60_000);
    const enqueue = (ms: number) => vscode.commands.executeCommand<EnqueueResult>('sprig.enqueueTask', { name: 'slow', file: tasksFile(), args: [ms], queue, quiet: true });
    const running = (await enqueue(60_000))!.taskId;
    const waiting = (await enqueue(50))!.taskId;
    const hub = a.hub();
    await waitFor('the first task to start', () => hub.state.tasks.get(running)?.state === 'STARTED', 30_000);
    await waitFor('the second to be received (held behind the first)', () => hub.state.tasks.get(waiting)?.state === 'RECEIVED', 30_000);
    assert.equal(stopActionFor(hub.state.tasks.get(waiting)!.state), 'revoke');
    assert.equal(stopActionFor(hub.state.tasks.get(running)!.state), 'terminate');

    assert.equal(await vscode.commands.executeCommand('sprig.revokeTask', waiting), true);
    const r = (await vscode.commands.executeCommand<{ sent: boolean; text: string }>('sprig.terminateTask', running, { confirmed: true }))!;
    assert.equal(r.sent, true);
    assert.match(r.text, /process pool/);
    assert.match(r.text, /pid \d+/);
    assert.match(r.text, /SIGKILL/);

    const t = await hub.waitForTask(running, 30_000);
    assert.equal(t?.state, 'REVOKED', `the terminated task ended ${t?.state}`);
    assert.equal(t?.succeeded, null);
    const t2 = await hub.waitForTask(waiting, 30_000);
    assert.equal(t2?.state, 'REVOKED');
    assert.equal(t2?.started, null, 'the revoked task never started');
    // The worker goes on: its pool child was replaced.
    const after = (await enqueue(10))!.taskId;
    assert.equal((await hub.waitForTask(after, 30_000))?.state, 'SUCCESS');

    assert.equal(stopActionFor('SUCCESS'), undefined);
    assert.equal(stopActionFor('REVOKED'), undefined);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('sprig.terminateTask', running, { confirmed: true })), /has ended/);
  });
});
