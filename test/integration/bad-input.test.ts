/**
 * Bad input (issue 4): garbage bytes, a wrong content type, JSON that is not a protocol-v2 body, an
 * unknown task, a message over the size limit, a protocol v1 message — 1,000 of them mixed into
 * 1,000 good tasks, on the embedded broker, Redis and RabbitMQ. Every bad one is dead-lettered with
 * a task-rejected event and a reason; every good one succeeds; the worker keeps going.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { App, Worker, buildTaskMessage, type Broker, type SprigEvent, type TransportMessage } from '../../runtime/src/index.js';
import { FIXTURE_TASKS, stopEmbeddedBroker, tmpDir, uniqueQueue, waitFor } from '../helpers.js';

const LIMIT = 64 * 1024;
const N = Number(process.env.SPRIG_BAD_INPUT_N ?? 1000);
const embeddedDir = tmpDir('sprig-bad-input-');

type Inject = (broker: Broker, queue: string, raw: string) => Promise<void>;
const targets: Array<{ name: string; url: string; injectGarbage: Inject; cleanup(q: string): Promise<void> }> = [
  {
    name: 'embedded',
    url: 'sprig://',
    injectGarbage: (b, q, raw) => (b as unknown as { injectRaw(q: string, r: string): Promise<void> }).injectRaw(q, raw),
    async cleanup() {},
  },
  {
    name: 'redis',
    url: 'redis://127.0.0.1:6379/0',
    injectGarbage: (b, q, raw) => (b as unknown as { injectRaw(q: string, r: string): Promise<void> }).injectRaw(q, raw),
    async cleanup(q) {
      const r = new Redis('redis://127.0.0.1:6379/0');
      const ks = await r.keys(`${q}*`);
      if (ks.length) await r.del(...ks);
      await r.del(`_kombu.binding.${q}`);
      r.disconnect();
    },
  },
  {
    name: 'amqp',
    url: 'amqp://guest:guest@127.0.0.1:5672//',
    // No envelope on AMQP: garbage is a body that decodes as nothing.
    injectGarbage: (b, q, raw) => b.publish(q, { ...buildTaskMessage({ name: 'add', args: [1, 1], queue: q }), body: Buffer.from(raw, 'latin1') }),
    async cleanup(q) {
      const { connect } = await import('amqplib');
      const c = await connect('amqp://guest:guest@127.0.0.1:5672/');
      const ch = await c.createChannel();
      for (const x of [q, `${q}.dead-letter`]) {
        await ch.deleteQueue(x).catch(() => undefined);
        await ch.deleteExchange(x).catch(() => undefined);
      }
      await c.close();
    },
  },
];

after(() => stopEmbeddedBroker(embeddedDir));

function badMessage(kind: number, q: string): TransportMessage | 'garbage' {
  const good = buildTaskMessage({ name: 'add', args: [1, 2], queue: q });
  switch (kind) {
    case 0:
      return 'garbage';
    case 1:
      return { ...good, contentType: 'application/x-python-serialize' };
    case 2:
      return { ...good, body: Buffer.from(JSON.stringify({ not: 'a v2 body' })) };
    case 3:
      return buildTaskMessage({ name: 'no.such.task', args: [], queue: q });
    case 4:
      return buildTaskMessage({ name: 'add', args: ['x'.repeat(LIMIT + 1), 1], queue: q });
    default:
      return { ...good, headers: {}, body: Buffer.from(JSON.stringify({ task: 'add', id: 'v1', args: [1, 2], kwargs: {} })) };
  }
}

for (const t of targets) {
  describe(`bad input on ${t.name}`, () => {
    const q = uniqueQueue();
    after(() => t.cleanup(q));

    test(`${N} bad messages mixed into ${N} good tasks: bad ones dead-lettered with a reason, good ones succeed`, async () => {
      const config = { brokerUrl: t.url, projectDir: embeddedDir, maxMessageBytes: LIMIT };
      const logged: string[] = [];
      const worker = new Worker({ app: FIXTURE_TASKS, logLevel: 'warn', logWrite: (l) => void logged.push(l), config: { ...config, worker: { pool: 'async', concurrency: 20, queues: [q], events: true } } });
      const app = new App({ ...config, defaultQueue: q });
      const broker = await app.broker();
      const rejected: SprigEvent[] = [];
      await broker.subscribeEvents((e) => {
        if (e.type === 'task-rejected') rejected.push(e);
      });
      await worker.start();
      try {
        const good = [];
        for (let i = 0; i < N; i++) {
          const bad = badMessage(i % 6, q);
          if (bad === 'garbage') await t.injectGarbage(broker, q, `\u0000\u00ff garbage #${i} \u00fe`);
          else await broker.publish(q, bad);
          good.push(app.sendTask('add', [i, 1]));
        }
        const values = await Promise.all(good.map((r) => r.get({ timeout: 60 })));
        assert.deepEqual(values, Array.from({ length: N }, (_, i) => i + 1));
        await waitFor(async () => (await broker.deadLetterLength(q)) >= N, 30_000, 'every bad message in the dead-letter queue');
        assert.equal(await broker.deadLetterLength(q), N);
        await waitFor(() => rejected.length >= N, 10_000, 'a task-rejected event for each');
        const reasons = new Set(rejected.map((e) => (e.type === 'task-rejected' ? String(e.reason).replace(/[0-9a-f-]{36}|#\d+/g, '').slice(0, 60) : '')));
        assert.ok(reasons.size >= 5, `distinct reasons: ${[...reasons].join(' | ')}`);
        assert.equal(worker.stats.rejected, N);
        assert.equal(logged.filter((l) => /WARN\/worker\] Rejected message .* from queue /.test(l)).length, N, 'one log line with the reason for each');
        console.log(`# ${t.name}: good=${values.length} dead-lettered=${await broker.deadLetterLength(q)} reasons: ${[...reasons].join(' | ')}`);
      } finally {
        await worker.stop();
        await app.close();
      }
    });
  });
}
