// The Queues view and the charts in the real VS Code host (code-server + Playwright), with
// screenshots: a dead-letter requeue (one, then all) on a paused queue, a purge after its
// confirmation, and the charts under a burst of 1,000 tasks. A CLI worker on the workspace's
// embedded broker does the work; the extension is loaded from this folder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { openSession, spawnCliWorker, workbench } from './ui-test.mjs';

export async function runQueuesChartsTest(o) {
  const { root, workspace, results } = o;
  const { cs, page, shot, step } = await openSession({ ...o, name: 'ui-queues' }, { extensions: [root], env: { SPRIG_LOG_LEVEL: 'info' } });
  const { open, openMonitor } = workbench(page);
  const sprig = path.join(root, 'runtime', 'bin', 'sprig.js');
  const env = { ...process.env, SPRIG_PROJECT_DIR: workspace, SPRIG_LOG_LEVEL: 'warn' };
  const cli = (args) => {
    const r = spawnSync(process.execPath, [sprig, ...args], { cwd: workspace, env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`sprig ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const until = async (what, fn, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await page.waitForTimeout(250);
    }
  };

  await step('open the workbench', async () => {
    // A loaded machine (several suites at once) can take longer than 30 s to serve the workbench.
    page.setDefaultNavigationTimeout(120_000);
    await open(cs.url, workspace);
  });
  // The worker consumes qv-work (the burst) and qv-dead (where `refuse` dead-letters its messages).
  await step('a CLI worker on qv-work and qv-dead; two dead letters in qv-dead', async () => {
    cli(['call', 'refuse', '-a', '["bad 1"]', '-Q', 'qv-dead', '--no-check']);
    cli(['call', 'refuse', '-a', '["bad 2"]', '-Q', 'qv-dead', '--no-check']);
    for (let i = 0; i < 5; i++) cli(['call', 'add', '-a', `[${i}, 1]`, '-Q', 'qv-purge', '--no-check']);
    spawnCliWorker(o, path.join(results, 'ui-queues-worker.log'), ['--app', path.join(workspace, 'tasks.ts'), '-Q', 'qv-work,qv-dead', '-c', '8', '--pool', 'async', '-E', '-n', `qv-worker@${os.hostname()}`], env);
  });

  const monitor = await step('Sprig: Open Monitor; open its Queues section', async () => {
    const m = await openMonitor();
    await m.locator('#queues > summary').click();
    return m;
  });
  const row = (q) => monitor.locator(`#queues tr[data-queue="${q}"]`);
  const cell = (q, c) => row(q).locator(`td.${c}`).innerText();

  await step('qv-dead: 2 dead letters and the worker as its consumer', () =>
    until('qv-dead with 2 dead letters and 1 consumer', async () => (await cell('qv-dead', 'dead')) === '2' && (await cell('qv-dead', 'consumers')) === '1'),
  );

  await step('Pause qv-dead (cancel_consumer): no consumer left', async () => {
    await row('qv-dead').locator('button.queue-pause').click();
    await until('qv-dead paused', async () => (await cell('qv-dead', 'consumers')) === '0');
  });

  await step('Requeue 1, then Requeue all (confirmed): the dead letters wait in qv-dead again', async () => {
    await row('qv-dead').locator('button.queue-requeue-one').click();
    await until('one requeued', async () => (await cell('qv-dead', 'dead')) === '1' && (await cell('qv-dead', 'waiting')) === '1');
    await row('qv-dead').locator('button.queue-requeue-all').click();
    await row('qv-dead').locator('button.queue-requeue-all', { hasText: 'Confirm' }).waitFor({ timeout: 10_000 });
    await row('qv-dead').locator('button.queue-requeue-all').click();
    await until('all requeued', async () => (await cell('qv-dead', 'dead')) === '0' && (await cell('qv-dead', 'waiting')) === '2');
    await shot('queues-requeue.png');
  });

  await step('Purge qv-purge: asks first, then 5 waiting → 0', async () => {
    await until('qv-purge with 5 waiting', async () => (await cell('qv-purge', 'waiting')) === '5');
    await row('qv-purge').locator('button.queue-purge').click();
    await row('qv-purge').locator('button.queue-purge', { hasText: 'Confirm purge' }).waitFor({ timeout: 10_000 });
    await shot('queues-purge-confirm.png');
    if ((await cell('qv-purge', 'waiting')) !== '5') throw new Error('the first click purged');
    await row('qv-purge').locator('button.queue-purge').click();
    // Empty, an embedded broker no longer names the queue (nobody consumes it): the row goes or shows 0.
    await until('qv-purge empty', async () => (await row('qv-purge').count()) === 0 || (await cell('qv-purge', 'waiting')) === '0');
    const out = cli(['queues', 'list', '--json', '-Q', 'qv-purge']);
    const q = JSON.parse(out).find((x) => x.name === 'qv-purge');
    if (!q || q.waiting !== 0) throw new Error(`sprig queues says qv-purge still has ${q?.waiting} waiting`);
    await shot('queues-purged.png');
  });

  await step('Resume qv-dead (add_consumer): the worker takes the two and dead-letters them again', async () => {
    await row('qv-dead').locator('button.queue-resume').click();
    await until('dead again', async () => (await cell('qv-dead', 'dead')) === '2' && (await cell('qv-dead', 'waiting')) === '0');
  });

  await step('Charts under a burst of 1,000 tasks', async () => {
    await monitor.locator('#queues > summary').click(); // closed: the charts get the room
    await monitor.locator('#charts > summary').click();
    await monitor.locator('#chart-throughput canvas').waitFor({ timeout: 20_000 });
    const rt = createRequire(import.meta.url)(path.join(root, 'dist', 'runtime', 'index.js'));
    const app = new rt.App({ brokerUrl: 'sprig://', projectDir: workspace });
    try {
      await app.sendMany(Array.from({ length: 1000 }, (_, i) => ({ name: 'add', args: [i, i], options: { queue: 'qv-work' } })));
    } finally {
      await app.close();
    }
    await until('1,000 succeeded in the charts', async () => Number(await monitor.locator('.charts').getAttribute('data-succeeded')) >= 1000, 120_000);
    // Each chart drew its series: uPlot's legend shows the values of the last point.
    for (const id of ['chart-throughput', 'chart-runtime', 'chart-depth']) await monitor.locator(`#${id} canvas`).waitFor();
    await page.waitForTimeout(1500);
    await shot('charts-burst.png');
  });
  await page.close();
  cs.stop();
}
