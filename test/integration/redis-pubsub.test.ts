import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { SprigEvent, TaskSucceededEvent } from '../../runtime/src/events/types.js';
import type { ControlRequest } from '../../runtime/src/brokers/types.js';
import { PRIORITY_SEP } from '../../runtime/src/brokers/redis/keys.js';
import { REDIS_URL, RedisFixture, waitUntil, wire } from './redis-helpers.js';

type Envelope = { body: string; headers: Record<string, unknown>; properties: Record<string, unknown>; [k: string]: unknown };
const strip = (e: Envelope & { body_decoded?: unknown }) => {
  const { body_decoded: _ignored, ...rest } = e;
  return rest;
};

let fx: RedisFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await f?.cleanup();
});
const fixture = (): RedisFixture => (fx = new RedisFixture());

function succeeded(uuid: string): TaskSucceededEvent {
  return {
    type: 'task-succeeded',
    hostname: 'sprig-test@host',
    pid: process.pid,
    clock: 7,
    timestamp: Date.now() / 1000,
    utcoffset: 0,
    uuid,
    result: '5',
    runtime: 0.01,
  };
}

test('events: PUBLISH on /0.celeryev/task.succeeded with Celery’s envelope; subscribers decode it', async () => {
  const f = fixture();
  const b = await f.broker();
  const spy = new Redis(REDIS_URL);
  const seen: Array<{ channel: string; raw: string }> = [];
  spy.on('pmessage', (_p: string, channel: string, raw: string) => seen.push({ channel, raw }));
  await spy.psubscribe('/0.celeryev/*');
  const got: SprigEvent[] = [];
  const uuid = randomUUID();
  const off = await b.subscribeEvents((e) => {
    if ('uuid' in e && e.uuid === uuid) got.push(e);
  });
  b.publishEvent(succeeded(uuid));
  const bodyOf = (raw: string) => Buffer.from((JSON.parse(raw) as Envelope).body, 'base64').toString();
  await waitUntil(() => got.length === 1 && seen.some((s) => bodyOf(s.raw).includes(uuid)));
  assert.equal(got[0]!.type, 'task-succeeded');
  assert.equal(typeof got[0]!.local_received, 'number');
  const mine = seen.find((s) => bodyOf(s.raw).includes(uuid))!;
  assert.equal(mine.channel, '/0.celeryev/task.succeeded');
  const env = JSON.parse(mine.raw) as Envelope;
  const celery = (wire('redis-event-envelopes.json') as { envelopes: Array<{ envelope: Envelope }> }).envelopes[3]!.envelope;
  assert.deepEqual(Object.keys(env), Object.keys(strip(celery)));
  assert.deepEqual(env.headers, { hostname: 'sprig-test@host' });
  assert.deepEqual(Object.keys(env.properties), Object.keys(celery.properties));
  assert.deepEqual(env.properties.delivery_info, { exchange: 'celeryev', routing_key: 'task.succeeded' });
  assert.equal(env.properties.delivery_mode, 1);
  await off();
  spy.disconnect();
});

test('events: Celery’s task.multi list bodies and heartbeats are decoded; garbage is ignored', async () => {
  const f = fixture();
  const b = await f.broker();
  const got: SprigEvent[] = [];
  const off = await b.subscribeEvents((e) => {
    if (e.hostname === 'celery@vm') got.push(e);
  });
  const captured = (wire('redis-event-envelopes.json') as { envelopes: Array<{ channel: string; envelope: Envelope }> }).envelopes;
  await f.raw.publish('/0.celeryev/task.multi', 'not an envelope');
  for (const c of captured) await f.raw.publish(c.channel, JSON.stringify(strip(c.envelope)));
  await waitUntil(() => got.length === captured.length);
  assert.deepEqual(
    got.map((e) => e.type),
    ['task-received', 'task-started', 'task-succeeded', 'worker-heartbeat', 'worker-heartbeat'],
  );
  await off();
});

