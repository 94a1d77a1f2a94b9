/**
 * The broker conformance suite (conformance-suite.ts) against every transport:
 * memory, embedded (sprig:// autostarted in a temp project), Redis and RabbitMQ.
 *   node --import tsx --test --test-concurrency=1 test/integration/broker-conformance.test.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createBroker, type BrokerOptions } from '../../runtime/src/brokers/registry.js';
import { deadLetterQueueName, type Broker } from '../../runtime/src/brokers/types.js';
import { brokerConformance } from './conformance-suite.js';
import { stopEmbeddedBroker } from '../helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';

const REDIS_URL = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
// Priorities are part of the contract under test: turn RabbitMQ queue priorities on.
const AMQP_URL = `${process.env.SPRIG_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//'}?queue_max_priority=10`;

/** Purge a queue and its dead-letter queue through a short-lived broker. */
async function purgeWith(make: () => Promise<Broker>, queues: readonly string[]): Promise<void> {
  const b = await make();
  try {
    for (const q of queues) {
      await b.purge(q);
      await b.purge(deadLetterQueueName(q));
    }
  } finally {
    await b.close();
  }
}

// ---- memory -------------------------------------------------------------------------------------
const memoryUrl = `memory://${randomUUID()}`;
const memory = async (opts: BrokerOptions = {}) => {
  const b = await createBroker(memoryUrl, opts);
  await b.connect();
  return b;
};
brokerConformance({ name: 'memory', create: memory, cleanup: (qs) => purgeWith(() => memory(), qs) });

// ---- embedded -----------------------------------------------------------------------------------
const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-conformance-'));
const embedded = async (opts: BrokerOptions = {}) => {
  const b = await createBroker('sprig://', { ...opts, projectDir });
  await b.connect();
  return b;
};
brokerConformance({
  name: 'embedded',
  create: embedded,
  cleanup: (qs) => purgeWith(() => embedded(), qs),
  teardown: async () => {
    stopEmbeddedBroker(projectDir);
    fs.rmSync(projectDir, { recursive: true, force: true });
  },
});

// ---- redis --------------------------------------------------------------------------------------
const redis = async (opts: BrokerOptions = {}) => {
  const b = await createBroker(REDIS_URL, opts);
  await b.connect();
  return b;
};
brokerConformance({
  name: 'redis',
  create: redis,
  cleanup: async (qs) => {
    const { queueKeys, bindingKey } = await import('../../runtime/src/brokers/redis/keys.js');
    const raw = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      const keys = qs.flatMap((q) => [...queueKeys(q), deadLetterQueueName(q), bindingKey(q)]);
      await raw.del(...keys);
    } finally {
      raw.disconnect();
    }
  },
});

// ---- amqp ---------------------------------------------------------------------------------------
const amqp = async (opts: BrokerOptions = {}) => {
  const b = await createBroker(AMQP_URL, opts);
  await b.connect();
  return b;
};
brokerConformance({
  name: 'amqp',
  create: amqp,
  cleanup: async (qs) => {
    const { AmqpBroker } = await import('../../runtime/src/brokers/amqp/amqp-broker.js');
    const b = new AmqpBroker(AMQP_URL);
    await b.connect();
    try {
      for (const q of qs) await b.deleteQueue(q);
    } finally {
      await b.close();
    }
  },
});

// ---- postgres -----------------------------------------------------------------------------------
// Its own schema test_<uuid>, created by the migrations on first connect and dropped after.
const pgSchema = testSchema();
const postgres = async (opts: BrokerOptions = {}) => {
  const b = await createBroker(pgUrl(pgSchema), opts);
  await b.connect();
  return b;
};
brokerConformance({
  name: 'postgres',
  create: postgres,
  cleanup: async (qs) => {
    const b = (await postgres()) as import('../../runtime/src/brokers/postgres/postgres-broker.js').PostgresBroker;
    try {
      await b.deleteQueues(qs);
    } finally {
      await b.close();
    }
  },
  teardown: () => dropSchema(PG_BASE, pgSchema),
});
