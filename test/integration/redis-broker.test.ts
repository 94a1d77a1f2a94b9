import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { buildTaskMessage, decodeBody } from '../../runtime/src/protocol/message.js';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { DELAYED_KEY, PRIORITY_SEP, UNACKED_INDEX_KEY, UNACKED_KEY } from '../../runtime/src/brokers/redis/keys.js';
import { parseIso } from '../../runtime/src/protocol/time.js';
import { deadLetterQueueName, type Delivery } from '../../runtime/src/brokers/types.js';
import { ConnectionError } from '../../runtime/src/errors.js';
import { REDIS_URL, RESTORE_DB_URL, RedisFixture, sleep, waitUntil, wire } from './redis-helpers.js';

// Child mode for the crash test: fetch one message, report its tag, die without acking.
if (process.env.SPRIG_REDIS_CRASH_QUEUE) {
  const queue = process.env.SPRIG_REDIS_CRASH_QUEUE;
  const b = new RedisBroker(RESTORE_DB_URL);
  void b.connect().then(() =>
    b.consume([queue], 1, (d) => {
      process.stdout.write(`${d.tag}\n`, () => process.kill(process.pid, 'SIGKILL'));
    }),
  );
} else {
  suite();
}

function msg(queue: string, extra: Parameters<typeof buildTaskMessage>[0] extends infer O ? Partial<O> : never = {}) {
  return buildTaskMessage({ name: 'app.add', args: [2, 3], queue, ...extra });
}

