/**
 * The fault suite's Redis stall: a worker kill -9ed inside a visibility restore leaves kombu's
 * `unacked_mutex` behind, and while it lives no worker restores anything. With kombu's fixed 300 s
 * the dead worker's unacked messages came back only after 5 minutes, whatever the visibility
 * timeout (4 s in the fault suite). The mutex now lives at most one visibility timeout.
 * On a Redis of the test's own (the mutex and `unacked` are shared by the whole db).
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { UNACKED_INDEX_KEY, UNACKED_KEY, UNACKED_MUTEX_KEY, unackedMutexExpireMs } from '../../runtime/src/brokers/redis/keys.js';
import { buildTaskMessage, encodeEnvelope } from '../../runtime/src/protocol/message.js';
import { ConfigError } from '../../runtime/src/errors.js';
import { ROOT, uniqueQueue } from '../helpers.js';
import { sparePort, startRedis, stopAllRedis, stopRedis } from './redis-server.js';
import { waitUntil } from './redis-helpers.js';

after(() => stopAllRedis());

/** Entries fetched long ago: enough that one restore sweep takes many script calls. */
const BACKLOG = 30_000;

test('a worker killed inside a restore does not stop restores: its messages come back after the visibility timeout', async () => {
  const port = await sparePort();
  const server = await startRedis(port);
  const url = `redis://127.0.0.1:${port}/0?visibility_timeout=1`;
  const raw = new Redis(port, '127.0.0.1');
  const brokers: RedisBroker[] = [];
  try {
    const q = uniqueQueue();
    for (let i = 0; i < BACKLOG; i += 1000) {
      const p = raw.pipeline();
      for (let j = i; j < Math.min(BACKLOG, i + 1000); j++) {
        const m = buildTaskMessage({ name: 'test.restored', queue: q, args: [j] });
        const tag = m.properties.delivery_tag!;
        p.hset(UNACKED_KEY, tag, `[${encodeEnvelope(m)}, "", ${JSON.stringify(q)}]`).zadd(UNACKED_INDEX_KEY, 0, tag);
      }
      await p.exec();
    }

    // A restorer process, killed while it holds the mutex (the SIGKILL lands within its sweep).
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/redis-restorer.ts'), url], { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitUntil(async () => (await raw.exists(UNACKED_MUTEX_KEY)) === 1, 60_000, 'the restorer holding unacked_mutex');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const left = await raw.hlen(UNACKED_KEY);
    const token = await raw.get(UNACKED_MUTEX_KEY);
    // Preconditions: killed mid-sweep, its mutex left behind.
    assert.ok(left > 0, "the restorer finished its sweep before the kill");
    assert.ok(token, 'the restorer released the mutex before the kill');

    // Another worker takes over once the mutex has expired: every entry back on the queue, once.
    const b = new RedisBroker(url);
    brokers.push(b);
    await b.connect();
    await waitUntil(async () => {
      await b.restoreVisible();
      return (await raw.hlen(UNACKED_KEY)) === 0;
    }, 60_000, `the dead restorer's ${left} entries restored (unacked_mutex TTL ${await raw.pttl(UNACKED_MUTEX_KEY)} ms)`);
    assert.equal(await raw.llen(q), BACKLOG);
    assert.equal(await raw.zcard(UNACKED_INDEX_KEY), 0);
    assert.equal(await raw.exists(UNACKED_MUTEX_KEY), 0, 'the mutex is released after the restore');
  } finally {
    for (const b of brokers) await b.close().catch(() => undefined);
    raw.disconnect();
    await stopRedis(server);
  }
});

test('unacked_mutex_expire: kombu 300 s capped at the visibility timeout by default; the transport option or URL sets it', () => {
  const url = 'redis://127.0.0.1:6379/0';
  assert.equal(unackedMutexExpireMs(url, undefined, 3600), 300_000);
  assert.equal(unackedMutexExpireMs(url, undefined, 4), 4000);
  assert.equal(unackedMutexExpireMs(url, undefined, 0.5), 500);
  assert.equal(unackedMutexExpireMs(url, '30', 4), 30_000);
  assert.equal(unackedMutexExpireMs(url, 2, 3600), 2000);
  for (const bad of ['0', -1, 'soon', Number.NaN]) assert.throws(() => unackedMutexExpireMs(url, bad, 4), ConfigError);
  assert.equal(new RedisBroker(`${url}?visibility_timeout=4`).unackedMutexExpireMs, 4000);
  assert.equal(new RedisBroker(`${url}?visibility_timeout=4&unacked_mutex_expire=9`).unackedMutexExpireMs, 9000);
  assert.equal(new RedisBroker(url, { transportOptions: { unacked_mutex_expire: 7 } }).unackedMutexExpireMs, 7000);
  assert.equal(new RedisBroker(url).unackedMutexExpireMs, 300_000);
});
