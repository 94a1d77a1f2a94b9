import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { App, Worker, TaskError, type SprigEvent } from '../../runtime/src/index.js';
import { MemoryBroker } from '../../runtime/src/brokers/memory/memory-broker.js';
import { FIXTURE_TASKS, uniqueQueue, waitFor } from '../helpers.js';

// The in-memory broker is for unit tests of the worker's logic; integration tests use real brokers.
const url = `memory://${randomUUID()}`;
const queue = uniqueQueue();
let worker: Worker;
let app: App;
const events: SprigEvent[] = [];

before(async () => {
  worker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: { brokerUrl: url, worker: { pool: 'async', concurrency: 4, queues: [queue], events: true } } });
  app = new App({ brokerUrl: url, defaultQueue: queue });
  await (await app.broker()).subscribeEvents((e) => events.push(e));
  await worker.start();
});

after(async () => {
  await worker.stop();
  await app.close();
});

test('round trip: delay -> worker -> result', async () => {
  const r = app.sendTask('add', [2, 3]);
  assert.equal(await r.get({ timeout: 30 }), 5);
  assert.equal(r.state, 'SUCCESS');
});

test('kwargs arrive as the last argument', async () => {
  assert.deepEqual(await app.sendTask('echo', [1], { k: 'v' }).get({ timeout: 30 }), [1, { k: 'v' }]);
});

test('failure carries exc_type/exc_message and a traceback pointing at the tasks file', async () => {
  const r = app.sendTask('boom', ['bad']);
  await assert.rejects(r.get({ timeout: 30 }), (e: TaskError) => {
    assert.equal(e.excType, 'RangeError');
    assert.deepEqual(e.excMessage, ['bad']);
    assert.match(e.traceback ?? '', /fixtures[/\\]tasks\.ts:\d+/);
    return true;
  });
});

test('retry() with countdown re-runs the task; retries counted', async () => {
  assert.equal(await app.sendTask('retrying', [3]).get({ timeout: 30 }), 3);
});

test('a destructured context works: retry, retries, id and signal', async () => {
  const r = app.sendTask('destructured', [2]);
  assert.deepEqual(await r.get({ timeout: 30 }), { retries: 2, id: r.id, aborted: false });
});

test('autoretryFor with backoff', async () => {
  assert.equal(await app.sendTask('auto', []).get({ timeout: 30 }), 3);
});

test('max retries exceeded -> FAILURE with the last exception', async () => {
  await assert.rejects(app.sendTask('exhaust', []).get({ timeout: 30 }), /still broken/);
});

test('expired task is REVOKED, not run', async () => {
  const r = app.sendTask('add', [1, 1], {}, { expires: new Date(Date.now() - 1000) });
  await assert.rejects(r.get({ timeout: 30 }), /revoked|expired/i);
  assert.equal(r.state, 'REVOKED');
});

test('unknown task -> NotRegistered failure at once + task-rejected event; worker keeps going', async () => {
  const r = app.sendTask('nope', []);
  await assert.rejects(r.get({ timeout: 30 }), (e: TaskError) => e.excType === 'NotRegistered');
  await waitFor(() => events.find((e) => e.type === 'task-rejected' && e.uuid === r.id), 2000, 'task-rejected');
  assert.equal(await app.sendTask('add', [1, 2]).get({ timeout: 30 }), 3);
});

test('garbage is dead-lettered with a reason and the worker keeps going', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  broker.injectRaw(queue, '\u0000not json');
  broker.injectRaw(queue, JSON.stringify({ body: Buffer.from('{"task":"add"}').toString('base64'), 'content-type': 'application/json', properties: { body_encoding: 'base64' }, headers: {} }));
  assert.equal(await app.sendTask('add', [5, 5]).get({ timeout: 30 }), 10);
  await waitFor(async () => (await broker.deadLetterLength(queue)) >= 2, 2000, 'dead letters');
});

test('countdown delays execution', async () => {
  const t0 = Date.now();
  await app.sendTask('add', [1, 1], {}, { countdown: 0.3 }).get({ timeout: 30 });
  assert.ok(Date.now() - t0 >= 280, `ran after ${Date.now() - t0} ms`);
});

test('events: received, started, succeeded with Celery fields', async () => {
  const r = app.sendTask('add', [7, 8]);
  await r.get({ timeout: 30 });
  const mine = await waitFor(() => {
    const m = events.filter((e) => 'uuid' in e && e.uuid === r.id);
    return m.length >= 3 ? m : null;
  });
  assert.deepEqual(mine.map((e) => e.type), ['task-received', 'task-started', 'task-succeeded']);
  for (const e of mine) for (const k of ['hostname', 'pid', 'clock', 'timestamp', 'utcoffset']) assert.ok(k in e, k);
  assert.ok(events.some((e) => e.type === 'worker-online'));
});

test('async pool: revoke with terminate ends a running task at once as REVOKED, even if it ignores its signal', async () => {
  const r = app.sendTask('slow', [5000]);
  await waitFor(() => events.find((e) => e.type === 'task-started' && e.uuid === r.id), 2000, 'started');
  const t0 = Date.now();
  await app.control.revoke(r.id, { terminate: true, timeout: 0.2 });
  await assert.rejects(r.get({ timeout: 3 }), /revoked/i);
  assert.equal(r.state, 'REVOKED');
  assert.ok(Date.now() - t0 < 1500);
  const ev = await waitFor(() => events.find((e) => e.type === 'task-revoked' && e.uuid === r.id), 2000, 'task-revoked');
  assert.equal(ev.type === 'task-revoked' && ev.terminated, true);
  assert.equal(await app.sendTask('add', [1, 1]).get({ timeout: 30 }), 2, 'the slot is free again');
});
