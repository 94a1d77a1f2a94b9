/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ControlRequest } from '../../../runtime/src/brokers/types.js';
import { api, record, tasksFile, waitFor } from './helpers.js';

interface EnqueueResult {
  taskId: string;
  name: string;
}

suite('Workers, enqueue and the monitor', function () {
  this.timeout(90_000);
  let hostname = '';

  suiteTeardown(async () => {
    const a = await api();
    await a.workers().stopAll();
  });

  test('Start Worker runs a worker on the fixture tasks file; the monitor sees it online', async () => {
    const a = await api();
    hostname = (await vscode.commands.executeCommand<string>('sprig.startWorker', { tasksFile: tasksFile(), queues: ['celery'], concurrency: 2, pool: 'async' }))!;
    assert.ok(hostname, 'startWorker returned no hostname');
    const w = a.workers().byHostname(hostname)!;
    await waitFor('the worker to be ready', () => w.state === 'running', 30_000);
    // Readiness comes over the worker's IPC channel (never from its log text).
    const ready = await waitFor('the ready message over IPC', () => w.ready, 30_000);
    assert.equal(ready.hostname, hostname);
    assert.equal(ready.pid, w.pid);
    assert.deepEqual(ready.queues, ['celery']);
    assert.equal(ready.pool, 'async');
    const info = await waitFor('worker-online in the monitor state', () => a.hub().state.workers.get(hostname), 20_000);
    assert.equal(info.online, true);
  });

  test('Open Monitor shows the webview view and it asks for the state', async () => {
    const a = await api();
    await vscode.commands.executeCommand('sprig.openMonitor');
    await waitFor('the monitor webview to be ready', () => a.monitor.isReady, 20_000);
  });

  test('Enqueue Task from a task definition (the CodeLens) runs it; the result reaches the monitor', async () => {
    const a = await api();
    const doc = await vscode.workspace.openTextDocument(tasksFile());
    await vscode.window.showTextDocument(doc);
    const lenses = await waitFor('CodeLenses on tasks.ts', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
      return l?.filter((x) => x.command?.command === 'sprig.enqueueTask').length ? l : undefined;
    });
    const lens = lenses.find((l) => (l.command!.arguments![0] as { name: string }).name === 'add')!;
    assert.equal(lens.command!.title, '▶ Enqueue');
    assert.equal(lens.range.start.line, doc.getText().split('\n').findIndex((l) => l.includes("task('add'")));
    const before = a.monitor.posted;
    const r = await vscode.commands.executeCommand<EnqueueResult>(lens.command!.command, { ...(lens.command!.arguments![0] as object), args: [2, 3], quiet: true });
    const t = await a.hub().waitForTask(r.taskId, 20_000);
    assert.equal(t?.state, 'SUCCESS');
    assert.equal(t?.result, '5');
    assert.equal(t?.worker, hostname);
    await waitFor('the batch to be posted to the webview', () => a.monitor.posted > before, 5000);
  });

  test('the editor context menu "Enqueue Task" finds the task under the cursor', async () => {
    const doc = await vscode.workspace.openTextDocument(tasksFile());
    const editor = await vscode.window.showTextDocument(doc);
    const line = doc.getText().split('\n').findIndex((l) => l.includes("task('boom'"));
    editor.selection = new vscode.Selection(line + 1, 2, line + 1, 2);
    const { requestFromArg } = await import('../../../extension/src/tasks/enqueue.js');
    assert.deepEqual(requestFromArg(doc.uri), { name: 'boom', file: doc.uri.fsPath });
  });

  let failedId = '';
  test('a failing task shows FAILURE with a traceback that points into tasks.ts', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand<EnqueueResult>('sprig.enqueueTask', { name: 'boom', file: tasksFile(), args: ['no way'], quiet: true });
    const t = await a.hub().waitForTask(r.taskId, 20_000);
    assert.equal(t?.state, 'FAILURE');
    assert.match(t!.exception!, /RangeError/);
    assert.ok(t!.traceback!.includes(`${tasksFile()}:`), `traceback has no frame in tasks.ts:\n${t!.traceback}`);
    failedId = r.taskId;
  });

  test('Retry Task re-enqueues with the same arguments under a new id linked to the old one', async () => {
    const a = await api();
    const newId = await vscode.commands.executeCommand<string>('sprig.retryTask', failedId);
    assert.ok(newId && newId !== failedId);
    const t = await a.hub().waitForTask(newId, 20_000);
    assert.equal(t?.state, 'FAILURE');
    assert.equal(t?.args, "('no way',)");
    assert.equal(t?.retryOf, failedId);
    assert.equal(a.hub().state.tasks.get(failedId)?.retriedAs, newId);
  });

  test('Retry of a task enqueued elsewhere uses the exact arguments stored with its result, not the cut repr', async () => {
    const a = await api();
    const { app } = await a.hub().connection();
    // Longer than the 1,024-character repr in the events, and with characters a repr escapes.
    const long = `x'\u{1F600}\n${'y'.repeat(3000)}`;
    const other = app.sendTask('add', [long, '!'], {});
    await other.sent;
    await a.hub().waitForTask(other.id, 20_000);
    assert.match(a.hub().state.tasks.get(other.id)?.args ?? '', /\.\.\.$/, 'the event repr is cut');
    const newId = await vscode.commands.executeCommand<string>('sprig.retryTask', other.id);
    await a.hub().waitForTask(newId, 20_000);
    const meta = await (await app.backend()).get(newId);
    assert.equal(meta?.status, 'SUCCESS');
    assert.equal(meta?.result, `${long}!`);
  });

  test('Retry falls back to the event repr only when accepted (no stored result)', async () => {
    const a = await api();
    const { app } = await a.hub().connection();
    const other = app.sendTask('add', [40, 2], {}, { ignoreResult: true });
    await other.sent;
    await a.hub().waitForTask(other.id, 20_000);
    assert.equal(await (await app.backend()).get(other.id), null, 'ignoreResult stored a result');
    const newId = await vscode.commands.executeCommand<string>('sprig.retryTask', other.id, { acceptRepr: true });
    const t = await a.hub().waitForTask(newId, 20_000);
    assert.equal(t?.result, '42');
  });

  test('Revoke Task broadcasts the revoke control command', async () => {
    const a = await api();
    const { broker, app } = await a.hub().connection();
    assert.ok(broker.subscribeControl, 'the broker has no control channel');
    const seen: ControlRequest[] = [];
    const off = await broker.subscribeControl((r) => seen.push(r));
    try {
      const slow = app.sendTask('slow', [8000], {});
      await slow.sent;
      await waitFor('the slow task to start', () => a.hub().state.tasks.get(slow.id)?.state === 'STARTED', 20_000);
      assert.equal(await vscode.commands.executeCommand('sprig.revokeTask', slow.id, true), true);
      const req = await waitFor('the revoke broadcast', () => seen.find((r) => r.method === 'revoke'), 10_000);
      assert.equal(req.arguments.task_id, slow.id);
      // The worker side of revoke is another engineer's work: report whether it acted on it.
      const revoked = await waitFor('task-revoked', () => a.hub().state.tasks.get(slow.id)?.state === 'REVOKED', 4000).catch(() => false);
      record('workerHonoursRevoke', revoked);
    } finally {
      await off();
    }
  });

  test('Purge Queue deletes the waiting messages of a queue', async () => {
    const a = await api();
    const { app } = await a.hub().connection();
    for (let i = 0; i < 3; i++) await app.sendTask('add', [i, i], {}, { queue: 'extension-test-purge' }).sent;
    const n = await vscode.commands.executeCommand<number>('sprig.purgeQueue', 'extension-test-purge');
    assert.equal(n, 3);
  });

  test('Show Worker Output and Restart Worker', async () => {
    const a = await api();
    assert.equal(await vscode.commands.executeCommand('sprig.showWorkerOutput', hostname), hostname);
    const w = a.workers().byHostname(hostname)!;
    const pid = w.pid;
    await vscode.commands.executeCommand('sprig.restartWorker', hostname);
    await waitFor('the restarted worker to be ready', () => w.state === 'running' && w.pid !== pid, 30_000);
    // The old one was stopped over IPC: it exited by itself, no signal.
    assert.deepEqual(w.lastStop, { code: 0, signal: null, how: 'ipc' });
    await waitFor('the restarted worker\'s ready message', () => w.ready?.pid === w.pid, 30_000);
  });

  test('status-bar counts follow the worker heartbeats', async () => {
    const a = await api();
    const w = a.workers().byHostname(hostname)!;
    const { app } = await a.hub().connection();
    const r = app.sendTask('add', [1, 1], {});
    await r.sent;
    await a.hub().waitForTask(r.id, 20_000);
    await waitFor('processed > 0 from a heartbeat', () => w.processed > 0, 10_000);
  });

  test('autoreload: editing and saving the tasks file reloads the worker', async function () {
    const a = await api();
    const flags = await a.workers().workerFlags();
    assert.ok(flags.has('--autoreload'), 'the bundled runtime offers --autoreload');
    const doc = await vscode.workspace.openTextDocument(tasksFile());
    const editor = await vscode.window.showTextDocument(doc);
    const text = doc.getText();
    const at = text.indexOf('(a: number, b: number) => a + b');
    assert.ok(at >= 0);
    const start = doc.positionAt(at);
    const end = doc.positionAt(at + '(a: number, b: number) => a + b'.length);
    await editor.edit((e) => e.replace(new vscode.Range(start, end), '(a: number, b: number) => a + b + 100'));
    await doc.save();
    try {
      const { app } = await a.hub().connection();
      await waitFor(
        'add(2, 3) to return 105 after the reload',
        async () => {
          const r = app.sendTask('add', [2, 3], {});
          await r.sent;
          const t = await a.hub().waitForTask(r.id, 5000);
          return t?.result === '105';
        },
        30_000,
        500,
      );
      record('autoreload', 'ok');
    } finally {
      fs.writeFileSync(tasksFile(), text);
    }
  });

  test('a crashed worker is reported (and can be restarted)', async () => {
    const a = await api();
    const w = a.workers().byHostname(hostname)!;
    const crashed = new Promise<void>((resolve) => w.onDidCrash(() => resolve()));
    process.kill(w.pid!, 'SIGKILL');
    await crashed;
    assert.equal(w.state, 'crashed');
    await a.workers().restart(w);
    await waitFor('the worker to run again', () => w.state === 'running', 30_000);
  });

  test('two workers at once (one per queue set); Stop Worker stops one and it goes offline', async () => {
    const a = await api();
    const second = (await vscode.commands.executeCommand<string>('sprig.startWorker', { tasksFile: tasksFile(), queues: ['second'], concurrency: 1, pool: 'async' }))!;
    assert.notEqual(second, hostname);
    const w2 = a.workers().byHostname(second)!;
    await waitFor('the second worker', () => w2.state === 'running', 30_000);
    assert.equal(a.workers().running().length, 2);
    await vscode.commands.executeCommand('sprig.stopWorker', second);
    assert.equal(w2.state, 'stopped');
    assert.deepEqual(w2.lastStop, { code: 0, signal: null, how: 'ipc' });
    assert.equal(w2.exitSignal, null);
    await waitFor('worker-offline', () => a.hub().state.workers.get(second)?.online === false, 10_000);
  });

  test('Pause Monitor / Resume Monitor', async () => {
    const a = await api();
    await vscode.commands.executeCommand('sprig.pauseMonitor');
    assert.equal(a.monitor.paused, true);
    await vscode.commands.executeCommand('sprig.resumeMonitor');
    assert.equal(a.monitor.paused, false);
  });
});
