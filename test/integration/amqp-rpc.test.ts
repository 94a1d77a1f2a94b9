import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildTaskMessage, parseTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';
import { RpcBackend } from '../../runtime/src/backends/rpc.js';
import { TimeoutError } from '../../runtime/src/errors.js';
import { AmqpFixture, sleep, until } from './amqp-helpers.js';

let fx: AmqpFixture | undefined;
const fixture = () => (fx = new AmqpFixture());
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
});

function meta(d: Delivery, status: ResultMeta['status'], result: unknown): ResultMeta {
  const req = parseTaskMessage(d.message!);
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: status === 'SUCCESS' ? new Date().toISOString().replace('Z', '') : null,
    task_id: req.id,
    name: req.name,
    replyTo: req.replyTo ?? undefined,
  };
}

/** A client broker (with its reply queue) and a worker broker that answers every task. */
async function world(f: AmqpFixture, answer: (d: Delivery, backend: RpcBackend) => Promise<void>) {
  const q = f.queue();
  const client = await f.broker();
  const worker = await f.broker();
  const workerBackend = worker.createBackend();
  await worker.consume([q], 10, (d) => void answer(d, workerBackend).then(() => worker.ack(d)));
  const replyTo = await client.replyQueue();
  const send = async (args: unknown[]) => {
    const m = buildTaskMessage({ name: 'app.add', args, queue: q, replyTo });
    await client.publish(q, m);
    return m.headers.id as string;
  };
  return { q, client, worker, backend: client.createBackend(), replyTo, send };
}

test('rpc round trip: the worker publishes to reply_to, the client waits by task id', async () => {
  const f = fixture();
  const w = await world(f, async (d, backend) => {
    const [a, b] = parseTaskMessage(d.message!).args as number[];
    await backend.store(meta(d, 'STARTED', { pid: 1 }));
    await backend.store(meta(d, 'SUCCESS', a! + b!));
  });
  assert.equal(w.backend.kind, 'rpc');
  const ids = await Promise.all([w.send([2, 3]), w.send([10, 20])]);
  const results = await Promise.all(ids.map((id) => w.backend.waitFor(id, 5000)));
  assert.deepEqual(results.map((r) => r.result), [5, 30]);
  assert.deepEqual(results.map((r) => r.status), ['SUCCESS', 'SUCCESS']);
  assert.equal(results[0]!.task_id, ids[0]);
  assert.equal((results[0] as unknown as Record<string, unknown>).replyTo, undefined, 'replyTo is not part of the result');
  assert.equal((await w.backend.get(ids[1]!))?.result, 30);
});

test('a result that arrived before waitFor() is buffered by correlation id', async () => {
  const f = fixture();
  const w = await world(f, async (d, backend) => backend.store(meta(d, 'SUCCESS', 'early')));
  const id = await w.send([]);
  await until(async () => (await w.backend.get(id)) !== null, 5000, 'result received');
  await sleep(50);
  const t0 = Date.now();
  const r = await w.backend.waitFor(id, 1000);
  assert.equal(r.result, 'early');
  assert.ok(Date.now() - t0 < 100);
  // A second backend on the same client broker sees it too (the buffer is the broker's).
  assert.equal((await w.client.createBackend().waitFor(id, 100)).result, 'early');
});

test('waitFor: only ready states resolve it; a timeout is a TimeoutError; failures carry exc info', async () => {
  const f = fixture();
  const w = await world(f, async (d, backend) => {
    await backend.store(meta(d, 'STARTED', null));
    await sleep(200);
    await backend.store({ ...meta(d, 'FAILURE', { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' }), traceback: 'Traceback...' });
  });
  const id = await w.send([]);
  await assert.rejects(w.backend.waitFor(id, 100), TimeoutError);
  const r = await w.backend.waitFor(id, 5000);
  assert.equal(r.status, 'FAILURE');
  assert.deepEqual(r.result, { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' });
  assert.equal(r.traceback, 'Traceback...');
  await assert.rejects(w.backend.waitFor(randomUUID(), 150), TimeoutError);
});

test('a reply shaped like a Python Celery worker’s (rpc backend) is understood', async () => {
  const f = fixture();
  const client = await f.broker();
  const replyTo = await client.replyQueue();
  const id = randomUUID();
  const ch = await f.channel();
  // celery/backends/rpc.py store_result: default exchange, routing key = reply_to, correlation_id = task id.
  const body = { task_id: id, status: 'SUCCESS', result: 42, traceback: null, children: [] };
  ch.publish('', replyTo, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: id, deliveryMode: 1 });
  await ch.waitForConfirms();
  const r = await client.createBackend().waitFor(id, 3000);
  assert.equal(r.result, 42);
  assert.equal(r.date_done, null);
});

test('what Sprig publishes is what a Python rpc client expects (raw check)', async () => {
  const f = fixture();
  const worker = await f.broker();
  const ch = await f.channel();
  const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  const id = randomUUID();
  await worker.createBackend().store({ status: 'SUCCESS', result: [1, 'a'], traceback: null, children: [], date_done: '2026-01-01T00:00:00', task_id: id, replyTo: queue });
  await until(async () => (await ch.checkQueue(queue)).messageCount === 1);
  const m = await ch.get(queue, { noAck: true });
  assert.ok(m);
  assert.equal(m.properties.correlationId, id);
  assert.equal(m.properties.contentType, 'application/json');
  const body = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).slice(0, 5), ['task_id', 'status', 'result', 'traceback', 'children']);
  assert.equal(body.replyTo, undefined);
});

test('store() without replyTo (the task had no reply_to) does nothing', async () => {
  const f = fixture();
  const worker = await f.broker();
  await worker.createBackend().store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: 'x' });
});

test('the reply queue is consumed by its client and deleted on close()', async () => {
  const f = fixture();
  const client = await f.broker();
  const name = await client.replyQueue();
  const ch = await f.channel();
  assert.equal((await ch.checkQueue(name)).consumerCount, 1);
  await client.close();
  await assert.rejects((await f.channel()).checkQueue(name), /NOT_FOUND/);
});
