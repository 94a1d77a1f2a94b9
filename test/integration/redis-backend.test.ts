import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBackend } from '../../runtime/src/brokers/redis/redis-backend.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';
import { ConnectionError, TimeoutError } from '../../runtime/src/errors.js';
import { REDIS_URL, RedisFixture, sleep, waitUntil, wire } from './redis-helpers.js';
import { AsyncResult } from '../../runtime/src/app/result.js';

let fx: RedisFixture | undefined;
const backends: RedisBackend[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  const f = fx;
  fx = undefined;
  await f?.cleanup();
});
const fixture = (): RedisFixture => (fx = new RedisFixture());
const backend = (b: RedisBackend): RedisBackend => (backends.push(b), b);

type Captured = Record<string, { ttl: number; value_raw: string; value: ResultMeta }>;

test('store writes Celery’s exact value (key, TTL, JSON bytes) and publishes it', async () => {
  const f = fixture();
  const b = backend(new RedisBackend(REDIS_URL));
  const spy = new Redis(REDIS_URL);
  const captured = wire('redis-result.json') as Captured;
  const published: string[] = [];
  spy.on('message', (_c: string, m: string) => published.push(m));
  for (const [key, c] of Object.entries(captured)) {
    const id = `${c.value.task_id}-${randomUUID()}`;
    const meta = { ...c.value, task_id: id } as ResultMeta;
    if (meta.parent_id) meta.parent_id = id;
    f.keys.add(`celery-task-meta-${id}`);
    await spy.subscribe(`celery-task-meta-${id}`);
    await b.store(meta);
    const want = c.value_raw.split(c.value.task_id).join(id);
    assert.equal(await f.raw.get(`celery-task-meta-${id}`), want, key);
    const ttl = await f.raw.ttl(`celery-task-meta-${id}`);
    assert.ok(ttl > 86390 && ttl <= 86400, `ttl ${ttl}`);
    assert.deepEqual(await b.get(id), meta);
  }
  await sleep(50);
  assert.equal(published.length, Object.keys(captured).length);
  spy.disconnect();
});

test('non-ASCII results are escaped like Python json.dumps; custom expiry is used', async () => {
  const f = fixture();
  const b = backend(new RedisBackend(REDIS_URL, { expires: 60 }));
  const id = randomUUID();
  f.keys.add(`celery-task-meta-${id}`);
  await b.store({ status: 'SUCCESS', result: { s: 'héllo ✓', n: [1, 2.5] }, traceback: null, children: [], date_done: null, task_id: id });
  assert.equal(
    await f.raw.get(`celery-task-meta-${id}`),
    `{"status": "SUCCESS", "result": {"s": "h\\u00e9llo \\u2713", "n": [1, 2.5]}, "traceback": null, "children": [], "date_done": null, "task_id": "${id}"}`,
  );
  assert.ok((await f.raw.ttl(`celery-task-meta-${id}`)) <= 60);
  await b.store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id }, 5);
  assert.ok((await f.raw.ttl(`celery-task-meta-${id}`)) <= 5);
  await b.forget(id);
  assert.equal(await b.get(id), null);
});

test('waitFor: subscribed before reading, resolves on a ready state, ignores STARTED, times out', async () => {
  const f = fixture();
  const b = backend(new RedisBackend(REDIS_URL));
  const writer = backend(new RedisBackend(REDIS_URL));
  const id = randomUUID();
  f.keys.add(`celery-task-meta-${id}`);
  const meta = (status: ResultMeta['status']): ResultMeta => ({ status, result: 5, traceback: null, children: [], date_done: null, task_id: id });
  const p = b.waitFor(id, 3000);
  let settled = false;
  void p.then(() => (settled = true));
  await sleep(30);
  await writer.store(meta('STARTED'));
  await sleep(30);
  assert.equal(settled, false);
  await writer.store(meta('SUCCESS'));
  assert.equal((await p).status, 'SUCCESS');
  // Already stored: resolved from the GET after SUBSCRIBE.
  assert.equal((await b.waitFor(id, 1000)).result, 5);
  const t0 = Date.now();
  await assert.rejects(b.waitFor(randomUUID(), 150), TimeoutError);
  assert.ok(Date.now() - t0 < 1000);
});

