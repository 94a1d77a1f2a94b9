/**
 * `sprig monitor --http`: the monitor page served to a browser, driven in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core) against real Redis: the page loads with the
 * token and shows a task sent while it is open; without the token 401; a non-loopback bind is
 * refused; read-only refuses actions (403, no buttons); with --allow-actions the Queues view purges
 * and requeues dead letters.
 *   node --import tsx --test --test-concurrency=1 --test-force-exit test/integration/monitor-http.test.ts
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { App } from '../../runtime/src/app/app.js';
import type { Broker, Delivery } from '../../runtime/src/brokers/types.js';
import { cliResult, runCli, waitFor, type Spawned } from '../helpers.js';

const REDIS = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const CHROMIUM = process.env.SPRIG_CHROMIUM ?? '/usr/bin/chromium';

async function startMonitor(extra: string[] = []): Promise<{ s: Spawned; url: string; origin: string }> {
  const s = runCli(['monitor', '--http', '127.0.0.1:0', '--broker', REDIS, ...extra]);
  const url = await waitFor(() => /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(s.out())?.[1], 30_000, `the monitor's URL (stderr: ${s.err()})`);
  return { s, url, origin: new URL(url).origin };
}

async function stop(s: Spawned): Promise<void> {
  s.proc.kill('SIGTERM');
  await s.exit;
}

describe('sprig monitor --http', () => {
  let browser: Browser;
  const app = new App({ brokerUrl: REDIS, sendSentEvent: true });
  const queues: string[] = [];
  const queue = () => {
    const q = `test-${randomUUID()}`;
    queues.push(q);
    return q;
  };

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    const b = await app.broker();
    for (const q of queues) {
      await b.purge(q);
      await b.purge(`${q}.dead-letter`);
    }
    const { Redis } = await import('ioredis');
    const raw = new Redis(REDIS);
    await raw.del(...queues.map((q) => `_kombu.binding.${q}`));
    raw.disconnect();
    await app.close();
  });

  const open = async (url: string): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('#search-id', { timeout: 30_000 });
    return page;
  };

  test('a non-loopback bind is refused, naming the flag that allows it', async () => {
    const r = await cliResult(['monitor', '--http', '0.0.0.0:0', '--broker', REDIS]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not a loopback address.*--allow-remote/s);
    const bad = await cliResult(['monitor', '--http', '127.0.0.1:99999', '--broker', REDIS]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /port must be 0-65535/);
  });

  test('read-only: 401 without the token; the page loads with it and shows a task sent while it is open; actions refused', async () => {
    const { s, url, origin } = await startMonitor();
    try {
      assert.match(s.out(), /read-only/);
      for (const p of ['/', '/events', '/monitor.js']) assert.equal((await fetch(`${origin}${p}`)).status, 401, `${p} without the token`);
      assert.equal((await fetch(`${origin}/?token=wrong`)).status, 401, 'a wrong token');
      assert.equal((await fetch(`${origin}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"listQueues","id":1}' })).status, 401);

      const page = await open(url);
      const name = `monitorhttp.${randomUUID().slice(0, 8)}`;
      const q = queue();
      const sent = app.sendTask(name, [1, 2], {}, { queue: q });
      await sent.sent;
      await page.locator(`text=${name}`).first().waitFor({ timeout: 30_000 });

      // The page's own fetch (cookie from the token URL): an action is refused, the queue keeps its message.
      const r = await page.evaluate(async (queue) => {
        const res = await fetch('/rpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'purgeQueue', id: 7, params: { queue } }) });
        return { status: res.status, body: (await res.json()) as { ok: boolean; error?: string } };
      }, q);
      assert.equal(r.status, 403);
      assert.equal(r.body.ok, false);
      assert.match(r.body.error ?? '', /read-only/);
      assert.equal(await (await app.broker()).queueLength(q), 1, 'nothing purged');

      // The Queues view lists the queue without action buttons.
      await page.click('#queues > summary');
      await page.waitForSelector(`tr[data-queue="${q}"]`, { timeout: 30_000 });
      assert.equal(await page.locator(`tr[data-queue="${q}"] td.waiting`).innerText(), '1');
      assert.equal(await page.locator('#queues button').count(), 0, 'no action buttons when read-only');
      await page.close();
    } finally {
      await stop(s);
    }
  });

  test('--allow-actions: the Queues view purges (after a confirmation) and requeues the dead letters', async () => {
    const { s, url } = await startMonitor(['--allow-actions']);
    try {
      const broker: Broker = await app.broker();
      const q = queue();
      for (let i = 0; i < 3; i++) await app.sendTask('monitorhttp.purge', [i], {}, { queue: q }).sent;
      const page = await open(url);
      await page.click('#queues > summary');
      const row = page.locator(`tr[data-queue="${q}"]`);
      await waitFor(async () => (await row.count()) === 1 && (await row.locator('td.waiting').innerText()) === '3', 30_000, 'the queue with 3 waiting');
      await row.locator('button.queue-purge').click();
      await waitFor(async () => (await row.locator('button.queue-purge').innerText()).includes('Confirm'), 10_000, 'the confirmation');
      assert.equal(await broker.queueLength(q), 3, 'the first click only asks');
      await row.locator('button.queue-purge').click();
      await waitFor(async () => (await broker.queueLength(q)) === 0, 30_000, 'purged');

      // Two dead letters: rejected by a consumer of the queue.
      const held: Delivery[] = [];
      for (let i = 0; i < 2; i++) await app.sendTask('monitorhttp.dead', [i], {}, { queue: q }).sent;
      const c = await broker.consume([q], 2, (d) => held.push(d));
      await waitFor(() => held.length === 2, 30_000, 'two deliveries');
      await c.cancel();
      for (const d of held) await broker.reject(d, false, 'monitor test: failed');
      await waitFor(async () => (await row.locator('td.dead').innerText()) === '2', 30_000, 'two dead letters shown');
      await row.locator('button.queue-requeue-one').click();
      await waitFor(async () => (await broker.deadLetterLength(q)) === 1 && (await broker.queueLength(q)) === 1, 30_000, 'one requeued');
      await row.locator('button.queue-requeue-all').click();
      await row.locator('button.queue-requeue-all').click();
      await waitFor(async () => (await broker.deadLetterLength(q)) === 0 && (await broker.queueLength(q)) === 2, 30_000, 'all requeued');
      await waitFor(async () => (await row.locator('td.dead').innerText()) === '0', 30_000, 'the view shows 0 dead letters');
      await page.close();
    } finally {
      await stop(s);
    }
  });
});
