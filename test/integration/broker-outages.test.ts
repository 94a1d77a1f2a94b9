/**
 * When the broker goes away (issue 13, items 11-14), on real servers:
 * - RabbitMQ deletes a queue under a running worker (basic.cancel): the worker declares it again
 *   and consumes on; an event subscription whose queue is deleted comes back too.
 * - A Redis publish that failed during an outage was not sent (it does not arrive later), and one
 *   whose outage ends within the deadline arrives exactly once.
 * - A worker started before its broker (Redis, RabbitMQ behind a refusing proxy) retries with
 *   backoff, one line per attempt, and comes up; with --broker-connection-max-retries 2 it exits.
 * - A Redis outage under a running worker: one line per state change, no ioredis stack traces.
 * The Redis servers here are our own, on a spare loopback port (6400-6499), never the shared 6379.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import { Redis } from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { queueKey } from '../../runtime/src/brokers/redis/keys.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { ConnectionError } from '../../runtime/src/errors.js';
import { FIXTURE_TASKS, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { AMQP_PLAIN_URL, TcpProxy } from './amqp-helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';
import { sparePort, startRedis, stopAllRedis, stopRedis } from './redis-server.js';

const SHARED_REDIS = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const workers: Spawned[] = [];
const apps: App[] = [];
const amqpQueues: string[] = [];

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  stopAllRedis();
  for (const a of apps) await a.close().catch(() => undefined);
  if (amqpQueues.length) {
    const c = await amqp.connect(AMQP_PLAIN_URL);
    for (const q of amqpQueues) {
      for (const name of [q, `${q}.dead-letter`]) {
        const ch = await c.createChannel();
        ch.on('error', () => undefined);
        await ch.deleteQueue(name).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    }
    await c.close();
  }
});

function worker(args: string[]): Spawned {
  // The brokers' own loggers follow SPRIG_LOG_LEVEL (npm test sets warn): their info lines are asserted here.
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '-P', 'async', '-c', '2', '--loglevel', 'info', ...args], { env: { SPRIG_LOG_LEVEL: 'info' } });
  workers.push(w);
  return w;
}

async function ready(w: Spawned, timeoutMs = 60_000): Promise<void> {
  await waitFor(() => w.err().includes(' ready: ') || w.proc.exitCode !== null, timeoutMs, 'worker ready');
  assert.equal(w.proc.exitCode, null, `the worker exited:\n${w.err()}`);
}

function client(brokerUrl: string, queue: string, resultBackend?: string): App {
  const a = new App({ brokerUrl, resultBackend, defaultQueue: queue });
  apps.push(a);
  return a;
}

async function stop(w: Spawned): Promise<void> {
  if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
  await w.exit;
}

// ---- item 11: RabbitMQ cancels the consumer -----------------------------------------------------

test('AMQP: a queue deleted under a running worker (basic.cancel) is declared again and consumed; the task runs', async () => {
  const q = uniqueQueue();
  amqpQueues.push(q);
  const w = worker(['--broker', AMQP_PLAIN_URL, '--result-backend', SHARED_REDIS, '-Q', q]);
  await ready(w);
  const app = client(AMQP_PLAIN_URL, q, SHARED_REDIS);
  assert.equal(await app.sendTask('add', [2, 3]).get({ timeout: 30 }), 5);

  const conn = await amqp.connect(AMQP_PLAIN_URL);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(q);
    await ch.close();
    await waitFor(() => /consumer on queue \S+ was cancelled by the broker/.test(w.err()), 20_000, 'the cancel line');
    // The worker declares the queue again and consumes from it (a 404 closes a channel: one per check).
    await waitFor(async () => {
      const c = await conn.createChannel();
      c.on('error', () => undefined);
      try {
        return (await c.checkQueue(q)).consumerCount === 1;
      } catch {
        return false;
      } finally {
        await c.close().catch(() => undefined);
      }
    }, 30_000, 'a consumer on the declared-again queue');
  } finally {
    await conn.close().catch(() => undefined);
  }
  assert.equal(await app.sendTask('add', [4, 5]).get({ timeout: 30 }), 9);
  assert.equal(w.err().match(/was cancelled by the broker/g)?.length, 1, 'one line for the cancel');
  await stop(w);
});

test('AMQP: the rpc reply subscription whose queue is deleted (basic.cancel) declares it again and consumes from it', async () => {
  const { AmqpBroker } = await import('../../runtime/src/brokers/amqp/amqp-broker.js');
  const b = new AmqpBroker(AMQP_PLAIN_URL);
  await b.connect();
  const conn = await amqp.connect(AMQP_PLAIN_URL);
  conn.on('error', () => undefined);
  const consumers = async (queue: string) => {
    const c = await conn.createChannel();
    c.on('error', () => undefined);
    try {
      return (await c.checkQueue(queue)).consumerCount;
    } catch {
      return -1; // 404: not there
    } finally {
      await c.close().catch(() => undefined);
    }
  };
  try {
    const queue = await b.replyQueue();
    assert.equal(await consumers(queue), 1);
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    await waitFor(async () => (await consumers(queue)) === 1, 20_000, 'the reply queue declared again, with its consumer');
  } finally {
    await b.close();
    await conn.close().catch(() => undefined);
  }
});

test('AMQP: a publish to a queue deleted since it was declared is not dropped: the queue is declared again and the message is in it', async () => {
  const { AmqpBroker } = await import('../../runtime/src/brokers/amqp/amqp-broker.js');
  const q = uniqueQueue();
  amqpQueues.push(q);
  const b = new AmqpBroker(AMQP_PLAIN_URL);
  await b.connect();
  try {
    await b.publish(q, buildTaskMessage({ name: 'add', args: [1, 1], queue: q }));
    assert.equal(await b.queueLength(q), 1);
    const conn = await amqp.connect(AMQP_PLAIN_URL);
    const ch = await conn.createChannel();
    await ch.deleteQueue(q);
    await conn.close();
    await b.publish(q, buildTaskMessage({ name: 'add', args: [2, 2], queue: q }));
    assert.equal(await b.queueLength(q), 1, 'the second message is in the declared-again queue (RabbitMQ drops an unroutable one)');
  } finally {
    await b.close();
  }
});

// ---- item 12: a failed Redis publish was not sent ------------------------------------------------

test('Redis: a publish that failed during an outage was not sent and does not arrive when Redis is back; one whose outage ends in time arrives once', async () => {
  const port = await sparePort();
  const url = `redis://127.0.0.1:${port}/0`;
  let server = await startRedis(port);
  const q = uniqueQueue();
  const b = new RedisBroker(url, { publishTimeoutMs: 1500 });
  await b.connect();
  const message = () => buildTaskMessage({ name: 'add', args: [1, 2], queue: q });
  try {
    await b.publish(q, message());
    await stopRedis(server);
    const err = await b.publish(q, message()).then(
      () => assert.fail('published with Redis down'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionError, String(err));
    assert.match(err.message, /not sent/);

    server = await startRedis(port); // empty: anything in it now was sent after the failure
    await waitFor(() => b.client.status === 'ready', 30_000, 'the broker reconnected');
    await sleep(2000); // ioredis sends its offline queue right after 'ready'
    const raw = new Redis(port, '127.0.0.1');
    raw.on('error', () => undefined); // it lives through the second outage
    try {
      assert.equal(await raw.llen(queueKey(q)), 0, 'the failed publish must not arrive later');

      // An outage shorter than the deadline: the publish waits, then is sent exactly once.
      const patient = new RedisBroker(url, { publishTimeoutMs: 20_000 });
      await patient.connect();
      await patient.publish(q, message()); // its publish connection is up
      await stopRedis(server);
      const sent = patient.publish(q, message());
      await sleep(1500);
      server = await startRedis(port);
      await sent;
      await sleep(1000);
      assert.equal(await raw.llen(queueKey(q)), 1, 'sent exactly once after the outage');
      await patient.close();
    } finally {
      raw.disconnect();
    }
  } finally {
    await b.close();
    await stopRedis(server);
  }
});

// ---- item 13: broker down at start ---------------------------------------------------------------

test('Redis: a worker started before its broker retries with backoff and comes up; the task runs', async () => {
  const port = await sparePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const q = uniqueQueue();
  const w = worker(['--broker', url, '-Q', q]);
  await waitFor(
    () => /broker not reachable at redis:\/\/127\.0\.0\.1:\d+\/0: .+; retrying in \d+\.\d s \(attempt 2 of \d+\)/.test(w.err()) || w.proc.exitCode !== null,
    30_000,
    'the first retry line',
  );
  assert.equal(w.proc.exitCode, null, `the worker exited:\n${w.err()}`);
  await sleep(3000);
  const server = await startRedis(port);
  try {
    await ready(w, 90_000);
    const app = client(url, q);
    assert.equal(await app.sendTask('add', [20, 22]).get({ timeout: 30 }), 42);
    await stop(w);
  } finally {
    await stopRedis(server);
  }
});

test('Redis: --broker-connection-max-retries 2 gives up after two retries and exits non-zero with a clear message', async () => {
  const port = await sparePort();
  const w = worker(['--broker', `redis://127.0.0.1:${port}/0`, '-Q', uniqueQueue(), '--broker-connection-max-retries', '2']);
  const code = await Promise.race([w.exit, sleep(60_000).then(() => 'still running')]);
  assert.notEqual(code, 'still running', w.err());
  assert.notEqual(code, 0);
  assert.equal(w.err().match(/retrying in/g)?.length, 2, w.err());
  assert.match(w.err(), /broker not reachable at redis:\/\/127\.0\.0\.1:\d+\/0 after 3 attempts: .*ECONNREFUSED.*; giving up/);
});

test('a bad --broker-connection-max-retries is refused with what would be right', async () => {
  const w = worker(['--broker', SHARED_REDIS, '--broker-connection-max-retries', '-1']);
  await w.exit;
  assert.notEqual(w.proc.exitCode, 0);
  assert.match(w.err(), /--broker-connection-max-retries expects an integer >= 0 \(0: retry forever\), got "-1"/);
});

test('AMQP: a worker started while RabbitMQ refuses connections retries and comes up when it accepts', async () => {
  const proxy = new TcpProxy();
  await proxy.start();
  proxy.down();
  const q = uniqueQueue();
  amqpQueues.push(q);
  const url = proxy.url();
  const w = worker(['--broker', url, '--result-backend', SHARED_REDIS, '-Q', q]);
  try {
    await waitFor(() => /broker not reachable at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/\/: .+; retrying in \d+\.\d s \(attempt 2 of \d+\)/.test(w.err()) || w.proc.exitCode !== null, 30_000, 'the first retry line');
    assert.equal(w.proc.exitCode, null, `the worker exited:\n${w.err()}`);
    await sleep(3000);
    proxy.up();
    await ready(w, 90_000);
    const app = client(AMQP_PLAIN_URL, q, SHARED_REDIS);
    assert.equal(await app.sendTask('add', [1, 1]).get({ timeout: 30 }), 2);
    await stop(w);
  } finally {
    await proxy.close();
  }
});

test('PostgreSQL: a worker started while the server refuses connections retries and comes up; the embedded broker is retried too', async () => {
  const base = new URL(PG_BASE);
  const proxy = new TcpProxy({ host: base.hostname, port: Number(base.port || 5432) });
  await proxy.start();
  proxy.down();
  const schema = testSchema();
  const direct = pgUrl(schema);
  const viaProxy = direct.replace(`${base.hostname}:${base.port || 5432}`, `127.0.0.1:${proxy.port}`);
  const q = uniqueQueue();
  const w = worker(['--broker', viaProxy, '-Q', q]);
  try {
    await waitFor(() => /broker not reachable at postgres:\/\/\S+: .+; retrying in \d+\.\d s \(attempt 2 of \d+\)/.test(w.err()) || w.proc.exitCode !== null, 30_000, 'the first retry line');
    assert.equal(w.proc.exitCode, null, `the worker exited:\n${w.err()}`);
    proxy.up();
    await ready(w, 90_000);
    const app = client(direct, q);
    assert.equal(await app.sendTask('add', [3, 4]).get({ timeout: 30 }), 7);
    await stop(w);
  } finally {
    await proxy.close();
    await dropSchema(PG_BASE, schema).catch(() => undefined);
  }
  const port = await sparePort();
  const e = worker(['--broker', `sprig://127.0.0.1:${port}?token=t`, '-Q', uniqueQueue(), '--broker-connection-max-retries', '1']);
  assert.notEqual(await e.exit, 0);
  assert.match(e.err(), /broker not reachable at sprig:\/\/127\.0\.0\.1:\d+\?token=\*\*\*: .*ECONNREFUSED.*; retrying in/);
  assert.match(e.err(), /after 2 attempts: .*; giving up/);
});

// ---- item 14: a Redis outage under a running worker ----------------------------------------------

test('Redis outage under a running worker: lost / reconnecting / back lines, no "Unhandled error event"', async () => {
  const port = await sparePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const q = uniqueQueue();
  let server = await startRedis(port);
  const w = worker(['--broker', url, '-Q', q]);
  try {
    await ready(w);
    const app = client(url, q);
    assert.equal(await app.sendTask('add', [1, 2]).get({ timeout: 30 }), 3); // the result backend's connection is up too
    await stopRedis(server);
    await sleep(3000);
    server = await startRedis(port);
    assert.equal(await app.sendTask('add', [2, 3]).get({ timeout: 60 }), 5);
    assert.doesNotMatch(w.err(), /Unhandled error event/);
    await waitFor(() => /connection to redis:\/\/127\.0\.0\.1:\d+\/0 back/.test(w.err()), 10_000, 'the back line');
    const err = w.err();
    assert.match(err, /connection to redis:\/\/127\.0\.0\.1:\d+\/0 lost/);
    assert.match(err, /reconnecting to redis:\/\/127\.0\.0\.1:\d+\/0 \(attempt 1, in \d+\.\d s\)/);
    assert.equal(err.match(/ lost/g)?.length, 1, `one lost line:\n${err}`);
    await stop(w);
  } finally {
    await stopRedis(server);
  }
});