test('waitFor: thousands of waiters share one subscriber connection', async () => {
  const f = fixture();
  const b = backend(new RedisBackend(REDIS_URL));
  const writer = backend(new RedisBackend(REDIS_URL));
  const ids = Array.from({ length: 3000 }, () => randomUUID());
  for (const id of ids) f.keys.add(`celery-task-meta-${id}`);
  const t0 = performance.now();
  const waits = ids.map((id) => b.waitFor(id, 10_000));
  await sleep(100);
  const clients = (await f.raw.client('LIST')) as string;
  assert.equal(clients.split('\n').filter((l) => / sub=3000 /.test(l)).length, 1, 'one connection holds all subscriptions');
  await Promise.all(
    ids.map((id) => writer.store({ status: 'SUCCESS', result: id, traceback: null, children: [], date_done: null, task_id: id })),
  );
  const metas = await Promise.all(waits);
  console.log(`  3000 waiters resolved in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.deepEqual(metas.map((m) => m.result), ids);
});

/** A backend that waits, one that stores, and a task id whose result key is cleaned up. */
function waiterAndWriter() {
  const f = fixture();
  const id = randomUUID();
  const channel = `celery-task-meta-${id}`;
  f.keys.add(channel);
  return { f, b: backend(new RedisBackend(REDIS_URL)), writer: backend(new RedisBackend(REDIS_URL)), id, channel };
}

/** Subscribers of `channel` on the server (PUBSUB NUMSUB). */
async function numsub(raw: Redis, channel: string): Promise<number> {
  const r = (await raw.pubsub('NUMSUB', channel)) as [string, number];
  return Number(r[1]);
}

test('AsyncResult.get(): subscribed while the message is still being sent; a failed send fails get() and ends the wait', async () => {
  const { f, b, writer, id, channel } = waiterAndWriter();
  let sendDone!: () => void;
  const sent = new Promise<void>((r) => (sendDone = r));
  const r = new AsyncResult<number>(id, async () => b, sent);
  const got = r.get({ timeout: 5 });
  // The send has not answered yet, and the SUBSCRIBE is already in place.
  await waitUntil(async () => (await numsub(f.raw, channel)) === 1, 2000, 'the SUBSCRIBE before the send answered');
  // A result stored before the send's reply came back is still seen.
  await writer.store({ status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: null, task_id: id });
  sendDone();
  assert.equal(await got, 7);

  const id2 = randomUUID();
  const channel2 = `celery-task-meta-${id2}`;
  f.keys.add(channel2);
  let sendFailed!: (err: Error) => void;
  const failing = new Promise<void>((_, rej) => (sendFailed = rej));
  const r2 = new AsyncResult<number>(id2, async () => b, failing);
  const got2 = r2.get();
  await waitUntil(async () => (await numsub(f.raw, channel2)) === 1, 2000, 'the second SUBSCRIBE');
  sendFailed(new ConnectionError('publish: the connection dropped'));
  await assert.rejects(got2, (err: unknown) => err instanceof ConnectionError && /connection dropped/.test(err.message));
  // The wait is gone with it: its channel is unsubscribed soon after (no waiter, no timer left).
  await waitUntil(async () => (await numsub(f.raw, channel2)) === 0, 2000, 'the UNSUBSCRIBE after the failed send');
});

test('waitFor: a channel stays subscribed a moment after its wait ends (its UNSUBSCRIBE goes later, with others); a new wait there needs no SUBSCRIBE', async () => {
  const { f, b, writer, id, channel } = waiterAndWriter();
  const w = b.waitFor(id, 5000);
  await waitUntil(async () => (await numsub(f.raw, channel)) === 1, 2000, 'the SUBSCRIBE');
  await writer.store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });
  assert.equal((await w).result, 1);
  // Not between the result and the caller's next send: still subscribed right after.
  assert.equal(await numsub(f.raw, channel), 1, 'still subscribed right after the wait ended');
  assert.equal((await b.waitFor(id, 1000)).result, 1, 'a new wait on it reads the stored result');
  await waitUntil(async () => (await numsub(f.raw, channel)) === 0, 2000, 'the channel unsubscribed');
});

test('waitFor: an aborted signal ends the wait with its reason', async () => {
  fixture();
  const b = backend(new RedisBackend(REDIS_URL));
  const stop = new AbortController();
  const w = b.waitFor(randomUUID(), undefined, stop.signal);
  stop.abort(new Error('gave up'));
  await assert.rejects(w, /gave up/);
  await assert.rejects(b.waitFor(randomUUID(), undefined, stop.signal), /gave up/);
});

test('existing client; broker.createBackend() uses the same server/db; unreachable → ConnectionError', async () => {
  const f = fixture();
  const client = new Redis(REDIS_URL);
  const b = backend(new RedisBackend(client));
  const id = randomUUID();
  f.keys.add(`celery-task-meta-${id}`);
  await b.store({ status: 'FAILURE', result: { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' }, traceback: 'tb', children: [], date_done: null, task_id: id });
  const broker = await f.broker();
  const viaBroker = backend(broker.createBackend());
  assert.equal((await viaBroker.waitFor(id, 1000)).status, 'FAILURE');
  await b.close();
  assert.equal(client.status, 'ready', 'a client we were given stays open');
  client.disconnect();
  await assert.rejects(RedisBackend.fromUrl('redis://127.0.0.1:6390/0'), (err: unknown) => {
    assert.ok(err instanceof ConnectionError);
    assert.match(err.message, /^cannot connect to Redis at 127\.0\.0\.1:6390: connect ECONNREFUSED/);
    return true;
  });
});
