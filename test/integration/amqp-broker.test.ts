import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildTaskMessage, parseTaskMessage } from '../../runtime/src/protocol/message.js';
import { deadLetterQueueName, type ControlRequest, type Delivery } from '../../runtime/src/brokers/types.js';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import { REJECT_REASON_HEADER } from '../../runtime/src/brokers/amqp/topology.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { AMQP_PLAIN_URL, AMQP_URL, AmqpFixture, sleep, until, wire } from './amqp-helpers.js';

interface WireMessage {
  properties: {
    contentType: string;
    contentEncoding: string;
    headers: Record<string, unknown>;
    deliveryMode: number;
    priority: number;
    correlationId: string;
    replyTo: string;
    expiration: string;
  };
  body_utf8: string;
}
const celeryMessages = (wire('amqp-message.json') as { messages: WireMessage[] }).messages;

let fx: AmqpFixture | undefined;
const fixture = () => (fx = new AmqpFixture());
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
});

test('registry: amqp:// and amqps:// make an AmqpBroker; the URL is shown without password', async () => {
  const b = await createBroker('amqp://guest:secret@127.0.0.1:5672//');
  assert.ok(b instanceof AmqpBroker);
  assert.equal(b.displayUrl, 'amqp://guest:***@127.0.0.1:5672//');
  assert.equal((b as AmqpBroker).info.vhost, '/');
  assert.equal(((await createBroker('amqps://u:p@h/prod')) as AmqpBroker).info.port, 5671);
  assert.equal(((await createBroker('amqp://h')) as AmqpBroker).info.vhost, '/');
  assert.equal(((await createBroker('amqp://h/%2Fx')) as AmqpBroker).info.vhost, '/x');
});

test('a queue Celery declared (no arguments) is used as it is; a raw Celery message is consumed and parsed', async () => {
  const f = fixture();
  const q = f.queue();
  const ch = await f.channel();
  // What a Celery 5.2 worker declares (amqp-topology.txt): durable queue, direct exchange, binding.
  await ch.assertQueue(q, { durable: true });
  await ch.assertExchange(q, 'direct', { durable: true });
  await ch.bindQueue(q, q, q);
  // ... and what a Celery client publishes (amqp-message.json): default exchange, routing key = queue.
  for (const m of celeryMessages) {
    ch.publish('', q, Buffer.from(m.body_utf8), { ...m.properties });
  }
  await ch.waitForConfirms();
  const b = await f.broker();
  const got: Delivery[] = [];
  await b.consume([q], 10, (d) => got.push(d));
  await until(() => got.length === 2);
  const reqs = got.map((d) => parseTaskMessage(d.message!));
  assert.deepEqual(reqs.map((r) => r.id), ['wire-amqp-0001', 'wire-amqp-0002']);
  assert.deepEqual(reqs[0]!.args, [2, 3]);
  assert.deepEqual(reqs[1]!.kwargs, { y: 40 });
  assert.equal(reqs[1]!.retries, 3);
  assert.equal(reqs[1]!.priority, 5);
  assert.equal(reqs[0]!.replyTo, '6f71afc9-b35b-388f-87d6-2f82e66a6c2d');
  assert.equal(reqs[0]!.correlationId, 'wire-amqp-0001');
  assert.equal(reqs[0]!.eta?.toISOString(), '2026-11-25T00:51:45.200Z');
  assert.deepEqual(got[0]!.message!.headers.timelimit, [null, null]);
  assert.equal(got[0]!.message!.properties.expiration, '599999');
  for (const d of got) b.ack(d);
  // Sprig publishing to it must not redeclare it with other arguments (PRECONDITION_FAILED).
  await b.publish(q, buildTaskMessage({ name: 'app.add', args: [1, 1], queue: q, priority: 3 }));
  await until(() => got.length === 3);
  assert.deepEqual((await (await f.channel()).checkQueue(q)).queue, q);
});

test('by default a new queue is declared like Celery declares it (no arguments), so default Celery workers can share it', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker({}, AMQP_PLAIN_URL);
  await b.publish(q, buildTaskMessage({ name: 'app.add', queue: q }));
  await (await f.channel()).assertQueue(q, { durable: true });
  await assert.rejects((await f.channel()).assertQueue(q, { durable: true, arguments: { 'x-max-priority': 10 } }), /PRECONDITION_FAILED/);
});

test('with ?queue_max_priority=10 a new queue is created with x-max-priority 10, plus its direct exchange and binding', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  await b.publish(q, buildTaskMessage({ name: 'app.add', queue: q }));
  // Same arguments: accepted. No arguments: PRECONDITION_FAILED, so it really has them.
  await (await f.channel()).assertQueue(q, { durable: true, arguments: { 'x-max-priority': 10 } });
  await assert.rejects((await f.channel()).assertQueue(q, { durable: true }), /PRECONDITION_FAILED/);
  const ch = await f.channel();
  await ch.checkExchange(q);
  ch.publish(q, q, Buffer.from('[[], {}, {}]'), { contentType: 'application/json', headers: { task: 'x', id: 'via-exchange' } });
  await ch.waitForConfirms();
  assert.equal(await b.queueLength(q), 2, 'the exchange named after the queue routes to it');
});

