/** The real Worker and App over RabbitMQ (results in Redis, and over rpc:// once wired). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { App, Worker } from '../../runtime/src/index.js';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import { FIXTURE_TASKS, uniqueQueue } from '../helpers.js';
import { AMQP_URL } from './amqp-helpers.js';

const REDIS_URL = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const queue = uniqueQueue();
const rpcQueue = uniqueQueue();
let worker: Worker;
let rpcWorker: Worker;
let app: App;
let rpcApp: App;

before(async () => {
  const opts = { pool: 'async' as const, concurrency: 2, events: true };
  worker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: { brokerUrl: AMQP_URL, resultBackend: REDIS_URL, worker: { ...opts, queues: [queue] } } });
  rpcWorker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: { brokerUrl: AMQP_URL, worker: { ...opts, queues: [rpcQueue] } } });
  app = new App({ brokerUrl: AMQP_URL, resultBackend: REDIS_URL, defaultQueue: queue });
  rpcApp = new App({ brokerUrl: AMQP_URL, defaultQueue: rpcQueue });
  await worker.start();
  await rpcWorker.start();
});

after(async () => {
  await worker.stop();
  await rpcWorker.stop();
  const b = new AmqpBroker(AMQP_URL);
  await b.connect();
  await b.deleteQueue(queue);
  await b.deleteQueue(rpcQueue);
  await b.close();
  await app.close();
  await rpcApp.close();
});

test('tasks, retries, failures; ETA tasks held in memory do not block the prefetch (global QoS grows)', async () => {
  assert.equal(await app.sendTask('add', [2, 3]).get({ timeout: 30 }), 5);
  assert.equal(await app.sendTask('retrying', [3]).get({ timeout: 30 }), 3);
  const t0 = Date.now();
  // concurrency 2 x multiplier 4 = prefetch 8 < 10 ETA tasks.
  const etas = Array.from({ length: 10 }, (_, i) => app.sendTask('add', [i, 0], {}, { countdown: 1 }));
  assert.equal(await app.sendTask('add', [100, 0]).get({ timeout: 30 }), 100);
  assert.ok(Date.now() - t0 < 900, 'not stuck behind the ETA tasks');
  assert.deepEqual(await Promise.all(etas.map((r) => r.get({ timeout: 30 }))), Array.from({ length: 10 }, (_, i) => i));
  await assert.rejects(app.sendTask('boom', ['bad']).get({ timeout: 30 }), /bad/);
});

test('rpc:// results (the broker\'s own backend)', async () => {
  assert.equal(await rpcApp.sendTask('add', [20, 22]).get({ timeout: 30 }), 42);
});
