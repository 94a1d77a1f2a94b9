/**
 * The Redis consumer with the cluster key layout (one fetch script call per queue, as on a Redis
 * Cluster), run against the shared single Redis: the hash-tagged keys are ordinary names there.
 * The fetches for different queues (on a cluster: different masters) are in flight together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Redis from 'ioredis';
import { RedisAckBatcher } from '../../runtime/src/brokers/redis/ack-batcher.js';
import { RedisConsumer } from '../../runtime/src/brokers/redis/consumer.js';
import { CLUSTER_LAYOUT } from '../../runtime/src/brokers/redis/keys.js';
import { defineScripts } from '../../runtime/src/brokers/redis/scripts.js';
import { QoS } from '../../runtime/src/brokers/qos.js';
import { buildTaskMessage, encodeEnvelope } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';
import { uniqueQueue, waitFor } from '../helpers.js';

test('cluster layout: one worker fetches from 3 queues concurrently (one fetch per queue in flight), each message once, acks riding along', async () => {
  const client = defineScripts(new Redis('redis://127.0.0.1:6379/0'));
  const queues = [uniqueQueue(), uniqueQueue(), uniqueQueue()];
  const perQueue = 40;
  // Count the fetch script calls in flight at once.
  let inFlight = 0;
  let maxInFlight = 0;
  const fetchFn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>).sprigFetch!;
  (client as unknown as Record<string, unknown>).sprigFetch = async (...a: unknown[]) => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      return await fetchFn.apply(client, a);
    } finally {
      inFlight--;
    }
  };
  const blocking: Redis[] = [];
  const qos = new QoS<RedisConsumer, string>();
  const acks = new RedisAckBatcher(client, (p) => p, CLUSTER_LAYOUT);
  const host = {
    client,
    layout: CLUSTER_LAYOUT,
    qos,
    acks,
    newBlockingConnection: () => {
      const c = client.duplicate();
      blocking.push(c);
      return c;
    },
  };
  const got: Delivery[] = [];
  let consumer: RedisConsumer | undefined;
  try {
    for (const q of queues) {
      const raws = Array.from({ length: perQueue }, (_, i) => encodeEnvelope(buildTaskMessage({ name: 'add', args: [i, 1], queue: q })));
      await client.lpush(CLUSTER_LAYOUT.base(q), ...raws);
    }
    // Each delivery is acked on the next turn (as a worker would after a task): room for more fetches.
    consumer = new RedisConsumer(host, queues, 24, (d) => {
      got.push(d);
      setImmediate(() => {
        qos.settle(d.tag);
        acks.add(d.tag, d.queue);
        consumer!.schedulePump();
      });
    });
    consumer.pump();
    await waitFor(() => got.length >= perQueue * queues.length, 30_000, 'every message delivered');
    await acks.flush();
    assert.equal(got.length, perQueue * queues.length);
    assert.equal(new Set(got.map((d) => d.tag)).size, got.length, 'each message once');
    for (const q of queues) assert.equal(got.filter((d) => d.queue === q).length, perQueue, q);
    assert.equal(maxInFlight, queues.length, 'one fetch per queue in flight at the same time');
    for (const q of queues) {
      assert.equal(await client.llen(CLUSTER_LAYOUT.base(q)), 0);
      await waitFor(async () => (await client.hlen(CLUSTER_LAYOUT.unacked(q))) === 0, 10_000, `${q}: every ack written`);
    }
  } finally {
    await consumer?.cancel();
    for (const q of queues) await client.del(CLUSTER_LAYOUT.base(q), CLUSTER_LAYOUT.unacked(q), CLUSTER_LAYOUT.unackedIndex(q), CLUSTER_LAYOUT.generatedTag(q));
    for (const c of blocking) c.disconnect();
    client.disconnect();
  }
});
