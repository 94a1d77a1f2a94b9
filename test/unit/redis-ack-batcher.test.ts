import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RedisClient } from '../../runtime/src/brokers/redis/connection.js';
import { ACK_WRITE_TRIES, RedisAckBatcher } from '../../runtime/src/brokers/redis/ack-batcher.js';

/** A client whose ack pipelines fail with the connection `failures` times (as ioredis reports an aborted pipeline), then succeed. */
function fakeClient(failures: number, mode: 'abort' | 'reject' | 'other') {
  const written: string[] = [];
  let calls = 0;
  const client = {
    pipeline() {
      const tags: string[] = [];
      const p = {
        hdel(_key: string, ...t: string[]) {
          tags.push(...t);
          return p;
        },
        zrem() {
          return p;
        },
        async exec() {
          if (calls++ < failures) {
            if (mode === 'reject') throw new Error('Connection is closed.');
            const err = new Error(mode === 'abort' ? 'Command aborted due to connection close' : 'WRONGTYPE Operation against a key holding the wrong kind of value');
            return [[err, null], [err, null]];
          }
          written.push(...tags);
          return [[null, tags.length], [null, tags.length]];
        },
      };
      return p;
    },
  };
  return { client: client as unknown as RedisClient, written, calls: () => calls };
}

const bound = (p: Promise<unknown>) => p;

for (const mode of ['abort', 'reject'] as const) {
  test(`acks whose pipeline failed with the connection (${mode}) are written again`, async () => {
    const f = fakeClient(2, mode);
    const acks = new RedisAckBatcher(f.client, bound);
    acks.add('a', 'q');
    acks.add('b', 'q');
    await acks.flush();
    assert.deepEqual(f.written.sort(), ['a', 'b']);
    assert.equal(f.calls(), 3);
  });
}

test('an ack write that fails for another reason is not retried', async () => {
  const f = fakeClient(1, 'other');
  const acks = new RedisAckBatcher(f.client, bound);
  acks.add('a', 'q');
  await acks.flush();
  assert.deepEqual(f.written, []);
  assert.equal(f.calls(), 1);
});

test(`a failed ack is written again at most ${ACK_WRITE_TRIES} times (then the visibility timeout brings its message back)`, async () => {
  const f = fakeClient(1000, 'abort');
  const acks = new RedisAckBatcher(f.client, bound);
  acks.add('a', 'q');
  await acks.flush();
  assert.deepEqual(f.written, []);
  assert.equal(f.calls(), ACK_WRITE_TRIES + 1);
});
