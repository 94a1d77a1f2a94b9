import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delayedRoutingKey, delayOf, levelName, MAX_DELAY_SEC } from '../../runtime/src/brokers/amqp/delayed-delivery.js';
import { queueTypeFrom, taskQueueArguments } from '../../runtime/src/brokers/amqp/topology.js';
import { nextNode, parseAmqpUrlList } from '../../runtime/src/brokers/amqp/url.js';
import { ConfigError } from '../../runtime/src/errors.js';

test("kombu's failover list: every node, round-robin by default, shuffle never picks the same node", () => {
  const l = parseAmqpUrlList('amqp://u:p@h1:5681//;amqp://h2:5682//;amqp://h3:5683//');
  assert.deepEqual(l.nodes.map((n) => `${n.host}:${n.port}`), ['h1:5681', 'h2:5682', 'h3:5683']);
  assert.equal(l.strategy, 'round-robin');
  assert.equal(l.nodes[0]!.connect.username, 'u');
  assert.ok(!l.displayUrl.includes(':p@'));
  assert.deepEqual([0, 1, 2].map((i) => nextNode(l, i)), [1, 2, 0]);
  const s = parseAmqpUrlList('amqp://h1;amqp://h2;amqp://h3?failover_strategy=shuffle');
  assert.equal(s.strategy, 'shuffle');
  for (const r of [0, 0.49, 0.51, 0.999]) for (const cur of [0, 1, 2]) assert.notEqual(nextNode(s, cur, () => r), cur);
  assert.equal(parseAmqpUrlList('amqp://h1', { failover_strategy: 'shuffle' }).strategy, 'shuffle');
  assert.throws(() => parseAmqpUrlList('amqp://h1?failover_strategy=priority'), (e: Error) => e instanceof ConfigError && /round-robin/.test(e.message));
});

test('task_default_queue_type quorum: x-queue-type, delivery limit and dead-lettering; classic unchanged', () => {
  const q = queueTypeFrom(new URLSearchParams('task_default_queue_type=quorum&delivery_limit=5'), {});
  assert.deepEqual(taskQueueArguments('jobs', 10, q), {
    'x-queue-type': 'quorum',
    'x-delivery-limit': 5,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': 'jobs.dead-letter',
  });
  assert.equal(queueTypeFrom(new URLSearchParams(), { defaultQueueType: 'quorum' }).deliveryLimit, 20);
  assert.deepEqual(taskQueueArguments('jobs', 10, queueTypeFrom(new URLSearchParams(), {})), { 'x-max-priority': 10 });
  assert.deepEqual(taskQueueArguments('jobs', undefined, undefined), {});
  assert.throws(() => queueTypeFrom(new URLSearchParams('queue_type=stream'), {}), /classic" or "quorum/);
  assert.throws(() => queueTypeFrom(new URLSearchParams('task_default_queue_type=quorum&delivery_limit=-1'), {}), /delivery_limit/);
});

test("native delayed delivery routing keys are kombu's calculate_routing_key", () => {
  // kombu: '.'.join(f'{countdown:028b}') + '.' + routing_key
  assert.equal(delayedRoutingKey(5, 'celery'), `${'0.'.repeat(25)}1.0.1.celery`);
  assert.equal(delayedRoutingKey(3600, 'q'), `${'0.'.repeat(16)}1.1.1.0.0.0.0.1.0.0.0.0.q`); // 3600 = 0b111000010000
  // A retry re-reads a prefixed key: the old prefix goes, it does not pile up.
  assert.equal(delayedRoutingKey(1, delayedRoutingKey(7, 'q')), `${'0.'.repeat(27)}1.q`);
  assert.equal(delayedRoutingKey(10 ** 12, 'q'), `${'1.'.repeat(28)}q`);
  assert.equal(MAX_DELAY_SEC, 2 ** 28 - 1);
  assert.throws(() => delayedRoutingKey(0.5, 'q'), RangeError);
  assert.equal(levelName(27), 'celery_delayed_27');
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(delayOf('2026-01-01T01:00:00.000000+00:00', now), 3600);
  assert.equal(delayOf('2026-01-01T00:00:00.5+00:00', now), 0);
  assert.equal(delayOf(null, now), 0);
  assert.equal(delayOf('not a date', now), 0);
});
