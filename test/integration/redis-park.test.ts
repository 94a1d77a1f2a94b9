/**
 * The Redis consumer's parked wait, counted on a server of the test's own (INFO commandstats sees
 * only this test's commands there): what one idle wake-up costs in commands.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';
import { RedisFixture, sleep, waitUntil } from './redis-helpers.js';
import { sparePort, startRedis, stopAllRedis } from './redis-server.js';

after(stopAllRedis);

/** Calls of `command` so far (`client|id` for CLIENT ID). */
async function calls(raw: Redis, command: string): Promise<number> {
  const info = await raw.info('commandstats');
  const m = new RegExp(`^cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

test('a consumer parked again and again asks its connection CLIENT ID once, again after a reconnect; cancel still unblocks it', async () => {
  const port = await sparePort();
  await startRedis(port);
  const f = new RedisFixture(`redis://127.0.0.1:${port}/0`);
  try {
    const b = await f.broker();
    const q = f.queue();
    const got: Delivery[] = [];
    const c = await b.consume([q], 4, f.collect(got));
    // One at a time, each after the consumer parked again (an idle worker's caller loop).
    for (let i = 0; i < 5; i++) {
      await sleep(50);
      await b.publish(q, buildTaskMessage({ name: 'app.add', args: [i], queue: q }));
      await waitUntil(() => got.length === i + 1, 10_000, `delivery ${i}`);
      b.ack(got[i]!);
    }
    await sleep(100);
    assert.equal(await calls(f.raw, 'client|id'), 1, 'one CLIENT ID for five parks on one connection');

    // The watcher's connection is dropped: its next park asks the new connection's id.
    await f.raw.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await sleep(300);
    await b.publish(q, buildTaskMessage({ name: 'app.add', args: ['after'], queue: q }));
    await waitUntil(() => got.length === 6, 10_000, 'the delivery after the reconnect');
    b.ack(got[5]!);
    await waitUntil(async () => (await calls(f.raw, 'client|id')) >= 2, 10_000, 'CLIENT ID asked again');

    // Cancelled while parked: unblocked by that id, so the fetch behind its BLMOVE runs (and takes
    // nothing); with a stale id it would not run, its connection closed under it.
    await sleep(200);
    const fetches = await calls(f.raw, 'evalsha');
    await c.cancel();
    assert.equal(await calls(f.raw, 'evalsha'), fetches + 1, 'the parked fetch ran: unblocked by its id');
    await b.publish(q, buildTaskMessage({ name: 'app.add', args: ['late'], queue: q }));
    await sleep(200);
    assert.equal(got.length, 6);
  } finally {
    await f.cleanup();
  }
});
