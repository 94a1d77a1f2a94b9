import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildTaskMessage, parseTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import { ConnectionError } from '../../runtime/src/errors.js';
import { AmqpFixture, closeOurConnections, sleep, TcpProxy, until } from './amqp-helpers.js';

let fx: AmqpFixture | undefined;
let proxy: TcpProxy | undefined;
const fixture = () => (fx = new AmqpFixture());
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
  await proxy?.close();
  proxy = undefined;
});

const msg = (q: string, i: number) => buildTaskMessage({ name: 'app.add', args: [i], queue: q });
const argOf = (d: Delivery) => parseTaskMessage(d.message!).args[0] as number;

test('unreachable broker: connect() fails fast with one clear line', async () => {
  const b = new AmqpBroker('amqp://guest:guest@127.0.0.1:5673//');
  const t0 = Date.now();
  const err = await b.connect().then(
    () => assert.fail('connected'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectionError);
  assert.equal(err.message, 'cannot connect to RabbitMQ at 127.0.0.1:5673: connect ECONNREFUSED (is rabbitmq-server running?)');
  assert.equal(err.code, 'E_CONNECTION');
  assert.ok(Date.now() - t0 < 4500);
  await b.close();
});

test('wrong password: a ConnectionError that says so', async () => {
  const b = new AmqpBroker('amqp://guest:wrong@127.0.0.1:5672//');
  await assert.rejects(b.connect(), (e: Error) => e instanceof ConnectionError && /cannot connect to RabbitMQ at 127\.0\.0\.1:5672: .*ACCESS.REFUSED.*check the user/.test(e.message));
  await b.close();
});

test('server closes the connection (rabbitmqctl close_connection): consumers resume; held deliveries are redelivered; ack on a dead channel is a no-op', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  const publisher = await f.broker();
  const lifecycle: string[] = [];
  b.on('disconnect', () => lifecycle.push('disconnect'));
  b.on('reconnect', () => lifecycle.push('reconnect'));
  const got: Delivery[] = [];
  const events: SprigEvent[] = [];
  const host = `test-${randomUUID()}`;
  await b.subscribeEvents((e) => e.hostname === host && events.push(e));
  await b.consume([q], 2, (d) => got.push(d));
  await publisher.publishBatch([0, 1, 2].map((i) => ({ queue: q, message: msg(q, i) })));
  await until(() => got.length === 2);
  b.ack(got[0]!); // acked before the drop: gone for good
  await until(() => got.length === 3, 5000, 'the third'); // 1 and 2 are held when the connection drops
  const closed = await closeOurConnections();
  assert.ok(closed >= 2, `closed ${closed} connections`);
  await until(() => lifecycle.includes('reconnect'), 10_000, 'reconnect');
  assert.deepEqual(lifecycle.slice(0, 2), ['disconnect', 'reconnect']);
  // Held when the connection dropped: acking it now must not throw (nor ack anything else).
  b.ack(got[1]!);
  await b.reject(got[1]!, false, 'too late');
  await until(() => got.length >= 5, 10_000, 'redelivery of the two held');
  await sleep(200);
  const after = got.slice(3);
  assert.deepEqual(after.map(argOf).sort(), [1, 2]);
  assert.ok(after.every((d) => d.redelivered));
  for (const d of after) b.ack(d);
  // The consumer keeps consuming new work, the publisher publishes again, events flow again.
  await publisher.publish(q, msg(q, 3));
  await until(() => got.length === 6, 10_000, 'new message after reconnect');
  b.ack(got[5]!);
  publisher.publishEvent({ type: 'task-started', uuid: 'x', hostname: host, pid: 1, clock: 1, timestamp: Date.now() / 1000, utcoffset: 0 });
  await until(() => events.length === 1, 5000, 'event after reconnect');
  assert.equal(await b.deadLetterLength(q), 0, 'a stale reject does not dead-letter');
  await sleep(200);
  assert.equal(await b.queueLength(q), 0);
});

test('outage: a publish waits for the connection and then succeeds; results sent meanwhile reach the rpc client', async () => {
  const f = fixture();
  proxy = new TcpProxy();
  await proxy.start();
  const q = f.queue();
  const b = await f.broker({ publishTimeoutMs: 10_000 }, proxy.url());
  const worker = await f.broker();
  const got: Delivery[] = [];
  await b.consume([q], 5, (d) => {
    got.push(d);
    b.ack(d);
  });
  const replyTo = await b.replyQueue();
  const backend = b.createBackend();
  proxy.down();
  await sleep(300);
  const t0 = Date.now();
  const pending = b.publish(q, msg(q, 7));
  // While the client is away, a worker publishes its result to the client's reply queue.
  const id = randomUUID();
  await worker.createBackend().store({ status: 'SUCCESS', result: 'while away', traceback: null, children: [], date_done: null, task_id: id, replyTo });
  await sleep(1500);
  proxy.up();
  await pending;
  const waited = Date.now() - t0;
  assert.ok(waited >= 1400, `publish waited ${waited} ms for the connection`);
  await until(() => got.length === 1, 10_000, 'delivery after the outage');
  assert.equal(argOf(got[0]!), 7);
  assert.equal((await backend.waitFor(id, 5000)).result, 'while away');
});

test('outage longer than publishTimeoutMs: publish rejects with ConnectionError (never silently dropped)', async () => {
  const f = fixture();
  proxy = new TcpProxy();
  await proxy.start();
  const q = f.queue();
  const b = await f.broker({ publishTimeoutMs: 600 }, proxy.url());
  await b.publish(q, msg(q, 1));
  proxy.down();
  await sleep(100);
  const t0 = Date.now();
  await assert.rejects(b.publish(q, msg(q, 2)), (e: Error) => e instanceof ConnectionError && /within 1 s|no connection/.test(e.message));
  assert.ok(Date.now() - t0 < 2000);
  let reconnected = false;
  b.on('reconnect', () => (reconnected = true));
  proxy.up();
  // Wait for the connection itself: a publish attempt that times out while it comes back has an
  // unknown outcome (it may still be confirmed later), which would make the count below racy.
  await until(() => reconnected, 10_000, 'the reconnect');
  await b.publish(q, msg(q, 3));
  assert.equal(await b.queueLength(q), 2, 'the one rejected during the outage never arrives');
});

test('unknown vhost: the error names it', async () => {
  const b = new AmqpBroker('amqp://guest:guest@127.0.0.1:5672/no-such-vhost');
  await assert.rejects(b.connect(), {
    message: 'cannot connect to RabbitMQ at 127.0.0.1:5672: the broker refused to open vhost "no-such-vhost" (does the vhost exist, and may this user use it?)',
  });
  await b.close();
});
