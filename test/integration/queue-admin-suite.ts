/**
 * Queue admin, part of the broker conformance suite (run for every transport by
 * broker-conformance.test.ts): listQueues, queueStats, and moveDeadLetter through
 * requeueDeadLetters: the original bytes go back, what cannot be requeued stays, a pass ends.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { requeueDeadLetters } from '../../runtime/src/brokers/dead-letter.js';
import type { Broker, Delivery } from '../../runtime/src/brokers/types.js';
import type { BrokerOptions } from '../../runtime/src/brokers/registry.js';
import type { BrokerTarget } from './conformance-suite.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
const bytes = (raw: string | Buffer | undefined) => (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw ?? Buffer.alloc(0)));
const msg = (queue: string, args: unknown[] = [1]) => buildTaskMessage({ name: 'conformance.echo', args, queue });

export function queueAdminConformance(target: BrokerTarget): void {
  describe(`queue admin: ${target.name}`, () => {
    const brokers: Broker[] = [];
    const queues: string[] = [];
    const broker = async (opts?: BrokerOptions) => {
      const b = await target.create(opts);
      brokers.push(b);
      return b;
    };
    const queue = () => {
      const q = `test-${randomUUID()}`;
      queues.push(q);
      return q;
    };
    const collect = async (b: Broker, q: string, prefetch: number) => {
      const got: Delivery[] = [];
      const consumer = await b.consume([q], prefetch, (d) => got.push(d));
      return { got, consumer };
    };
    /** Publish `messages`, take them and reject each to the dead-letter queue; the deliveries as they were. */
    const deadLetter = async (b: Broker, q: string, messages: ReturnType<typeof msg>[]) => {
      await b.publishBatch(messages.map((message) => ({ queue: q, message })));
      const { got, consumer } = await collect(b, q, messages.length);
      await until(() => got.length === messages.length, 10_000, `${messages.length} deliveries`);
      await consumer.cancel();
      for (const d of got) await b.reject(d, false, 'queue admin: failed');
      await until(async () => (await b.deadLetterLength(q)) === messages.length, 10_000, 'the dead letters');
      return got;
    };

    afterEach(async () => {
      for (const b of brokers.splice(0)) await b.close().catch(() => undefined);
      const qs = queues.splice(0);
      if (qs.length) await target.cleanup(qs);
    });

    test('listQueues names a queue with messages; queueStats counts waiting, held and dead letters', async () => {
      const b = await broker();
      const q = queue();
      await deadLetter(b, q, [msg(q)]);
      await b.publishBatch([1, 2, 3].map((i) => ({ queue: q, message: msg(q, [i]) })));
      const { got } = await collect(b, q, 1);
      await until(() => got.length === 1, 10_000, 'one held');
      await until(async () => (await b.queueStats!(q)).waiting === 2, 10_000, 'two waiting');
      const s = await b.queueStats!(q);
      assert.equal(s.deadLetter, 1);
      // RabbitMQ does not count unacked messages over AMQP; the others do.
      if (s.reserved !== undefined) assert.equal(s.reserved, 1);
      else assert.equal(target.name, 'amqp');
      if (s.consumers !== undefined) assert.ok(s.consumers >= 1, `consumers ${s.consumers}`);
      assert.ok((await b.listQueues!()).includes(q), 'listQueues names the queue');
      assert.ok(!(await b.listQueues!()).some((x) => x.endsWith('.dead-letter')), 'no dead-letter queue listed as a task queue');
      b.ack(got[0]!);
    });

    test('requeue: the dead letter goes back as the bytes that were rejected, and is gone from the dead-letter queue', async () => {
      const b = await broker();
      const q = queue();
      const [first] = await deadLetter(b, q, [msg(q, ['original'])]);
      const r = await requeueDeadLetters(b, q);
      assert.deepEqual(r, { requeued: 1, kept: [] });
      assert.equal(await b.deadLetterLength(q), 0);
      const { got } = await collect(b, q, 1);
      await until(() => got.length === 1, 10_000, 'the requeued message');
      assert.ok(bytes(got[0]!.raw).equals(bytes(first!.raw)), 'byte for byte the message that was rejected');
      assert.equal(got[0]!.message?.headers.id, first!.message?.headers.id);
      b.ack(got[0]!);
    });

    test('what cannot be requeued stays (truncated, not a task) and the pass visits each entry once', async () => {
      const b = await broker({ deadLetter: { maxBytes: 2048 } });
      const q = queue();
      const notATask = { ...msg(q), headers: { hello: 'not a task' } };
      await deadLetter(b, q, [msg(q, ['x'.repeat(10_000)]), notATask, msg(q, ['good'])]);
      const r = await requeueDeadLetters(b, q);
      assert.equal(r.requeued, 1, JSON.stringify(r));
      assert.equal(r.kept.length, 2);
      assert.match(r.kept.map((k) => k.reason).join('\n'), /cannot be requeued/);
      assert.match(r.kept.map((k) => k.reason).join('\n'), /not a task message/);
      assert.equal(await b.deadLetterLength(q), 2, 'the two bad ones are still dead letters');
      // Again: the same two are kept, none requeued, and the pass ends.
      assert.deepEqual((await requeueDeadLetters(b, q)).requeued, 0);
      assert.equal(await b.deadLetterLength(q), 2);
      await until(async () => (await b.queueLength(q)) === 1, 10_000, 'the good one waiting');
    });

    test('a message that fails again while the pass runs is dead-lettered again, not requeued a second time', async () => {
      const b = await broker();
      const q = queue();
      await deadLetter(b, q, [1, 2, 3].map((i) => msg(q, [i])));
      // A consumer that fails everything at once: each requeued message is back in the dead-letter queue.
      let failed = 0;
      await b.consume([q], 10, (d) => void b.reject(d, false, 'still failing').then(() => failed++));
      const r = await requeueDeadLetters(b, q, { max: 100 });
      assert.equal(r.requeued, 3, 'each of the three requeued once');
      await until(() => failed === 3, 10_000, 'failed again');
      await until(async () => (await b.deadLetterLength(q)) === 3, 10_000, 'three dead letters again');
    });
  });
}
