/**
 * Issue 18's Sentinel stall, made deterministic. ioredis ends a client for good (status 'end', no
 * retry) when its connector is disconnected while a connection attempt is under way: with Sentinel
 * that is the FailoverDetector of the lost connection hearing `+switch-master` during a reconnect.
 * Here the same call (`connector.disconnect()` on 'connecting') is made on a real Redis connection;
 * the broker must connect again by itself and the consumer must go on.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';
import { RedisFixture, waitUntil } from './redis-helpers.js';

const f = new RedisFixture();
after(() => f.cleanup());

/** What FailoverDetector.disconnect() does, at the moment it hurts: during the next connection attempt. */
function abortNextConnect(client: Redis): Promise<void> {
  return new Promise<void>((resolve) => {
    client.once('connecting', () => {
      (client as unknown as { connector: { disconnect(): void } }).connector.disconnect();
      client.once('end', () => resolve());
    });
    client.disconnect(true); // a dropped connection: ioredis reconnects, and the attempt is aborted
  });
}

test('a Redis connection that ioredis ends during a reconnect is connected again; the consumer goes on', async () => {
  const lines: string[] = [];
  const b = await f.broker();
  const q = f.queue();
  const got: Delivery[] = [];
  await b.consume([q], 4, (d) => {
    f.collect(got)(d);
    b.ack(d);
  });
  await b.publish(q, buildTaskMessage({ name: 'test.before', queue: q }));
  await waitUntil(() => got.length === 1, 30_000, 'the first delivery');

  const client = b.client as Redis;
  const ended = abortNextConnect(client);
  await ended;
  lines.push(`status after the aborted connect: ${client.status}`);
  await waitUntil(() => client.status === 'ready', 30_000, 'the broker connection ready again');

  await b.publish(q, buildTaskMessage({ name: 'test.after', queue: q }));
  await waitUntil(() => got.length === 2, 30_000, `the delivery after the restart (${lines.join('; ')})`);
  assert.equal(got[1]!.message?.headers.task, 'test.after');
});

test('a connection closed on purpose stays closed', async () => {
  const b = await f.broker();
  const client = b.client as Redis;
  await b.close();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(client.status, 'end');
});
