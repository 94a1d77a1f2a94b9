/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { api, tasksFile, waitFor } from './helpers.js';

interface SelectResult {
  url: string;
  ok: boolean;
  error?: string;
}

const REDIS = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

suite('Changing the broker', function () {
  this.timeout(120_000);
  const queue = `test-${randomUUID()}`;
  let hostname = '';

  suiteTeardown(async () => {
    const a = await api();
    await a.workers().stopAll();
    await vscode.commands.executeCommand('sprig.selectBroker', { url: '', restartWorkers: false });
  });

  test('Select Broker moves the workers to the new broker, Restart Worker too; the monitor shows one broker at a time', async function () {
    const probe = await vscode.commands.executeCommand<SelectResult>('sprig.selectBroker', { url: REDIS, save: false });
    // Redis is part of the test setup (.ci/run starts it): without it this test fails, never skips.
    assert.equal(probe?.ok, true, `Redis at ${REDIS} does not answer: ${probe?.error ?? ''}`);
    const a = await api();
    await vscode.commands.executeCommand('sprig.selectBroker', { url: '', restartWorkers: false });
    hostname = (await vscode.commands.executeCommand<string>('sprig.startWorker', { tasksFile: tasksFile(), queues: [queue], concurrency: 1, pool: 'async' }))!;
    const w = a.workers().byHostname(hostname)!;
    await waitFor('the worker on the embedded broker', () => w.ready?.broker === 'sprig://', 30_000);
    const before = await vscode.commands.executeCommand<{ taskId: string }>('sprig.enqueueTask', { name: 'add', file: tasksFile(), args: [1, 2], queue, quiet: true });
    assert.equal((await a.hub().waitForTask(before.taskId, 20_000))?.state, 'SUCCESS');

    const r = await vscode.commands.executeCommand<SelectResult>('sprig.selectBroker', { url: REDIS, restartWorkers: true });
    assert.equal(r?.ok, true, r?.error);
    // The worker was restarted on Redis: it says so in its ready message.
    await waitFor('the worker on Redis', () => w.ready?.broker.startsWith('redis://'), 30_000);
    // The monitor forgot the embedded broker's tasks, and shows the new broker's workers.
    assert.equal(a.hub().state.tasks.has(before.taskId), false, 'the old broker\'s task is still in the monitor');
    await waitFor('the worker online in the monitor of the new broker', () => a.hub().state.workers.get(hostname)?.online, 20_000);
    assert.match(a.hub().displayUrl, /^redis:\/\//);
    const after = await vscode.commands.executeCommand<{ taskId: string }>('sprig.enqueueTask', { name: 'add', file: tasksFile(), args: [2, 3], queue, quiet: true });
    const t = await a.hub().waitForTask(after.taskId, 20_000);
    assert.equal(t?.state, 'SUCCESS');
    assert.equal(t?.worker, hostname);

    // The setting changed and the workers were left where they are: Restart Worker takes the new one.
    await vscode.commands.executeCommand('sprig.selectBroker', { url: '', restartWorkers: false });
    assert.match(w.ready?.broker ?? '', /^redis:\/\//, 'the worker was moved though it was asked not to');
    assert.deepEqual(a.workers().onOtherBroker('sprig://').map((x) => x.hostname), [hostname]);
    await vscode.commands.executeCommand('sprig.restartWorker', hostname);
    await waitFor('the restarted worker on the embedded broker', () => w.ready?.broker === 'sprig://', 30_000);
  });
});