test('publish: AMQP properties and header table as Celery sends them; body raw JSON', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  const sent = buildTaskMessage({ name: 'app.add', args: [2, 3], queue: q, expires: 600, priority: 4, replyTo: 'reply-q' });
  await b.publish(q, sent);
  const got = await (await f.channel()).get(q, { noAck: true });
  assert.ok(got);
  const celery = celeryMessages[0]!;
  const p = got.properties;
  assert.equal(p.contentType, 'application/json');
  assert.equal(p.contentEncoding, 'utf-8');
  assert.equal(p.deliveryMode, 2);
  assert.equal(p.priority, 4);
  assert.equal(p.correlationId, sent.headers.id);
  assert.equal(p.replyTo, 'reply-q');
  assert.ok(Number(p.expiration) > 590_000 && Number(p.expiration) <= 600_000);
  assert.deepEqual(Object.keys(p.headers ?? {}), Object.keys(celery.properties.headers));
  assert.deepEqual(p.headers?.timelimit, [null, null]);
  assert.deepEqual(JSON.parse(got.content.toString('utf8')), JSON.parse(sent.body.toString('utf8')));
  assert.equal(got.fields.exchange, '');
  assert.equal(got.fields.routingKey, q);
});

test('confirm channel: publish resolves once RabbitMQ has it; throughput', async (t) => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  await b.publish(q, buildTaskMessage({ name: 'app.add', queue: q }));
  assert.equal((await (await f.channel()).checkQueue(q)).messageCount, 1, 'counted right after publish() resolved');

  const n = 5000;
  const msgs = Array.from({ length: n }, (_, i) => ({ queue: q, message: buildTaskMessage({ name: 'app.add', args: [i], queue: q }) }));
  let t0 = performance.now();
  for (let i = 0; i < 500; i++) await b.publish(q, msgs[i]!.message);
  const sequential = 500 / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < n; i += 500) await b.publishBatch(msgs.slice(i, i + 500));
  const batched = n / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await Promise.all(msgs.slice(0, 2000).map((m) => b.publish(q, m.message)));
  const concurrent = 2000 / ((performance.now() - t0) / 1000);
  const total = 1 + 500 + n + 2000;
  assert.equal(await b.queueLength(q), total);

  let seen = 0;
  t0 = performance.now();
  await b.consume([q], 200, (d) => {
    seen++;
    b.ack(d);
  });
  await until(() => seen === total, 30_000, 'drain');
  const drain = total / ((performance.now() - t0) / 1000);
  t.diagnostic(
    `confirmed publish: sequential ${sequential.toFixed(0)}/s, batches of 500 ${batched.toFixed(0)}/s, ` +
      `2000 concurrent ${concurrent.toFixed(0)}/s; drain (consume+ack, prefetch 200) ${drain.toFixed(0)}/s`,
  );
});

test('priorities: higher first on queues Sprig creates', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  const prios = [3, 0, 9, 5, 10, 1, 7];
  for (const p of prios) await b.publish(q, buildTaskMessage({ name: 'app.add', args: [p], queue: q, priority: p }));
  const got: number[] = [];
  await b.consume([q], 1, (d) => {
    got.push(parseTaskMessage(d.message!).args[0] as number);
    b.ack(d);
  });
  await until(() => got.length === prios.length);
  assert.deepEqual(got, [...prios].sort((a, z) => z - a));
});

test('dead letter: reject without requeue moves a copy with the reason, and acks the original', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  const sent = buildTaskMessage({ name: 'app.add', args: ['x'], queue: q, expires: 60 });
  await b.publish(q, sent);
  const got: Delivery[] = [];
  await b.consume([q], 1, (d) => got.push(d));
  await until(() => got.length === 1);
  await b.reject(got[0]!, false, 'NotRegistered: app.add');
  assert.equal(await b.deadLetterLength(q), 1);
  assert.equal(await b.queueLength(q), 0);
  const dead = await (await f.channel()).get(deadLetterQueueName(q), { noAck: true });
  assert.ok(dead);
  assert.equal(dead.properties.headers?.[REJECT_REASON_HEADER], 'NotRegistered: app.add');
  assert.equal(dead.properties.headers?.['x-sprig-original-queue'], q);
  assert.equal(dead.properties.headers?.id, sent.headers.id);
  assert.equal(dead.properties.expiration, undefined, 'a dead letter does not expire');
  assert.ok(dead.content.equals(sent.body));
  await sleep(100);
  assert.equal(got.length, 1, 'the original is gone');
});

