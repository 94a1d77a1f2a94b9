/**
 * `sprig beat` on Redis (the shared scenarios, beat-scenarios.ts; the other brokers have a file each),
 * `sprig worker --beat` (embedded, RabbitMQ), and the lease primitive itself on memory://, sprig://,
 * redis://, postgres:// and RabbitMQ.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { runCli, tmpDir, waitFor } from '../helpers.js';
import { REDIS_URL } from './redis-helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';
import { PostgresBroker } from '../../runtime/src/brokers/postgres/postgres-broker.js';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { MemoryBroker } from '../../runtime/src/brokers/memory/memory-broker.js';
import { startEmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { leaseKeys } from '../../runtime/src/brokers/redis/redis-lease.js';
import { bindingKey } from '../../runtime/src/brokers/redis/keys.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Broker } from '../../runtime/src/brokers/types.js';
import { App } from '../../runtime/src/app/app.js';
import { beatTaskId } from '../../runtime/src/beat/beat.js';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import { beatQueues } from '../../runtime/src/brokers/amqp/amqp-leases.js';
import { AMQP_PLAIN_URL } from './amqp-helpers.js';

import { BeatProject, beatScenarios, deleteAmqpQueues, sleep } from './beat-scenarios.js';

beatScenarios('redis');


describe('sprig worker --beat', () => {
  it('one process schedules and runs the tasks (development setup)', async () => {
    const p = new BeatProject('embedded');
    try {
      p.writeTasks(`{ tick: { task: tick, every: 1, args: [41] } }`);
      const w = runCli(['worker', '--app', p.tasksFile, '--beat', '-P', 'async', '-c', '2'], { cwd: p.dir, env: p.env });
      p.procs.push(w);
      const sentDue = () => [...w.err().matchAll(/sent beat\.tick \(tick\) due (\S+)/g)].map((x) => x[1]!);
      const due = await waitFor(() => sentDue()[0], 60_000, `a run sent by worker --beat\n${w.err()}`);
      const app = new App({ brokerUrl: 'sprig://', projectDir: p.dir });
      try {
        const r = app.asyncResult<number>(beatTaskId('default', 'tick', Date.parse(due)));
        assert.equal(await r.get({ timeout: 30 }), 41);
      } finally {
        await app.close();
      }
      w.proc.kill('SIGTERM');
      assert.equal(await w.exit, 0, w.err());
      assert.match(w.err(), /beat .*: active/);
    } finally {
      await p.cleanup();
    }
  });
});

describe('sprig worker --beat on RabbitMQ', () => {
  it('one process schedules and runs the tasks', async () => {
    const p = new BeatProject('amqp');
    try {
      p.writeTasks(`{ tick: { task: tick, every: 1, args: [41], options: { queue: '${p.queue}' } } }`);
      // The scheduler's name (its lease and token queues) is this test's own: RabbitMQ is shared.
      fs.writeFileSync(path.join(p.dir, 'sprig.config.ts'), `export default { beat: { name: '${p.name}' } };\n`);
      const w = runCli(['worker', '--app', p.tasksFile, '--beat', '-Q', p.queue, '-P', 'async', '-c', '2', '-l', 'info'], { cwd: p.dir, env: p.env });
      p.procs.push(w);
      const sentDue = () => [...w.err().matchAll(/sent beat\.tick \(tick\) due (\S+)/g)].map((x) => x[1]!);
      const due = await waitFor(() => sentDue()[0], 60_000, `a run sent by worker --beat\n${w.err()}`);
      const id = beatTaskId(p.name, 'tick', Date.parse(due));
      await waitFor(() => w.err().includes(`Task beat.tick[${id}] succeeded`), 30_000, `the run executed by the same process\n${w.err()}`);
      w.proc.kill('SIGTERM');
      assert.equal(await w.exit, 0, w.err());
      assert.match(w.err(), /beat .*: active/);
    } finally {
      await p.cleanup();
    }
  });
});

describe('beat lease primitive', () => {
  const cases: Array<{ kind: string; open: () => Promise<{ broker: Broker; done: () => Promise<void> }> }> = [
    { kind: 'memory', open: async () => ({ broker: new MemoryBroker(`memory://lease-${randomUUID()}`), done: async () => undefined }) },
    {
      kind: 'redis',
      open: async () => ({ broker: new RedisBroker(REDIS_URL), done: async () => undefined }),
    },
    {
      kind: 'postgres',
      open: async () => {
        const schema = testSchema();
        return { broker: new PostgresBroker(pgUrl(schema)), done: () => dropSchema(PG_BASE, schema) };
      },
    },
    {
      kind: 'embedded',
      open: async () => {
        const dir = tmpDir();
        const server = await startEmbeddedServer({ dir });
        return { broker: new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`), done: () => server.close() };
      },
    },
  ];
  for (const c of cases) {
    it(`${c.kind}: one holder; renew; expiry; release; compare-and-set record-and-publish`, async () => {
      const { broker, done } = await c.open();
      await broker.connect();
      const name = `test-${randomUUID()}`;
      const queue = `test-${randomUUID()}`;
      const store = broker.leases!();
      const msg = () => ({ queue, message: buildTaskMessage({ name: 'beat.tick', args: [1], queue }) });
      try {
        assert.equal(await store.acquire(name, 'A', 5000), true);
        assert.equal(await store.acquire(name, 'B', 5000), false);
        assert.equal(await store.acquire(name, 'A', 5000), true, 'renew');
        assert.equal(await store.commit(name, 'B', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'not-holder');
        assert.equal(await store.commit(name, 'A', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'ok');
        // The same commit again (a resend after a lost reply) changes nothing and publishes nothing.
        assert.equal(await store.commit(name, 'A', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'conflict');
        assert.equal(await store.commit(name, 'A', [{ field: 'e', expect: '1', value: '2' }], []), 'ok');
        assert.equal(await broker.queueLength(queue), 1);
        assert.deepEqual(await store.read(name), { holder: 'A', state: { e: '2' } });
        await store.release(name, 'B'); // not B's: nothing happens
        assert.equal((await store.read(name)).holder, 'A');
        await store.release(name, 'A');
        assert.equal(await store.acquire(name, 'B', 300), true);
        await sleep(500);
        assert.equal((await store.read(name)).holder, null, 'expired');
        assert.equal(await store.acquire(name, 'C', 5000), true);
        assert.deepEqual((await store.read(name)).state, { e: '2' }, 'the state outlives the holders');
      } finally {
        await broker.purge(queue).catch(() => undefined);
        if (c.kind === 'redis') {
          const r = new Redis(REDIS_URL);
          await r.del(leaseKeys(name).lease, leaseKeys(name).state, bindingKey(queue));
          r.disconnect();
        }
        await broker.close();
        await done();
      }
    });
  }

  it('amqp: an exclusive queue per holder connection; the state in a token; record-and-publish in one transaction', async () => {
    const name = `test-${randomUUID()}`;
    const queue = `test-${randomUUID()}`;
    const b1 = new AmqpBroker(AMQP_PLAIN_URL);
    const b2 = new AmqpBroker(AMQP_PLAIN_URL);
    await b1.connect();
    await b2.connect();
    const s1 = b1.leases();
    const s2 = b2.leases();
    const msg = () => ({ queue, message: buildTaskMessage({ name: 'beat.tick', args: [1], queue }) });
    try {
      assert.equal(await s1.acquire(name, 'A', 4000), true);
      assert.equal(await s2.acquire(name, 'B', 4000), false, 'RESOURCE_LOCKED: another connection owns the lease queue');
      assert.equal(await s1.acquire(name, 'B', 4000), false, 'not B: A holds it');
      assert.equal(await s1.acquire(name, 'A', 4000), true, 'renew');
      assert.equal(await s2.commit(name, 'B', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'not-holder');
      assert.equal(await s1.commit(name, 'A', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'ok');
      assert.equal(await s1.commit(name, 'A', [{ field: 'e', expect: null, value: '1' }], [msg()]), 'conflict');
      assert.equal(await s1.commit(name, 'A', [{ field: 'e', expect: '1', value: '2' }], []), 'ok');
      assert.equal(await b1.queueLength(queue), 1, 'one message published, by the one ok commit that had one');
      assert.deepEqual(await s1.read(name), { holder: 'A', state: { e: '2' } });
      // Without the lease: the snapshot, and the lease queue says someone holds it.
      assert.deepEqual(await s2.read(name), { holder: 'A', state: { e: '2' } });
      await s1.release(name, 'B');
      assert.equal(await s2.acquire(name, 'B', 4000), false, 'release by another holder does nothing');
      await s1.release(name, 'A');
      assert.equal(await s2.acquire(name, 'B', 4000), true, 'released: the next one takes it');
      assert.deepEqual((await s2.read(name)).state, { e: '2' }, 'the token came back to the next holder');
      // The holder's connections go (what a dead process is to RabbitMQ): the lease is free, the state kept.
      await b2.close();
      assert.equal(await s1.acquire(name, 'C', 4000), true);
      assert.deepEqual(await s1.read(name), { holder: 'C', state: { e: '2' } });
      assert.equal(await s1.commit(name, 'C', [{ field: 'e', expect: '2', value: '3' }], []), 'ok');
    } finally {
      await b2.close().catch(() => undefined);
      await b1.close();
      await deleteAmqpQueues(...Object.values(beatQueues(name)), queue);
    }
  });

  it('embedded: the state is journaled and survives a broker restart', async () => {
    const dir = tmpDir();
    const name = `test-${randomUUID()}`;
    let server = await startEmbeddedServer({ dir });
    let b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
    await b.connect();
    assert.equal(await b.leases!().acquire(name, 'A', 5000), true);
    assert.equal(await b.leases!().commit(name, 'A', [{ field: 'tick', expect: null, value: '{"lastDue":1}' }], []), 'ok');
    await b.close();
    await server.close();
    server = await startEmbeddedServer({ dir });
    b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
    await b.connect();
    assert.deepEqual(await b.leases!().read(name), { holder: null, state: { tick: '{"lastDue":1}' } });
    await b.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
