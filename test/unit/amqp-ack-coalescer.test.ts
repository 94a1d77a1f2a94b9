import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AckCoalescer } from '../../runtime/src/brokers/amqp/ack-coalescer.js';

/** A channel that records the frames it is asked to write, and what RabbitMQ would still count as outstanding. */
function fakeChannel(delivered: number[]) {
  const frames: string[] = [];
  const outstanding = new Set(delivered);
  const settleOne = (tag: number, what: string) => {
    if (!outstanding.delete(tag)) throw new Error(`PRECONDITION_FAILED - unknown delivery tag ${tag} (${what})`);
  };
  const ch = {
    ack(m: ConsumeMessage, allUpTo = false) {
      const tag = m.fields.deliveryTag;
      frames.push(`ack ${tag}${allUpTo ? ' multiple' : ''}`);
      if (!allUpTo) return settleOne(tag, 'ack');
      if (!outstanding.has(tag)) throw new Error(`PRECONDITION_FAILED - unknown delivery tag ${tag}`);
      for (const t of [...outstanding]) if (t <= tag) outstanding.delete(t);
    },
    nack(m: ConsumeMessage, _allUpTo: boolean, requeue: boolean) {
      frames.push(`nack ${m.fields.deliveryTag}${requeue ? ' requeue' : ''}`);
      settleOne(m.fields.deliveryTag, 'nack');
    },
  };
  return { ch: ch as unknown as Channel, frames, outstanding };
}

const msg = (tag: number) => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;

test('AMQP acks of a turn: the settled run at the front is one multiple ack; past an unsettled delivery, one by one', () => {
  const tags = [1, 2, 3, 4, 5, 6, 7];
  const { ch, frames, outstanding } = fakeChannel(tags);
  const c = new AckCoalescer(ch);
  const m = new Map(tags.map((t) => [t, msg(t)]));
  for (const t of tags) c.delivered(m.get(t)!);
  // Out of order, 4 still running: 1-3 go as one frame, 5 alone (a multiple ack of 5 would ack 4 too).
  for (const t of [2, 5, 1, 3]) c.ack(m.get(t)!);
  c.flush();
  assert.deepEqual(frames, ['ack 3 multiple', 'ack 5']);
  assert.deepEqual([...outstanding], [4, 6, 7]);
  // A nack is written at once; the front then moves past 4 (nacked) and 5 (acked) to 6 and 7.
  c.nack(m.get(4)!, true);
  c.ack(m.get(7)!);
  c.ack(m.get(6)!);
  c.flush();
  assert.deepEqual(frames, ['ack 3 multiple', 'ack 5', 'nack 4 requeue', 'ack 7 multiple']);
  assert.equal(outstanding.size, 0, 'every delivery settled exactly once');
  c.flush();
  assert.equal(frames.length, 4, 'nothing pending: no frame');
});

test('AMQP acks: nothing is written until the turn ends, then once', async () => {
  const { ch, frames } = fakeChannel([1, 2]);
  const c = new AckCoalescer(ch);
  c.delivered(msg(1));
  c.delivered(msg(2));
  c.ack(msg(1));
  c.ack(msg(2));
  assert.deepEqual(frames, []);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(frames, ['ack 2 multiple']);
});

test('AMQP acks on a closed channel are dropped without throwing (RabbitMQ redelivers them)', () => {
  const ch = { ack: () => { throw new Error('Channel closed'); }, nack: () => undefined } as unknown as Channel;
  const c = new AckCoalescer(ch);
  c.delivered(msg(1));
  c.ack(msg(1));
  assert.doesNotThrow(() => c.flush());
});