test('a body that is not a task still reaches the handler, and can be dead-lettered byte for byte', async () => {
  const f = fixture();
  const q = f.queue();
  const b = await f.broker();
  const got: Delivery[] = [];
  await b.consume([q], 1, (d) => got.push(d));
  const ch = await f.channel();
  const garbage = Buffer.from([0xff, 0x00, 0x7b, 0x22]);
  ch.publish('', q, garbage, { contentType: 'application/json' });
  await ch.waitForConfirms();
  await until(() => got.length === 1);
  const d = got[0]!;
  assert.ok(d.message && Buffer.isBuffer(d.raw) && d.raw.equals(garbage));
  assert.throws(() => parseTaskMessage(d.message!), /decode|JSON|protocol/i);
  await b.reject(d, false, 'DecodeError');
  const dead = await (await f.channel()).get(deadLetterQueueName(q), { noAck: true });
  assert.ok(dead && dead.content.equals(garbage));
});

test('events: celeryev topic exchange, routing key = type with dots; task.multi lists too', async () => {
  const f = fixture();
  const sender = await f.broker();
  const receiver = await f.broker();
  const got: SprigEvent[] = [];
  const off = await receiver.subscribeEvents((e) => got.push(e));
  // A raw Celery-style receiver bound on task.# sees the routing key.
  const ch = await f.channel();
  const { queue: rawQ } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  await ch.bindQueue(rawQ, 'celeryev', 'task.#');
  const keys: string[] = [];
  await ch.consume(rawQ, (m) => m && keys.push(m.fields.routingKey), { noAck: true });
  const host = `test-${randomUUID()}@h`;
  const base = { hostname: host, pid: 1, clock: 1, timestamp: Date.now() / 1000, utcoffset: 0 };
  sender.publishEvent({ ...base, type: 'task-succeeded', uuid: 'u1', result: '3', runtime: 0.1 });
  sender.publishEvent({ ...base, type: 'worker-heartbeat', freq: 2, active: 0, processed: 0, loadavg: [0, 0, 0], sw_ident: 'x', sw_ver: '1', sw_sys: 'Linux' });
  ch.publish('celeryev', 'task.multi', Buffer.from(JSON.stringify([{ ...base, type: 'task-started', uuid: 'u2' }, { ...base, type: 'task-started', uuid: 'u3' }])), {
    contentType: 'application/json',
  });
  await until(() => got.filter((e) => e.hostname === host).length === 4, 5000, '4 events');
  const mine = got.filter((e) => e.hostname === host);
  assert.deepEqual(mine.map((e) => e.type).sort(), ['task-started', 'task-started', 'task-succeeded', 'worker-heartbeat']);
  assert.ok(mine.every((e) => typeof e.local_received === 'number'));
  await until(() => keys.includes('task.succeeded') && keys.includes('task.multi'));
  assert.ok(!keys.includes('worker.heartbeat'));
  await off();
});

test('remote control: pidbox fanout broadcast, replies on reply.celery.pidbox by routing key', async () => {
  const f = fixture();
  const worker1 = await f.broker();
  const worker2 = await f.broker();
  const client = await f.broker();
  const seen: ControlRequest[] = [];
  // Unique node names: other workers sharing this RabbitMQ (Celery's too) get the broadcast as
  // well, and ignore it because of `destination`.
  const nodes = [`w1-${randomUUID()}@host`, `w2-${randomUUID()}@host`];
  for (const [w, name] of [
    [worker1, nodes[0]!],
    [worker2, nodes[1]!],
  ] as const) {
    await w.subscribeControl((r) => {
      seen.push(r);
      if (r.reply_to && r.destination?.includes(name)) void w.reply(r.reply_to, r.ticket, { [name]: { ok: 'pong' } });
    });
  }
  const replyKey = randomUUID();
  const ticket = randomUUID();
  await client.broadcast({
    method: 'ping',
    arguments: {},
    destination: nodes,
    ticket,
    reply_to: { exchange: 'reply.celery.pidbox', routing_key: replyKey },
  });
  const replies = await client.collectReplies(replyKey, 3000, 2);
  assert.deepEqual(replies.map((r) => Object.keys(r as object)[0]).sort(), [...nodes].sort());
  const mine = seen.filter((r) => r.ticket === ticket);
  assert.equal(mine.length, 2);
  assert.equal(mine[0]!.method, 'ping');
});

test("remote control: a broadcast with kombu's `expires: 0` (no timeout, as AsyncResult.revoke() sends) is handled; an expired one is dropped", async () => {
  const f = fixture();
  const worker = await f.broker();
  const node = `w-${randomUUID()}@host`;
  const seen: string[] = [];
  await worker.subscribeControl((r) => {
    if (r.destination?.includes(node)) seen.push(String(r.arguments?.task_id));
  });
  const ch = await f.channel();
  const send = (taskId: string, expires: number) =>
    ch.publish('celery.pidbox', '', Buffer.from(JSON.stringify({ method: 'revoke', arguments: { task_id: taskId }, destination: [node], pattern: null, matcher: null })), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { clock: 1, expires },
    });
  send('expired', Date.now() / 1000 - 60);
  send('no-expiry', 0);
  send('later', Date.now() / 1000 + 60);
  await ch.waitForConfirms();
  await until(() => seen.length === 2, 5000, 'two broadcasts');
  assert.deepEqual(seen, ['no-expiry', 'later']);
});

test('AMQP_URL in use', () => {
  assert.match(AMQP_URL, /^amqps?:\/\//);
});