function suite(): void {
  let fx: RedisFixture | undefined;
  const fixture = (url?: string): RedisFixture => (fx = new RedisFixture(url));
  afterEach(async () => {
    const f = fx;
    fx = undefined;
    await f?.cleanup();
  });

  test('publish: the list holds a kombu envelope shaped like Celery’s, plus the binding', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    await b.publish(q, msg(q, { priority: 0 }));
    const [raw] = await f.raw.lrange(q, 0, -1);
    const env = JSON.parse(raw!) as Record<string, Record<string, unknown>>;
    const celery = (wire('redis-message.json') as { celery_list_decoded: Array<Record<string, Record<string, unknown>>> })
      .celery_list_decoded[0]!;
    const top = (o: object) => Object.keys(o).filter((k) => k !== 'list_key' && k !== 'body_decoded');
    assert.deepEqual(top(env), top(celery));
    assert.deepEqual(Object.keys(env.headers!), Object.keys(celery.headers!));
    assert.deepEqual(
      Object.keys(env.properties!).filter((k) => k !== 'expiration'),
      Object.keys(celery.properties!).filter((k) => k !== 'expiration'),
    );
    assert.equal(env.properties!.body_encoding, 'base64');
    assert.deepEqual(await f.raw.smembers(`_kombu.binding.${q}`), [`${q}${PRIORITY_SEP}${PRIORITY_SEP}${q}`]);
  });

  test('a raw Celery 5.2 message is consumed, decoded and recorded in unacked exactly as kombu does', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    const tag = randomUUID(); // fresh tag so parallel runs never share an unacked entry
    const celeryRaw = (wire('redis-message.json') as { celery_list_raw: Array<{ raw: string }> }).celery_list_raw[0]!.raw;
    const raw = celeryRaw.replace('24c98eca-a0a1-48ff-9adb-304b32bf0209', tag).replace('"routing_key": "celery"', `"routing_key": "${q}"`);
    await f.raw.lpush(q, raw);
    const got: Delivery[] = [];
    await b.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    const d = got[0]!;
    assert.equal(d.tag, tag);
    assert.equal(d.queue, q);
    assert.equal(d.redelivered, false);
    assert.equal(d.message?.headers.task, 'app.add');
    assert.equal(d.message?.headers.id, 'wire-redis-0001');
    assert.deepEqual((decodeBody(d.message!) as unknown[]).slice(0, 2), [[2, 3], {}]);
    assert.equal(await f.raw.hget(UNACKED_KEY, tag), `[${raw}, "", "${q}"]`);
    const score = Number(await f.raw.zscore(UNACKED_INDEX_KEY, tag));
    assert.ok(Math.abs(score - Date.now() / 1000) < 5, `unacked_index score ${score} is a time in seconds`);
    b.ack(d);
    await b.flush();
    assert.equal(await f.raw.hexists(UNACKED_KEY, tag), 0);
    assert.equal(await f.raw.zscore(UNACKED_INDEX_KEY, tag), null);
  });

  test('priorities: kombu lists per step, consumed step by step then queue by queue', async () => {
    const f = fixture();
    const b = await f.broker();
    const [q1, q2] = [f.queue(), f.queue()];
    const plan: Array<[string, number]> = [
      [q1, 9], [q2, 5], [q1, 0], [q2, 0], [q1, 4], [q2, 7], [q1, 2], [q2, 10],
    ];
    for (const [q, p] of plan) await b.publish(q, msg(q, { priority: p, id: `${q.slice(-4)}-${p}` }));
    assert.equal(await f.raw.llen(q1), 2); // 0 and 2
    assert.equal(await f.raw.llen(`${q2}${PRIORITY_SEP}3`), 1); // 5
    assert.equal(await f.raw.llen(`${q1}${PRIORITY_SEP}3`), 1); // 4
    assert.equal(await f.raw.llen(`${q2}${PRIORITY_SEP}6`), 1); // 7
    assert.equal(await f.raw.llen(`${q1}${PRIORITY_SEP}9`), 1); // 9
    assert.equal(await f.raw.llen(`${q2}${PRIORITY_SEP}9`), 1); // 10 (clamped)
    assert.equal(await b.queueLength(q1), 4);
    const got: Delivery[] = [];
    await b.consume([q1, q2], 100, f.collect(got));
    await waitUntil(() => got.length === plan.length);
    const order = got.map((d) => `${d.queue === q1 ? 'q1' : 'q2'}:${d.message!.properties.priority}`);
    assert.deepEqual(order, ['q1:0', 'q1:2', 'q2:0', 'q1:4', 'q2:5', 'q2:7', 'q1:9', 'q2:10']);
  });

  test('FIFO within a list, and prefetch is respected', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    await b.publishBatch(Array.from({ length: 10 }, (_, i) => ({ queue: q, message: msg(q, { id: `m${i}` }) })));
    const got: Delivery[] = [];
    const c = await b.consume([q], 3, f.collect(got));
    await waitUntil(() => got.length === 3);
    await sleep(100);
    assert.equal(got.length, 3);
    assert.deepEqual(got.map((d) => d.message!.headers.id), ['m0', 'm1', 'm2']);
    assert.equal(await b.queueLength(q), 7);
    b.ack(got[0]!);
    await waitUntil(() => got.length === 4);
    await sleep(50);
    assert.equal(got.length, 4);
    c.setPrefetch(10);
    await waitUntil(() => got.length === 10);
    for (const d of got.slice(1)) b.ack(d);
    await b.flush();
    assert.equal(await b.queueLength(q), 0);
  });

  test('reject(requeue) puts it back at the front, redelivered; reject() dead-letters it', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    await b.publish(q, msg(q, { id: 'first' }));
    await b.publish(q, msg(q, { id: 'second' }));
    const got: Delivery[] = [];
    await b.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    await b.reject(got[0]!, true);
    await waitUntil(() => got.length === 2);
    assert.equal(got[1]!.message!.headers.id, 'first');
    assert.equal(got[1]!.tag, got[0]!.tag);
    assert.equal(got[1]!.redelivered, true);
    await b.reject(got[1]!, false, 'boom');
    assert.equal(await b.deadLetterLength(q), 1);
    assert.equal(await f.raw.hexists(UNACKED_KEY, got[1]!.tag), 0);
    const entry = JSON.parse((await f.raw.lindex(deadLetterQueueName(q), 0))!) as Record<string, unknown>;
    assert.equal(entry.reason, 'boom');
    assert.equal(entry.queue, q);
    assert.equal(typeof entry.time, 'number');
    assert.equal(JSON.parse(entry.raw as string).headers.id, 'first');
    await waitUntil(() => got.length === 3);
    assert.equal(got[2]!.message!.headers.id, 'second');
    b.ack(got[2]!);
  });

  test('garbage is still delivered (with error and a generated tag) and can be dead-lettered', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    await b.injectRaw(q, 'this is not json');
    const got: Delivery[] = [];
    await b.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    assert.ok(got[0]!.error);
    assert.equal(got[0]!.raw, 'this is not json');
    assert.match(got[0]!.tag, /^sprig-gen-\d+$/);
    assert.equal(await f.raw.hget(UNACKED_KEY, got[0]!.tag), `["this is not json", "", "${q}"]`);
    await b.reject(got[0]!, false, 'undecodable');
    assert.equal(await b.deadLetterLength(q), 1);
  });

  test('visibility timeout: an unacked message goes to another consumer, marked redelivered', async () => {
    const f = fixture(RESTORE_DB_URL);
    const holder = await f.broker();
    const rescuer = await f.broker({ visibilityTimeout: 1 });
    const q = f.queue();
    await holder.publish(q, msg(q));
    const held: Delivery[] = [];
    await holder.consume([q], 1, f.collect(held));
    await waitUntil(() => held.length === 1);
    assert.equal(await rescuer.restoreVisible(), 0, 'not restored before the timeout');
    await sleep(1100);
    await waitUntil(async () => (await rescuer.restoreVisible()) >= 1 || (await f.raw.llen(q)) === 1, 3000, 'restore');
    const raw = (await f.raw.lindex(q, -1))!;
    assert.match(raw, /"delivery_info":\{"redelivered": true, "exchange"/);
    const got: Delivery[] = [];
    await rescuer.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    assert.equal(got[0]!.tag, held[0]!.tag);
    assert.equal(got[0]!.redelivered, true);
    rescuer.ack(got[0]!);
  });

  test('ETA held past the visibility timeout with touch() is not restored (kombu#337)', async () => {
    const f = fixture(RESTORE_DB_URL);
    const holder = await f.broker();
    const restorer = await f.broker({ visibilityTimeout: 1 });
    const q = f.queue();
    await holder.publish(q, msg(q, { countdown: 60 }));
    const held: Delivery[] = [];
    await holder.consume([q], 1, f.collect(held));
    await waitUntil(() => held.length === 1);
    const until = Date.now() + 2200;
    while (Date.now() < until) {
      await holder.touch(held);
      await sleep(250);
      await restorer.restoreVisible();
    }
    assert.equal(await f.raw.llen(q), 0);
    assert.equal(await f.raw.hexists(UNACKED_KEY, held[0]!.tag), 1);
    // Without touch it would have been restored:
    await sleep(1100);
    await waitUntil(async () => (await restorer.restoreVisible()) >= 1 || (await f.raw.llen(q)) === 1, 3000, 'restore');
    assert.equal(await f.raw.llen(q), 1);
  });

  test('a worker killed right after fetching loses nothing: restore brings the message back', async () => {
    const f = fixture(RESTORE_DB_URL);
    const q = f.queue();
    const b = await f.broker({ visibilityTimeout: 1 });
    await b.publish(q, msg(q, { id: 'survivor' }));
    const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      env: { ...process.env, SPRIG_REDIS_CRASH_QUEUE: q },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const signal = await new Promise<string | null>((r) => child.on('exit', (_code, sig) => r(sig)));
    assert.equal(signal, 'SIGKILL');
    const tag = out.trim();
    f.tags.add(tag);
    assert.ok(tag, 'child fetched a message');
    assert.equal(await f.raw.llen(q), 0);
    assert.ok(await f.raw.hexists(UNACKED_KEY, tag), 'held in unacked');
    assert.ok(await f.raw.zscore(UNACKED_INDEX_KEY, tag), 'held in unacked_index');
    await sleep(1100);
    await waitUntil(async () => (await b.restoreVisible()) >= 1 || (await f.raw.llen(q)) === 1, 3000, 'restore');
    const got: Delivery[] = [];
    await b.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    assert.equal(got[0]!.message!.headers.id, 'survivor');
    assert.equal(got[0]!.redelivered, true);
    b.ack(got[0]!);
  });

  test('close() gives held messages back at once (kombu restore_at_shutdown)', async () => {
    const f = fixture();
    const b = new RedisBroker(REDIS_URL);
    await b.connect();
    const q = f.queue();
    await b.publish(q, msg(q));
    const got: Delivery[] = [];
    await b.consume([q], 1, f.collect(got));
    await waitUntil(() => got.length === 1);
    await b.close();
    assert.equal(await f.raw.llen(q), 1);
    assert.equal(await f.raw.hexists(UNACKED_KEY, got[0]!.tag), 0);
  });

  test('an idle consumer wakes up at once (blocking, no polling), also for priority lists', async () => {
    const f = fixture();
    const b = await f.broker();
    const pub = await f.broker();
    const q = f.queue();
    let resolveNext: ((d: Delivery) => void) | undefined;
    const got: Delivery[] = [];
    const collect = f.collect(got);
    await b.consume([q], 10, (d) => {
      collect(d);
      b.ack(d);
      resolveNext?.(d);
    });
    const lat: number[] = [];
    for (const priority of [0, 0, 5, 9, 0]) {
      await sleep(30);
      const t0 = performance.now();
      const next = new Promise<Delivery>((r) => (resolveNext = r));
      await pub.publish(q, msg(q, { priority }));
      await next;
      lat.push(performance.now() - t0);
    }
    const sorted = [...lat].sort((a, b2) => a - b2);
    console.log(`  idle→delivery latency ms: ${lat.map((x) => x.toFixed(2)).join(', ')}`);
    // A blocking pop wakes in about a millisecond on a quiet machine; a polling loop (kombu's Redis
    // transport polls each second) would sit near half its interval. The bound leaves room for a
    // busy machine's scheduling delays without letting a poll loop of 250 ms or more pass.
    assert.ok(sorted[2]! < 125, `median latency ${sorted[2]} ms`);
  });

  test('a parked consumer fetches behind its blocking wait: the window holds, the wait is not counted in the visibility score, cancel takes nothing', async () => {
    const f = fixture();
    const b = await f.broker();
    const pub = await f.broker();
    const q = f.queue();
    const got: Delivery[] = [];
    const c = await b.consume([q], 2, f.collect(got));
    // Parked past the point where a fetch sent with the wait would carry a stale score.
    await sleep(1500);
    const before = Date.now() / 1000;
    await pub.publishBatch(Array.from({ length: 3 }, (_, i) => ({ queue: q, message: msg(q, { id: `p${i}` }) })));
    await waitUntil(() => got.length === 2, 15_000, 'two deliveries');
    await sleep(200);
    assert.equal(got.length, 2, 'prefetch 2: no more than two held');
    assert.deepEqual(got.map((d) => d.message!.headers.id), ['p0', 'p1']);
    assert.equal(await b.queueLength(q), 1);
    // Scored when it was taken (after the publish), not when the fetch was sent (1.5 s before).
    await waitUntil(async () => Number(await f.raw.zscore(UNACKED_INDEX_KEY, got[0]!.tag)) >= before - 0.05, 15_000, 'a fresh unacked score');
    for (const d of got) b.ack(d);
    await waitUntil(() => got.length === 3, 15_000, 'the third delivery');
    b.ack(got[2]!);
    await b.flush();
    assert.equal(await b.queueLength(q), 0);
    // Cancelled while parked: its waiting fetch is unblocked and answers; nothing published later is taken.
    await sleep(300);
    await c.cancel();
    await pub.publish(q, msg(q, { id: 'after' }));
    await sleep(300);
    assert.equal(got.length, 3);
    assert.equal(await f.raw.llen(q), 1);
    assert.equal((await f.raw.hmget(UNACKED_KEY, ...got.map((d) => d.tag))).filter((v) => v !== null).length, 0, 'nothing left unacknowledged');
  });

  test('setParkBeyond: a fetch parks far ETA messages in the delay set, scored by their ETA, and delivers the rest', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    const raw = f.raw;
    const got: Delivery[] = [];
    const c = await b.consume([q], 100, f.collect(got));
    let parked = 0;
    c.setParkBeyond!(5000, (n) => (parked += n));
    // The consumer waits with a fetch sent before the park was asked for: one message answers it.
    await b.publishBatch([{ queue: q, message: msg(q, { id: 'first' }) }]);
    await waitUntil(() => got.length === 1);
    const hour = Date.now() + 3_600_000;
    const withEta = (id: string, eta: unknown) => {
      const m = msg(q, { id });
      (m.headers as Record<string, unknown>).eta = eta;
      return { queue: q, message: m };
    };
    const far: Array<[string, string]> = [
      ['iso', new Date(hour).toISOString()],
      ['celery', new Date(hour).toISOString().replace('Z', '123+00:00')],
      ['offset', '2099-06-30T08:15:00.5+05:30'],
      ['compact-offset', '2099-06-30T08:15:00-0130'],
      ['naive', '2099-06-30 08:15:00'],
    ];
    await b.publishBatch([
      ...far.map(([id, eta]) => withEta(id, eta)),
      withEta('soon', new Date(Date.now() + 2000).toISOString()),
      withEta('past', '2001-01-01T00:00:00Z'),
      withEta('garbage', 'next tuesday'),
      withEta('number', hour / 1000),
      withEta('null', null),
    ]);
    await waitUntil(() => got.length === 6 && parked === far.length);
    await sleep(100);
    assert.deepEqual(got.map((d) => d.message!.headers.id).sort(), ['first', 'garbage', 'null', 'number', 'past', 'soon']);
    assert.equal(parked, far.length);
    assert.equal(await b.queueLength(q), 0);
    // Parked as park-3.lua parks: kombu's unacked value, scored by the ETA the worker reads.
    const members = await raw.zrange(DELAYED_KEY, '0', '-1', 'WITHSCORES');
    const byId = new Map<string, number>();
    for (let i = 0; i < members.length; i += 2) {
      const entry = JSON.parse(members[i]!) as [Record<string, unknown>, string, string];
      if (entry[2] !== q) continue;
      byId.set(String((entry[0].headers as Record<string, unknown>).id), Number(members[i + 1]));
    }
    try {
      for (const [id, eta] of far) assert.equal(byId.get(id), parseIso(eta)!.getTime(), `${id}: ${eta}`);
      assert.equal(byId.size, far.length);
      // Nothing parked is left in unacked; what was delivered is.
      const unacked = await raw.hvals(UNACKED_KEY);
      assert.equal(unacked.filter((v) => v.includes(q)).length, got.length);
      // Off again (once the fetch waiting with the park on has answered): a far one is delivered.
      c.setParkBeyond!(undefined, () => undefined);
      await b.publishBatch([{ queue: q, message: msg(q, { id: 'flush' }) }]);
      await waitUntil(() => got.length === 7);
      await b.publishBatch([withEta('after', new Date(hour).toISOString())]);
      await waitUntil(() => got.length === 8);
      assert.equal(parked, far.length);
    } finally {
      for (let i = 0; i < members.length; i += 2) if (members[i]!.includes(q)) await raw.zrem(DELAYED_KEY, members[i]!);
    }
    for (const d of got) b.ack(d);
    await b.flush();
  });

  test('20,000 messages, prefetch 200: each delivered once, all acknowledged (the rate is printed; npm run bench measures it)', async () => {
    const f = fixture();
    const b = await f.broker();
    const q = f.queue();
    const N = 20_000;
    const items = Array.from({ length: N }, (_, i) => ({ queue: q, message: msg(q, { args: [i, 1] }) }));
    let t = performance.now();
    for (let i = 0; i < N; i += 1000) await b.publishBatch(items.slice(i, i + 1000));
    const pubRate = N / ((performance.now() - t) / 1000);
    t = performance.now();
    let n = 0;
    const seen = new Set<string>();
    const tags: string[] = [];
    await new Promise<void>((resolve) => {
      void b.consume([q], 200, (d) => {
        seen.add(String(d.message?.headers.id));
        tags.push(d.tag);
        b.ack(d);
        if (++n === N) resolve();
      });
    });
    await b.flush();
    const rate = N / ((performance.now() - t) / 1000);
    console.log(`  publish ${Math.round(pubRate)} msg/s, drain ${Math.round(rate)} msg/s`);
    assert.equal(seen.size, N, 'every message delivered once');
    assert.equal(await b.queueLength(q), 0);
    const left = (await f.raw.hmget(UNACKED_KEY, ...tags)).filter((v) => v !== null).length;
    assert.equal(left, 0, 'nothing left unacknowledged');
  });

  test('unreachable Redis: connect() fails fast with one clear line', async () => {
    const b = new RedisBroker('redis://127.0.0.1:6390/0');
    const t0 = Date.now();
    await assert.rejects(b.connect(), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.equal(err.message, 'cannot connect to Redis at 127.0.0.1:6390: connect ECONNREFUSED (is redis-server running?)');
      return true;
    });
    assert.ok(Date.now() - t0 < 4000);
    await b.close();
  });

  test('publish during an outage fails with ConnectionError after publishTimeoutMs', async () => {
    const b = new RedisBroker('redis://127.0.0.1:6390/0', { publishTimeoutMs: 300 });
    const q = `test-${randomUUID()}`;
    const t0 = Date.now();
    await assert.rejects(b.publish(q, msg(q)), ConnectionError);
    assert.ok(Date.now() - t0 < 2000);
    await b.close();
  });
}

