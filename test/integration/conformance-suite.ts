/**
 * ONE broker conformance suite (kombu runs one against every transport): what every Broker
 * must do the same way, whatever it is built on. broker-conformance.test.ts runs it for each.
 */
import { afterEach, after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildTaskMessage, parseTaskMessage, type BuildTaskOptions } from '../../runtime/src/protocol/message.js';
import { deadLetterQueueName, readDeadLetter } from '../../runtime/src/brokers/dead-letter.js';
import type { Broker, Delivery } from '../../runtime/src/brokers/types.js';
import type { BrokerOptions } from '../../runtime/src/brokers/registry.js';
import { queueAdminConformance } from './queue-admin-suite.js';

export interface BrokerTarget {
  name: string;
  /** A new, connected broker (several may be open at once: they must share queues). */
  create(opts?: BrokerOptions): Promise<Broker>;
  /** Remove every trace of these queues (and their dead-letter queues). Brokers are closed by then. */
  cleanup(queues: readonly string[]): Promise<void>;
  teardown?(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function taskMessage(queue: string, o: Partial<BuildTaskOptions> = {}) {
  return buildTaskMessage({ name: 'conformance.echo', args: [1], queue, ...o });
}

const idOf = (d: Delivery) => d.message?.headers.id as string;
const bytes = (raw: string | Buffer | undefined) => (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw ?? Buffer.alloc(0)));
const argsOf = (d: Delivery) => parseTaskMessage(d.message!).args;

export function brokerConformance(target: BrokerTarget): void {
  describe(`broker conformance: ${target.name}`, () => {
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
    /** Consume into an array; returns it with the consumer. */
    const collect = async (b: Broker, qs: string[], prefetch: number) => {
      const got: Delivery[] = [];
      const consumer = await b.consume(qs, prefetch, (d) => got.push(d));
      return { got, consumer };
    };

    afterEach(async () => {
      for (const b of brokers.splice(0)) await b.close().catch(() => undefined);
      const qs = queues.splice(0);
      if (qs.length) await target.cleanup(qs);
    });
    after(async () => {
      await target.teardown?.();
    });

    // A broker that is down fails its tests (CI starts the services); nothing is skipped.
    const it = (name: string, fn: (t: TestContext) => Promise<void>) => test(name, (t) => fn(t));

    it('publish, consume, ack: gone for good', async () => {
      const b = await broker();
      const q = queue();
      const sent = [1, 2, 3].map((i) => taskMessage(q, { args: [i] }));
      await b.publishBatch(sent.map((message) => ({ queue: q, message })));
      assert.equal(await b.queueLength(q), 3);
      const { got, consumer } = await collect(b, [q], 10);
      await until(() => got.length === 3, 5000, '3 deliveries');
      assert.deepEqual(got.map(idOf), sent.map((m) => m.headers.id));
      assert.deepEqual(got.map((d) => argsOf(d)[0]), [1, 2, 3]);
      for (const d of got) {
        assert.equal(d.queue, q);
        assert.equal(d.redelivered, false);
        assert.equal(d.error, undefined);
        assert.equal(d.message!.contentType, 'application/json');
        b.ack(d);
      }
      await b.flush();
      await consumer.cancel();
      await b.close();
      const b2 = await broker();
      const again = await collect(b2, [q], 10);
      await sleep(300);
      assert.equal(again.got.length, 0, 'acked messages are not delivered again');
      assert.equal(await b2.queueLength(q), 0);
    });

    it('reject with requeue: delivered again with redelivered=true', async () => {
      const b = await broker();
      const q = queue();
      const m = taskMessage(q);
      await b.publish(q, m);
      const { got } = await collect(b, [q], 1);
      await until(() => got.length === 1);
      assert.equal(got[0]!.redelivered, false);
      await b.reject(got[0]!, true, 'try again');
      await until(() => got.length === 2, 5000, 'redelivery');
      assert.equal(idOf(got[1]!), m.headers.id);
      assert.equal(got[1]!.redelivered, true);
      b.ack(got[1]!);
      await b.flush();
      assert.equal(await b.deadLetterLength(q), 0);
    });

    it('reject without requeue: the dead-letter queue grows by one', async () => {
      const b = await broker();
      const q = queue();
      await b.publish(q, taskMessage(q));
      const before = await b.deadLetterLength(q);
      const { got } = await collect(b, [q], 1);
      await until(() => got.length === 1);
      await b.reject(got[0]!, false, 'conformance: bad input');
      await until(async () => (await b.deadLetterLength(q)) === before + 1, 5000, 'dead-letter +1');
      await sleep(200);
      assert.equal(got.length, 1, 'not redelivered');
      assert.equal(await b.queueLength(q), 0);
    });

    it('dead letter: one entry shape (reason, queue, time, the message as received)', async () => {
      const b = await broker();
      const q = queue();
      await b.publish(q, taskMessage(q));
      const { got } = await collect(b, [q], 1);
      await until(() => got.length === 1);
      const t0 = Date.now() / 1000;
      await b.reject(got[0]!, false, 'conformance: shape');
      const dead = await collect(b, [deadLetterQueueName(q)], 1);
      await until(() => dead.got.length === 1, 5000, 'the dead letter');
      const entry = readDeadLetter(dead.got[0]!);
      assert.ok(entry, 'the dead letter reads as an entry');
      assert.equal(entry.reason, 'conformance: shape');
      assert.equal(entry.queue, q);
      assert.ok(entry.time >= t0 - 1 && entry.time <= Date.now() / 1000 + 1, `time ${entry.time} is the time of the reject`);
      assert.ok(bytes(entry.raw).equals(bytes(got[0]!.raw)), 'the bytes the consumer received');
      b.ack(dead.got[0]!);
      await b.flush();
    });

    it('dead letters are capped: the head of a big message with its full size; at most maxLength entries, the newest', async () => {
      const b = await broker({ deadLetter: { maxBytes: 1024, maxLength: 3 } });
      const q = queue();
      await b.publish(q, taskMessage(q, { args: ['x'.repeat(50_000)] }));
      const big = await collect(b, [q], 1);
      await until(() => big.got.length === 1);
      const original = bytes(big.got[0]!.raw);
      assert.ok(original.length > 50_000);
      await b.reject(big.got[0]!, false, 'conformance: too big');
      await big.consumer.cancel();
      const dead = await collect(b, [deadLetterQueueName(q)], 1);
      await until(() => dead.got.length === 1, 5000, 'the dead letter');
      const entry = readDeadLetter(dead.got[0]!);
      assert.ok(entry, 'the dead letter reads as an entry');
      assert.equal(entry.reason, 'conformance: too big');
      assert.equal(entry.size, original.length, 'the full size is recorded');
      assert.equal(entry.truncated, true);
      assert.ok(bytes(entry.raw).equals(original.subarray(0, 1024)), 'the first maxBytes bytes are kept');
      assert.ok(bytes(dead.got[0]!.raw).length < 8 * 1024, `the stored entry is small (${bytes(dead.got[0]!.raw).length} bytes)`);
      b.ack(dead.got[0]!);
      await b.flush();
      await dead.consumer.cancel();

      const small = Array.from({ length: 5 }, (_, i) => taskMessage(q, { args: [i] }));
      await b.publishBatch(small.map((message) => ({ queue: q, message })));
      const { got, consumer } = await collect(b, [q], 10);
      await until(() => got.length === 5, 5000, '5 deliveries');
      for (const d of got) await b.reject(d, false, 'conformance: capped');
      await consumer.cancel();
      await until(async () => (await b.deadLetterLength(q)) === 3, 5000, '3 dead letters');
      await sleep(200);
      assert.equal(await b.deadLetterLength(q), 3, 'no more than maxLength');
      const kept = await collect(b, [deadLetterQueueName(q)], 10);
      await until(() => kept.got.length === 3, 5000, 'the 3 dead letters');
      const ids = kept.got.map((d) => {
        const e = readDeadLetter(d)!;
        assert.equal(e.truncated, false);
        // AMQP keeps the message itself (its id in the headers); list brokers keep the envelope as text.
        const id = d.message?.headers.id;
        const text = bytes(e.raw).toString('utf8');
        return small.findIndex((m) => (typeof id === 'string' ? id === m.headers.id : text.includes(m.headers.id as string)));
      });
      assert.deepEqual([...ids].sort(), [2, 3, 4], 'the newest three are kept');
      for (const d of kept.got) b.ack(d);
      await b.flush();
    });

    it('prefetch: never more than N unacked; setPrefetch grows it', async () => {
      const b = await broker();
      const q = queue();
      await b.publishBatch(Array.from({ length: 12 }, (_, i) => ({ queue: q, message: taskMessage(q, { args: [i] }) })));
      let held = 0;
      let maxHeld = 0;
      const got: Delivery[] = [];
      const consumer = await b.consume([q], 3, (d) => {
        got.push(d);
        maxHeld = Math.max(maxHeld, ++held);
      });
      await until(() => got.length === 3);
      await sleep(300);
      assert.equal(got.length, 3, 'prefetch 3 holds 3');
      held--;
      b.ack(got[0]!);
      await until(() => got.length === 4, 5000, 'one more after an ack');
      await sleep(200);
      assert.equal(maxHeld, 3);
      consumer.setPrefetch(6);
      await until(() => got.length === 7, 5000, 'prefetch raised to 6');
      await sleep(200);
      assert.equal(got.length, 7);
      assert.equal(maxHeld, 6);
      for (const d of got.slice(1)) b.ack(d);
      await b.flush();
    });

    it('priorities: delivered in the order the broker declares', async () => {
      const b = await broker();
      assert.notEqual(b.capabilities.priorities, 'none', 'every Sprig broker supports priorities');
      const q = queue();
      // Worst first, so FIFO order would be the wrong answer.
      const order = b.capabilities.priorities === 'higher-first' ? [0, 5, 9] : [9, 5, 0];
      for (const p of order) await b.publish(q, taskMessage(q, { priority: p, args: [p] }));
      const got: Delivery[] = [];
      await b.consume([q], 1, (d) => {
        got.push(d);
        b.ack(d);
      });
      await until(() => got.length === 3);
      assert.deepEqual(got.map((d) => argsOf(d)[0]), [...order].reverse());
    });

    it('purge: returns the count and empties the queue', async () => {
      const b = await broker();
      const q = queue();
      await b.publishBatch(Array.from({ length: 5 }, () => ({ queue: q, message: taskMessage(q) })));
      assert.equal(await b.purge(q), 5);
      assert.equal(await b.queueLength(q), 0);
      assert.equal(await b.purge(q), 0);
      assert.equal(await b.purge(`test-never-${randomUUID()}`), 0, 'purging an unknown queue is 0');
    });

    it('a 1 MB message arrives intact', async () => {
      const b = await broker();
      const q = queue();
      const big = 'x'.repeat(1024 * 1024 - 7) + 'tail😀';
      await b.publish(q, taskMessage(q, { args: [big] }));
      const { got } = await collect(b, [q], 1);
      await until(() => got.length === 1, 10_000);
      assert.equal(argsOf(got[0]!)[0], big);
      b.ack(got[0]!);
    });

    it('unicode (emoji, CJK, RTL) in args and kwargs', async () => {
      const b = await broker();
      const q = queue();
      const args = ['😀🎉👩‍💻', '漢字テスト한국어', 'Ünïcødé', 'مرحبا', '\u0000nul'];
      const kwargs = { 'ключ': 'значение', '名前': '🌸' };
      await b.publish(q, taskMessage(q, { args, kwargs }));
      const { got } = await collect(b, [q], 1);
      await until(() => got.length === 1);
      const req = parseTaskMessage(got[0]!.message!);
      assert.deepEqual(req.args, args);
      assert.deepEqual(req.kwargs, kwargs);
      b.ack(got[0]!);
    });

    it('many queues (20) on one consumer', async () => {
      const b = await broker();
      const qs = Array.from({ length: 20 }, () => queue());
      const { got } = await collect(b, qs, 50);
      await b.publishBatch(qs.map((q, i) => ({ queue: q, message: taskMessage(q, { args: [i] }) })));
      await until(() => got.length === 20, 10_000, '20 deliveries');
      const byQueue = new Map(got.map((d) => [d.queue, argsOf(d)[0]]));
      assert.deepEqual(qs.map((q) => byQueue.get(q)), qs.map((_, i) => i));
      for (const d of got) b.ack(d);
    });

    it('two consumers on one queue: no message goes to both', async () => {
      const [b1, b2] = [await broker(), await broker()];
      const q = queue();
      const seen: string[] = [];
      const onBoth = (b: Broker) => (d: Delivery) => {
        seen.push(idOf(d));
        setTimeout(() => b.ack(d), Math.random() * 5);
      };
      await b1.consume([q], 5, onBoth(b1));
      await b2.consume([q], 5, onBoth(b2));
      const n = 100;
      await b1.publishBatch(Array.from({ length: n }, (_, i) => ({ queue: q, message: taskMessage(q, { args: [i] }) })));
      await until(() => seen.length >= n, 10_000, `${n} deliveries`);
      await sleep(300);
      assert.equal(seen.length, n);
      assert.equal(new Set(seen).size, n);
    });

    it('fair dispatch: two consumers that ack at once share a backlog', async () => {
      const [b1, b2] = [await broker(), await broker()];
      const q = queue();
      const counts = [0, 0];
      const acking = (b: Broker, i: number) => (d: Delivery) => {
        counts[i]!++;
        b.ack(d);
      };
      await b1.consume([q], 2, acking(b1, 0));
      await b2.consume([q], 2, acking(b2, 1));
      await sleep(200); // both consumers waiting before the backlog lands
      const n = 100;
      await b1.publishBatch(Array.from({ length: n }, (_, i) => ({ queue: q, message: taskMessage(q, { args: [i] }) })));
      await until(() => counts[0]! + counts[1]! >= n, 10_000, `${n} deliveries`);
      assert.ok(Math.min(...counts) >= n / 4, `each consumer gets a fair share: ${counts.join(' / ')}`);
    });

    it('queueLength counts ready messages (not those held unacked)', async () => {
      const b = await broker();
      const q = queue();
      assert.equal(await b.queueLength(q), 0);
      await b.publishBatch(Array.from({ length: 7 }, () => ({ queue: q, message: taskMessage(q) })));
      assert.equal(await b.queueLength(q), 7);
      const { got } = await collect(b, [q], 2);
      await until(() => got.length === 2);
      await until(async () => (await b.queueLength(q)) === 5, 3000, 'length 5');
      for (const d of got) b.ack(d);
    });
  });
  queueAdminConformance(target);
}
