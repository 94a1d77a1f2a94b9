/**
 * Issue 13: what Celery's own tools, Python clients and hostile producers send. A message whose
 * headers cannot be acted on is dead-lettered with a reason at once (never thrown later, where it
 * would kill the worker and come back to kill the next one); values round-trip exactly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { App, Worker, buildTaskMessage, type SprigEvent } from '../../runtime/src/index.js';
import type { MemoryBroker } from '../../runtime/src/brokers/memory/memory-broker.js';
import { FIXTURE_TASKS, uniqueQueue, waitFor } from '../helpers.js';

const url = `memory://${randomUUID()}`;
const queue = uniqueQueue();
let worker: Worker;
let app: App;
const events: SprigEvent[] = [];

before(async () => {
  worker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: { brokerUrl: url, accept: ['json', 'msgpack', 'yaml'], worker: { pool: 'async', concurrency: 2, queues: [queue], events: true } } });
  app = new App({ brokerUrl: url, defaultQueue: queue });
  await (await app.broker()).subscribeEvents((e) => events.push(e));
  await worker.start();
});

after(async () => {
  await worker.stop();
  await app.close();
});

const rejectedFor = (id: string) => waitFor(() => events.find((e): e is Extract<SprigEvent, { type: 'task-rejected' }> => e.type === 'task-rejected' && e.uuid === id), 3000, `task-rejected for ${id}`);

test('1. poison headers (eta 1e13, a date that is no date, bad time limits, retries, priority) are dead-lettered with a reason; the worker keeps going', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['eta 1e13 (an invalid Date)', { eta: 1e13 }, /invalid eta header 10000000000000/],
    ['eta that is no date', { eta: 'tomorrow' }, /invalid eta header "tomorrow"/],
    ['eta of another type', { eta: { t: 1 } }, /invalid eta header/],
    ['expires 1e13', { expires: 1e13 }, /invalid expires header/],
    ['a time limit that is no number', { timelimit: ['30', null] }, /invalid timelimit header/],
    ['a negative soft time limit', { timelimit: [null, -1] }, /invalid timelimit header/],
    ['timelimit that is no pair', { timelimit: 30 }, /invalid timelimit header/],
    ['retries -1', { retries: -1 }, /invalid retries header/],
    ['retries as a string', { retries: '2' }, /invalid retries header/],
    ['root_id of another type', { root_id: 7 }, /invalid root_id header/],
    ['ignore_result that is no boolean', { ignore_result: 'yes' }, /invalid ignore_result header/],
  ];
  const before = await broker.deadLetterLength(queue);
  for (const [what, headers, reason] of cases) {
    const m = buildTaskMessage({ name: 'add', args: [1, 2], queue });
    Object.assign(m.headers, headers);
    await broker.publish(queue, m);
    const ev = await rejectedFor(m.headers.id as string);
    assert.match(ev.reason ?? '', reason, what);
    assert.equal(ev.requeue, false, what);
  }
  const bad = buildTaskMessage({ name: 'add', args: [1, 2], queue });
  bad.properties.priority = 1.5;
  await broker.publish(queue, bad);
  assert.match((await rejectedFor(bad.headers.id as string)).reason ?? '', /invalid priority header/);
  await waitFor(async () => (await broker.deadLetterLength(queue)) - before === cases.length + 1, 3000, 'every poison message dead-lettered');
  // Still alive, and Python's other ISO forms (space separator, naive = UTC) are fine.
  const ok = buildTaskMessage({ name: 'add', args: [2, 2], queue });
  ok.headers.eta = new Date(Date.now() - 1000).toISOString().replace('T', ' ').replace('Z', '');
  await broker.publish(queue, ok);
  assert.equal(await app.asyncResult(ok.headers.id as string).get({ timeout: 5 }), 4);
});