if (!process.env.SPRIG_REDIS_CRASH_QUEUE) {
  test('reconnect: killed connections come back; consumers, subscriptions and publishes resume', async () => {
    const f = new RedisFixture();
    try {
      const name = `sprig-test-${randomUUID().slice(0, 8)}`;
      const b = new RedisBroker(REDIS_URL, { connectionName: name });
      f.brokers.push(b);
      await b.connect();
      const other = await f.broker();
      const lifecycle: string[] = [];
      b.on('disconnect', () => lifecycle.push('disconnect'));
      b.on('reconnect', () => lifecycle.push('reconnect'));
      const q = f.queue();
      const got: Delivery[] = [];
      await b.consume([q], 10, f.collect(got));
      const events: string[] = [];
      const uuid = randomUUID();
      await b.subscribeEvents((e) => {
        if ('uuid' in e && e.uuid === uuid) events.push(e.type);
      });
      await sleep(100);
      const ours = ((await f.raw.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${name} `));
      assert.ok(ours.length >= 3, `main, watchers and subscriber connections: ${ours.length}`);
      for (const line of ours) await f.raw.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]!);
      const during = b.publish(q, msg(q, { id: 'during-outage' }));
      await during;
      await waitUntil(() => got.length === 1, 5000, 'delivery after reconnect');
      await other.publish(q, msg(q, { id: 'after' }));
      await waitUntil(() => got.length === 2, 5000, 'second delivery');
      assert.deepEqual(got.map((d) => d.message!.headers.id).sort(), ['after', 'during-outage']);
      await waitUntil(() => lifecycle.includes('reconnect'), 5000, 'reconnect event');
      assert.equal(lifecycle[0], 'disconnect');
      const ev = { type: 'task-started' as const, hostname: 'h', pid: 1, clock: 1, timestamp: Date.now() / 1000, utcoffset: 0, uuid };
      await waitUntil(
        () => {
          other.publishEvent(ev);
          return events.length > 0;
        },
        5000,
        'event after reconnect',
      );
      for (const d of got) b.ack(d);
      await b.flush();
    } finally {
      await f.cleanup();
    }
  });
}
