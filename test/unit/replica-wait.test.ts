import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplicaWait } from '../../runtime/src/brokers/redis/connection.js';

/** A second WAIT, recorded: the timeouts it was asked with, replying `reply`. */
function again(reply: unknown) {
  const asked: number[] = [];
  const fn = (ms: number) => {
    asked.push(ms);
    return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
  };
  return { asked, fn };
}

test('ReplicaWait: a WAIT that reached the replicas confirms at once, with no second WAIT', async () => {
  const w = new ReplicaWait(1, 200);
  const a = again(1);
  await w.settle(1, a.fn);
  assert.deepEqual(a.asked, []);
  assert.equal(w.active, true);
});

test('ReplicaWait: a short WAIT (a slow replica) is asked again, longer; a replica then keeps waiting on', async () => {
  const w = new ReplicaWait(1, 200);
  const a = again(1);
  await w.settle(0, a.fn);
  assert.deepEqual(a.asked, [200 * ReplicaWait.RETRY_FACTOR]);
  assert.equal(w.active, true);
});

test('ReplicaWait: short twice (no replica), or the second WAIT failing, suspends waiting', async () => {
  for (const second of [0, new Error('connection lost'), undefined]) {
    const w = new ReplicaWait(2, 100);
    const a = again(second);
    await w.settle(1, a.fn);
    assert.deepEqual(a.asked, [100 * ReplicaWait.RETRY_FACTOR]);
    assert.equal(w.active, false, String(second));
  }
});
