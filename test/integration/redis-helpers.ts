/** Shared by the redis-*.test.ts files: unique queues, and cleanup of exactly what a test made. */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { queueKeys, bindingKey, UNACKED_INDEX_KEY, UNACKED_KEY } from '../../runtime/src/brokers/redis/keys.js';
import { deadLetterQueueName, type Delivery } from '../../runtime/src/brokers/types.js';
import type { BrokerOptions } from '../../runtime/src/brokers/registry.js';

export const REDIS_URL = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
/**
 * Tests with a 1 s visibility timeout restore ANY message held > 1 s in the db's shared
 * `unacked` hash (that is kombu's design), so they run in their own db, away from other suites.
 */
export const RESTORE_DB_URL = process.env.SPRIG_TEST_REDIS_RESTORE_URL ?? 'redis://127.0.0.1:6379/13';
export const WIRE = path.resolve(__dirname, '../fixtures/celery-wire');
export const wire = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(WIRE, f), 'utf8'));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** One test's world: brokers, a raw client, queues and tags to clean up afterwards. */
export class RedisFixture {
  readonly raw: Redis;
  readonly brokers: RedisBroker[] = [];
  readonly queues: string[] = [];
  readonly tags = new Set<string>();
  readonly keys = new Set<string>();

  constructor(readonly url = REDIS_URL) {
    this.raw = new Redis(url);
  }

  queue(): string {
    const q = `test-${randomUUID()}`;
    this.queues.push(q);
    return q;
  }

  async broker(opts: BrokerOptions = {}): Promise<RedisBroker> {
    const b = new RedisBroker(this.url, opts);
    await b.connect();
    this.brokers.push(b);
    return b;
  }

  /** Record deliveries so their tags are removed from the shared unacked keys at cleanup. */
  collect(into: Delivery[]): (d: Delivery) => void {
    return (d) => {
      this.tags.add(d.tag);
      into.push(d);
    };
  }

  async cleanup(): Promise<void> {
    for (const b of this.brokers) await b.close().catch(() => undefined);
    const keys = [...this.keys];
    for (const q of this.queues) keys.push(...queueKeys(q), deadLetterQueueName(q), bindingKey(q));
    if (keys.length) await this.raw.del(...keys);
    if (this.tags.size) {
      await this.raw.hdel(UNACKED_KEY, ...this.tags);
      await this.raw.zrem(UNACKED_INDEX_KEY, ...this.tags);
    }
    this.raw.disconnect();
  }
}
