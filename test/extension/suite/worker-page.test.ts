/// <reference types="mocha" />
/**
 * A worker's page: opened for a running worker, it reads the worker's stats over the remote
 * control; growing the pool by one shows in the next reading; a rate limit and time limits set
 * from it are what the worker answers afterwards; bad values are refused with the worker's error.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import type { WorkerPageInfo } from '../../../extension/src/workers/worker-page-protocol.js';
import { api, tasksFile, waitFor } from './helpers.js';

const poolSize = (i: WorkerPageInfo | undefined) => (i?.stats?.pool as { 'max-concurrency'?: number } | undefined)?.['max-concurrency'];

suite('Worker pages', function () {
  this.timeout(120_000);
  const queue = `test-${randomUUID()}`;

  suiteTeardown(async () => {
    const a = await api();
    a.workerPages().dispose();
    await a.workers().stopAll();
  });

  test('open a worker\'s page; grow the pool by 1 and the stats show it; set a rate limit and time limits', async () => {
    const a = await api();
    const hostname = (await vscode.commands.executeCommand<string>('sprig.startWorker', { tasksFile: tasksFile(), queues: [queue], concurrency: 2, pool: 'async' }))!;
    await waitFor('the worker to be ready', () => a.workers().byHostname(hostname)?.state === 'running', 60_000);
    assert.equal(await vscode.commands.executeCommand('sprig.openWorkerPage', hostname), hostname);
    const page = a.workerPages().get(hostname)!;
    assert.ok(page, 'no page for the worker');
    // The page's script says ready and gets a reading (it is drawn from what was posted).
    await waitFor('the page to be ready and read', () => page.ready && page.info?.online, 30_000);
    const first = page.info!;
    assert.equal(poolSize(first), 2);
    assert.equal(first.stats?.pool && (first.stats.pool as { implementation?: string }).implementation, 'async');
    assert.ok(first.registered?.includes('add'), `registered: ${JSON.stringify(first.registered)}`);
    assert.deepEqual(first.activeQueues, [queue]);
    assert.equal(first.conf?.pool, 'async');

    const posted = page.posted;
    const grow = await page.control('pool_grow', { n: 1 });
    assert.deepEqual(grow, { ok: true, text: 'pool will grow' });
    assert.equal(poolSize(page.info), 3, 'the reading after pool_grow');
    assert.ok(page.posted > posted, 'the new reading was posted to the page');

    const rate = await page.control('rate_limit', { task_name: 'add', rate_limit: '10/m' });
    assert.equal(rate.ok, true, rate.text);
    assert.equal((page.info?.conf?.task_rate_limits as Record<string, number>).add, 10 / 60);
    const bad = await page.control('rate_limit', { task_name: 'add', rate_limit: 'fast' });
    assert.equal(bad.ok, false);
    const time = await page.control('time_limit', { task_name: 'slow', soft: 5, hard: 10 });
    assert.equal(time.ok, true, time.text);
    assert.deepEqual((page.info?.conf?.task_time_limits as Record<string, unknown>).slow, { hard: 10, soft: 5 });
    const shrink = await page.control('pool_shrink', { n: 2 });
    assert.equal(shrink.ok, true);
    assert.equal(poolSize(page.info), 1);

    // Shutdown (confirmed here; the page asks first): the worker stops.
    const stop = await page.control('shutdown', {}, true);
    assert.equal(stop.ok, true, stop.text);
    await waitFor('the worker to exit', () => a.workers().byHostname(hostname)?.state === 'stopped', 30_000);
  });
});
