/**
 * Every serializer x compressor end to end through a real worker, on Redis and on the embedded
 * broker; a worker that accepts only signed content dead-letters unsigned and tampered messages.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { App, Worker, type SprigEvent, type Broker } from '../../runtime/src/index.js';
import { compressors } from '../../runtime/src/compression/registry.js';
import { configureSigning } from '../../runtime/src/serialization/signed.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { FIXTURE_TASKS, tmpDir, uniqueQueue, waitFor } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signing = {
  key: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
  certId: 'test-key',
  trusted: { 'test-key': String(publicKey.export({ type: 'spki', format: 'pem' })) },
};
const SERIALIZERS = ['json', 'msgpack', 'yaml', 'signed'];
const COMPRESSIONS = [undefined, ...compressors.names().filter((n) => n !== 'x-zlib')];

interface Env {
  url: string;
  projectDir?: string;
  queue: () => string;
}

function suite(name: string, setup: () => Promise<Env>, teardown: () => Promise<void>) {
  describe(name, () => {
    let env: Env;
    let worker: Worker;
    let strict: Worker;
    let app: App;
    let q: string;
    let strictQ: string;
    const events: SprigEvent[] = [];
    let unsubscribe: (() => Promise<void>) | undefined;

    before(async () => {
      env = await setup();
      q = env.queue();
      strictQ = env.queue();
      worker = new Worker({
        app: FIXTURE_TASKS,
        logLevel: 'error',
        config: { brokerUrl: env.url, projectDir: env.projectDir, accept: ['json', 'msgpack', 'yaml', 'signed'], signing, worker: { pool: 'async', queues: [q], events: true } },
      });
      await worker.start();
      strict = new Worker({
        app: FIXTURE_TASKS,
        logLevel: 'error',
        config: { brokerUrl: env.url, projectDir: env.projectDir, accept: ['signed'], signing: { trusted: signing.trusted }, worker: { pool: 'async', queues: [strictQ], events: true } },
      });
      await strict.start();
      // The client signs with the same process-wide key.
      configureSigning(signing);
      app = new App({ brokerUrl: env.url, projectDir: env.projectDir, defaultQueue: q });
      unsubscribe = await (await app.broker()).subscribeEvents((e) => events.push(e));
    });

    after(async () => {
      await unsubscribe?.();
      await worker?.stop();
      await strict?.stop();
      await app?.close();
      configureSigning(undefined);
      await teardown();
    });

    for (const ser of SERIALIZERS) {
      it(`${ser}: every compression through the worker`, async () => {
        for (const compression of COMPRESSIONS) {
          const big = 'z'.repeat(2000);
          const r = app.sendTask('echo', [1, 'two', 2 ** 40, big, { k: [true, null] }], {}, { serializer: ser, compression });
          assert.deepEqual(await r.get({ timeout: 30 }), [1, 'two', 2 ** 40, big, { k: [true, null] }], `${ser} x ${compression}`);
        }
      });
    }

    it('a worker that accepts only signed runs signed tasks', async () => {
      const r = app.sendTask('add', [20, 22], {}, { queue: strictQ, serializer: 'signed', compression: 'bzip2' });
      assert.equal(await r.get({ timeout: 30 }), 42);
    });

    it('... and dead-letters unsigned, tampered and unknown-key messages with a reason', async () => {
      const broker: Broker = await app.broker();
      const before = await broker.deadLetterLength(strictQ);
      const unsigned = buildTaskMessage({ name: 'add', args: [1, 1], queue: strictQ });
      const tampered = buildTaskMessage({ name: 'add', args: [1, 1], queue: strictQ, serializer: 'signed' });
      tampered.headers.task = 'boom';
      configureSigning({ key: String(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })), certId: 'stranger' });
      const stranger = buildTaskMessage({ name: 'add', args: [1, 1], queue: strictQ, serializer: 'signed' });
      configureSigning(signing);
      for (const m of [unsigned, tampered, stranger]) await broker.publish(strictQ, m);
      const reasons = await waitFor(() => {
        const rej = events.filter((e) => e.type === 'task-rejected' && [unsigned, tampered, stranger].some((m) => m.headers.id === e.uuid));
        return rej.length === 3 ? rej.map((e) => (e as { reason?: string }).reason ?? '') : null;
      }, 10_000, 'three task-rejected events');
      assert.ok(reasons.some((r) => /ContentDisallowedError/.test(r)), reasons.join('\n'));
      assert.ok(reasons.some((r) => /SignatureError.*signature check failed/.test(r)), reasons.join('\n'));
      assert.ok(reasons.some((r) => /SignatureError.*"stranger" is not trusted/.test(r)), reasons.join('\n'));
      await waitFor(async () => (await broker.deadLetterLength(strictQ)) >= before + 3, 5000, 'dead letters');
      assert.equal(strict.stats.rejected >= 3, true);
    });
  });
}

let fx: RedisFixture;
suite(
  'redis',
  async () => {
    fx = new RedisFixture();
    return { url: REDIS_URL, queue: () => fx.queue() };
  },
  async () => {
    await fx.cleanup();
  },
);

let server: EmbeddedServer;
let dir: string;
suite(
  'embedded (sprig://)',
  async () => {
    dir = tmpDir();
    server = await startEmbeddedServer({ dir });
    return { url: 'sprig://', projectDir: dir, queue: uniqueQueue };
  },
  async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  },
);
