/**
 * The Queues view, charts and browser monitor parts that need no broker: the charts' per-second
 * series and quantiles, the --http address check, the queue-name check, the requeue refusals, and
 * the protocol guards of the queue requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChartSeries, quantile } from '../../webview-ui/src/chart-series.js';
import { isLoopback, parseListen } from '../../runtime/src/cli/monitor-http.js';
import { queueName } from '../../runtime/src/control/queues.js';
import { requeueRefusal } from '../../runtime/src/brokers/dead-letter.js';
import { isListQueues, isQueueRequest } from '../../extension/src/monitor/protocol.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';

test('charts: succeeded and failed per second, p50/p95 of the runtimes, the last known depth, a 5-minute window', () => {
  let now = 1000;
  const s = new ChartSeries(() => now);
  const ok = (runtime: number) => ({ type: 'task-succeeded', uuid: 'x', result: '1', runtime, hostname: 'w', timestamp: now }) as unknown as SprigEvent;
  s.add(Array.from({ length: 100 }, (_, i) => ok((i + 1) / 1000)));
  s.add([{ type: 'task-failed', uuid: 'y', exception: 'E', traceback: '', hostname: 'w', timestamp: now } as unknown as SprigEvent]);
  s.setDepth([{ name: 'a', waiting: 7, reserved: 0, scheduled: 0, deadLetter: 0, consumers: 1, workers: [] }, { name: 'b', waiting: 3, reserved: null, scheduled: null, deadLetter: 0, consumers: 0, workers: [] }]);
  now = 1002;
  const [t, succ, fail, p50, p95, depth] = s.data();
  assert.equal(t.length, 300);
  assert.equal(t.at(-1), 1002);
  const i = t.indexOf(1000);
  assert.equal(succ[i], 100);
  assert.equal(fail[i], 1);
  assert.equal(p50[i], 50);
  assert.equal(p95[i], 95);
  assert.equal(p50[i + 1], null, 'no runtimes: no point');
  assert.equal(depth[i], 10);
  assert.equal(depth.at(-1), 10, 'the depth holds until the next poll');
  assert.equal(s.succeeded, 100);
  now = 1000 + 400;
  assert.equal(s.data()[1].reduce((a, b) => a + b, 0), 0, 'out of the window');
  assert.equal(quantile([], 0.5), null);
  assert.equal(quantile([5], 0.95), 5);
});

test('--http: loopback by default, a port 0-65535, a clear error otherwise', () => {
  assert.deepEqual(parseListen('127.0.0.1:5555'), { host: '127.0.0.1', port: 5555 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('5555'), { host: '127.0.0.1', port: 5555 });
  assert.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  assert.throws(() => parseListen('0.0.0.0:5555'), /not a loopback address.*--allow-remote/);
  assert.throws(() => parseListen('192.168.1.4:80'), /--allow-remote/);
  assert.deepEqual(parseListen('0.0.0.0:5555', true), { host: '0.0.0.0', port: 5555 });
  assert.throws(() => parseListen('127.0.0.1:70000'), /port must be 0-65535/);
  assert.throws(() => parseListen('nonsense'), /expects host:port, e\.g\. --http 127\.0\.0\.1:5555/);
  assert.ok(isLoopback('127.8.9.1') && isLoopback('::1') && !isLoopback('10.0.0.1') && !isLoopback('example.com'));
});

test('queue names: a task queue, not the broker\'s own; a bad one says what is right', () => {
  assert.equal(queueName('celery'), 'celery');
  for (const bad of ['', ' ', 'a b', 'x\n', 42, 'celery.dead-letter', 'reply.celery.pidbox']) assert.throws(() => queueName(bad), /queue/);
});

test('requeue refusals: truncated, not a message, not a task; a task message goes', () => {
  const entry = { reason: 'r', queue: 'q', time: 0, raw: '{}', size: 2, truncated: false };
  const message = buildTaskMessage({ name: 't', args: [], queue: 'q' });
  assert.equal(requeueRefusal({ entry, message }), undefined);
  assert.match(requeueRefusal({ entry: { ...entry, size: 10_000, truncated: true }, message }) ?? '', /first 2 of 10000 bytes/);
  assert.match(requeueRefusal({ entry, error: new Error('bad json') }) ?? '', /still not a message \(bad json\)/);
  assert.match(requeueRefusal({ entry, message: { ...message, headers: {} } }) ?? '', /not a task message/);
});

test('protocol guards: queue requests name a queue; max is a positive integer', () => {
  assert.ok(isQueueRequest({ method: 'purgeQueue', id: 1, params: { queue: 'q' } }, 'purgeQueue'));
  assert.ok(isQueueRequest({ method: 'requeueDeadLetters', id: 1, params: { queue: 'q', max: 1 } }, 'requeueDeadLetters'));
  assert.ok(!isQueueRequest({ method: 'requeueDeadLetters', id: 1, params: { queue: 'q', max: 0 } }, 'requeueDeadLetters'));
  assert.ok(!isQueueRequest({ method: 'purgeQueue', id: 1, params: {} }, 'purgeQueue'));
  assert.ok(!isQueueRequest({ method: 'purgeQueue', params: { queue: 'q' } }, 'purgeQueue'));
  assert.ok(isListQueues({ method: 'listQueues', id: 3, params: {} }));
});