test('pidbox: broadcast reaches subscribers; reply + collectReplies use Celery’s reply list', async () => {
  const f = fixture();
  const client = await f.broker();
  const worker = await f.broker();
  const clientId = randomUUID();
  const ticket = randomUUID();
  f.keys.add(`${clientId}.reply.celery.pidbox`);
  const spy = new Redis(REDIS_URL);
  const seen: string[] = [];
  spy.on('message', (_c: string, raw: string) => seen.push(raw));
  await spy.subscribe('/0.celery.pidbox');
  const got: ControlRequest[] = [];
  const off = await worker.subscribeControl((r) => {
    if (r.ticket === ticket) {
      got.push(r);
      void worker.reply(r.reply_to!, r.ticket, { 'sprig@host': { ok: 'pong' } });
    }
  });
  const request: ControlRequest = {
    method: 'ping',
    arguments: {},
    destination: null,
    pattern: null,
    matcher: null,
    ticket,
    reply_to: { exchange: 'reply.celery.pidbox', routing_key: clientId },
  };
  await client.broadcast(request);
  // kombu routes Python workers' replies through this binding:
  assert.ok(
    await f.raw.sismember('_kombu.binding.reply.celery.pidbox', `${clientId}${PRIORITY_SEP}${PRIORITY_SEP}${clientId}.reply.celery.pidbox`),
  );
  await waitUntil(() => got.length === 1 && seen.some((s) => s.includes('"celery.pidbox"')));
  assert.deepEqual(got[0], request);
  const env = JSON.parse(seen.find((s) => Buffer.from((JSON.parse(s) as Envelope).body, 'base64').toString().includes(ticket))!) as Envelope;
  const celeryReq = (wire('redis-pidbox-control.json') as { requests: Array<{ envelope: Envelope }> }).requests[0]!.envelope;
  assert.deepEqual(Object.keys(env), Object.keys(strip(celeryReq)));
  assert.deepEqual(Object.keys(env.headers), ['clock', 'expires']);
  assert.deepEqual(Object.keys(env.properties), Object.keys(celeryReq.properties));
  assert.deepEqual(env.properties.delivery_info, { exchange: 'celery.pidbox', routing_key: '' });
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(env.body, 'base64').toString())), [
    'method', 'arguments', 'destination', 'pattern', 'matcher', 'ticket', 'reply_to',
  ]);

  await waitUntil(async () => (await f.raw.llen(`${clientId}.reply.celery.pidbox`)) === 1);
  const replyEnv = JSON.parse((await f.raw.lindex(`${clientId}.reply.celery.pidbox`, 0))!) as Envelope;
  const celeryReply = (wire('redis-pidbox-control.json') as { replies: Array<{ envelope: Envelope }> }).replies[0]!.envelope;
  assert.deepEqual(Object.keys(replyEnv), Object.keys(strip(celeryReply)));
  assert.deepEqual(Object.keys(replyEnv.headers), ['ticket', 'clock']);
  assert.equal(replyEnv.headers.ticket, ticket);
  assert.deepEqual(Object.keys(replyEnv.properties), Object.keys(celeryReply.properties));
  assert.deepEqual(replyEnv.properties.delivery_info, { exchange: 'reply.celery.pidbox', routing_key: clientId });

  // A Celery worker's captured reply lands in the same list and is collected too.
  await f.raw.lpush(`${clientId}.reply.celery.pidbox`, JSON.stringify(strip(celeryReply)));
  const t0 = Date.now();
  const replies = await client.collectReplies(clientId, 2000, 2);
  assert.ok(Date.now() - t0 < 1000, 'returns as soon as the expected replies are in');
  assert.deepEqual(replies, [{ 'sprig@host': { ok: 'pong' } }, { 'celery@vm': { ok: 'pong' } }]);
  assert.equal(await f.raw.exists(`${clientId}.reply.celery.pidbox`), 0);
  const none = await client.collectReplies(clientId, 150);
  assert.deepEqual(none, []);
  await off();
  spy.disconnect();
});

test('a captured Celery broadcast decodes as a ControlRequest', async () => {
  const f = fixture();
  const b = await f.broker();
  const captured = (wire('redis-pidbox-control.json') as { requests: Array<{ envelope: Envelope }> }).requests;
  const want = captured[0]!.envelope.body_decoded as { ticket: string; method: string };
  const got: ControlRequest[] = [];
  const off = await b.subscribeControl((r) => {
    if (r.ticket === want.ticket) got.push(r);
  });
  await f.raw.publish('/0.celery.pidbox', JSON.stringify(strip(captured[0]!.envelope)));
  await waitUntil(() => got.length === 1);
  assert.equal(got[0]!.method, want.method);
  await off();
});
