/**
 * `app.events.receiver()` on every broker (memory, embedded, Redis, RabbitMQ): it sees every event
 * type a worker sends (and the client's task-sent), typed per name. Then the state after 1,000
 * tasks with failures and retries against the results backend, and a receiver that outlives a
 * broker outage (Redis and RabbitMQ through a TCP proxy) and reports the gap.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { App, Worker, EVENT_TYPES, type EventGap, type SprigEvent, type SprigEventType, type TaskFailedEvent } from '../../runtime/src/index.js';
import { pyrepr } from '../../runtime/src/protocol/pyrepr.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { FIXTURE_TASKS, waitFor } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';
import { AMQP_URL, AmqpFixture, TcpProxy } from './amqp-helpers.js';

const redis = new RedisFixture();
const amqp = new AmqpFixture();
const apps: App[] = [];
const servers: EmbeddedServer[] = [];
const proxies: TcpProxy[] = [];

after(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  for (const s of servers) await s.close();
  for (const p of proxies) await p.close();
  await redis.cleanup();
  await amqp.cleanup();
});

function client(brokerUrl: string, defaultQueue: string): App {
  const a = new App({ brokerUrl, defaultQueue, sendSentEvent: true });
  apps.push(a);
  return a;
}

const brokers: Array<{ kind: string; url: () => Promise<string>; queue: () => string }> = [
  { kind: 'memory', url: async () => `memory://${randomUUID()}`, queue: () => `test-${randomUUID()}` },
  {
    kind: 'embedded',
    url: async () => {
      const s = await startEmbeddedServer({ dir: fs.mkdtempSync(`${os.tmpdir()}/sprig-test-`) });
      servers.push(s);
      return `sprig://127.0.0.1:${s.port}?token=${s.token}`;
    },
    queue: () => `test-${randomUUID()}`,
  },
  { kind: 'redis', url: async () => REDIS_URL, queue: () => redis.queue() },
  { kind: 'amqp', url: async () => AMQP_URL, queue: () => amqp.queue() },
];

for (const b of brokers) {
  test(`${b.kind}: a receiver sees every event type a worker sends`, async () => {
    const url = await b.url();
    const q = b.queue();
    const hostname = `events-${randomUUID()}@test`;
    const app = client(url, q);
    const seen = new Map<SprigEventType, SprigEvent[]>();
    const ours = new Set<string>();
    const failures: TaskFailedEvent[] = [];
    const receiver = app.events.receiver({
      // Typed by name: `e.exception` exists on a task-failed event only.
      'task-failed': (e) => void failures.push(e),
      '*': (e) => {
        const mine = e.hostname === hostname || ('uuid' in e && typeof e.uuid === 'string' && ours.has(e.uuid));
        if (!mine) return;
        let list = seen.get(e.type);
        if (!list) seen.set(e.type, (list = []));
        list.push(e);
      },
    });
    await receiver.start();
    const w = new Worker({
      app: FIXTURE_TASKS,
      logWrite: () => undefined,
      config: { brokerUrl: url, worker: { pool: 'async', concurrency: 4, queues: [q], events: true, hostname, autoreload: true } },
    });
    await w.start();
    try {
      const calls = [
        app.sendTask('add', [2, 3]),
        app.sendTask('boom', ['bad']),
        app.sendTask('retrying', [1]),
        app.sendTask('add', [1, 1], {}, { expires: new Date(Date.now() - 60_000) }),
        app.sendTask('no.such.task', []),
        app.sendTask('progressing', [3]),
      ];
      for (const c of calls) ours.add(c.id);
      await waitFor(() => calls.every((c) => (seen.get('task-succeeded') ?? []).concat(seen.get('task-failed') ?? [], seen.get('task-revoked') ?? [], seen.get('task-rejected') ?? []).some((e) => 'uuid' in e && e.uuid === c.id)), 20_000, 'every task to end');
      w.sendHeartbeat();
      assert.equal(await w.autoreloader!.reload(), true);
      await waitFor(() => seen.has('worker-heartbeat') && seen.has('worker-reload'), 10_000, 'heartbeat and reload');
    } finally {
      await w.stop();
    }
    await waitFor(() => seen.has('worker-offline'), 10_000, 'worker-offline');
    await receiver.close();
    assert.deepEqual([...EVENT_TYPES].filter((t) => !seen.has(t)), [], 'event types not seen');
    assert.ok(failures.some((e) => e.uuid === calls0(seen, 'boom') && /RangeError/.test(e.exception)));
    assert.equal((seen.get('task-revoked')![0] as { expired: boolean }).expired, true);
    assert.ok(receiver.count >= [...seen.values()].reduce((n, l) => n + l.length, 0));
  });
}

/** The id of the one task-received of task `name`. */
function calls0(seen: Map<SprigEventType, SprigEvent[]>, name: string): string | undefined {
  const e = (seen.get('task-received') ?? []).find((x) => 'name' in x && x.name === name);
  return e && 'uuid' in e ? (e.uuid as string) : undefined;
}

test('redis: the state after 1,000 tasks with failures and retries matches the results backend', async () => {
  const q = redis.queue();
  const hostname = `state-${randomUUID()}@test`;
  const app = client(REDIS_URL, q);
  const state = app.events.state({ maxTasks: 5000 });
  const receiver = app.events.receiver({ '*': (e) => (e.hostname === hostname ? state.event(e) : undefined) });
  await receiver.start();
  const w = new Worker({ app: FIXTURE_TASKS, logWrite: () => undefined, config: { brokerUrl: REDIS_URL, worker: { pool: 'async', concurrency: 50, queues: [q], events: true, hostname } } });
  await w.start();
  const kinds = ['add', 'boom', 'retrying'] as const;
  const calls = Array.from({ length: 1000 }, (_, i) => {
    const kind = kinds[i % 3]!;
    return { name: kind, args: kind === 'add' ? [i, 1] : kind === 'boom' ? [`bad ${i}`] : [1 + (i % 2)] };
  });
  let results: Awaited<ReturnType<App['sendMany']>> = [];
  try {
    results = await app.sendMany(calls);
    for (const r of results) redis.keys.add(`celery-task-meta-${r.id}`);
    const done = (r: { id: string }) => ['SUCCESS', 'FAILURE'].includes(state.tasks.get(r.id)?.state ?? '');
    await waitFor(() => results.every(done), 60_000, 'every task in the state').catch(async (err: Error) => {
      const left = results.filter((r) => !done(r));
      const meta = await (await app.backend()).get(left[0]!.id);
      const info = left.slice(0, 3).map((r) => JSON.stringify(state.tasks.get(r.id) ?? null));
      throw new Error(`${err.message}: ${left.length} not done, e.g. ${info.join(' ')}; backend: ${JSON.stringify(meta)}`);
    });
  } finally {
    await w.stop();
  }
  // The worker's last heartbeat counts and its worker-offline ride the event stream: wait for them.
  await waitFor(() => state.workers.get(hostname)?.online === false, 20_000, 'worker-offline in the state');
  await receiver.close();
  const backend = await app.backend();
  assert.equal(state.tasks.size, 1000);
  assert.equal(state.taskTypes().join(','), 'add,boom,retrying');
  for (const [i, r] of results.entries()) {
    const t = state.tasks.get(r.id)!;
    const meta = (await backend.get(r.id))!;
    assert.equal(t.state, meta.status, r.id);
    assert.equal(t.name, meta.name);
    assert.equal(t.worker, meta.worker);
    assert.equal(t.retries, meta.retries, `${t.name} ${t.state} ${JSON.stringify(t)}`);
    assert.ok(t.received && t.started, 'received and started timestamps');
    if (meta.status === 'SUCCESS') {
      assert.equal(t.result, pyrepr(meta.result, 256));
      assert.ok(t.succeeded && t.runtime !== null && t.runtime >= 0);
    } else {
      const exc = meta.result as { exc_type: string; exc_message: string[] };
      assert.equal(t.exception, `${exc.exc_type}(${JSON.stringify(exc.exc_message[0])})`);
      assert.ok(t.failed && t.traceback);
    }
    if (calls[i]!.name === 'retrying') assert.ok(t.retried, 'retried timestamp');
  }
  const worker = state.workers.get(hostname)!;
  assert.equal(worker.processed, w.stats.processed);
  assert.equal(worker.online, false);
  assert.equal(state.tasksByType('boom').length, 333);
  assert.equal(state.tasksByWorker(hostname, 10).length, 10);
  const byTime = state.tasksByTime();
  assert.ok(byTime.every((t, k) => k === 0 || byTime[k - 1]!.timestamp >= t.timestamp));
});

for (const kind of ['redis', 'amqp'] as const) {
  test(`${kind}: a receiver survives a broker outage and reports the gap`, async () => {
    const proxy = new TcpProxy(kind === 'redis' ? { host: '127.0.0.1', port: 6379 } : undefined);
    proxies.push(proxy);
    await proxy.start();
    const url = kind === 'redis' ? `redis://127.0.0.1:${proxy.port}/0` : proxy.url();
    const hostname = `gap-${randomUUID()}@test`;
    const app = client(url, 'unused');
    const got: string[] = [];
    const gaps: EventGap[] = [];
    let down = 0;
    const receiver = app.events.receiver({
      'worker-heartbeat': (e) => void (e.hostname === hostname && got.push(String(e.clock))),
      disconnected: () => void down++,
      reconnected: (g) => void gaps.push(g),
    });
    await receiver.start();
    // Sent straight to the broker, not through the proxy.
    const sender = kind === 'redis' ? await redis.broker() : await amqp.broker();
    let clock = 0;
    const beat = () =>
      sender.publishEvent({ type: 'worker-heartbeat', hostname, pid: 1, clock: ++clock, timestamp: Date.now() / 1000, utcoffset: 0, freq: 2, active: 0, processed: 0, loadavg: [], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'test' });
    const through = async () => {
      const before = got.length;
      await waitFor(() => {
        beat();
        return got.length > before;
      }, 20_000, 'an event through the receiver');
    };
    await through();
    proxy.down();
    await waitFor(() => down > 0, 20_000, 'the disconnect');
    proxy.up();
    await waitFor(() => gaps.length > 0, 30_000, 'the reconnect');
    await through();
    await receiver.close();
    assert.equal(receiver.gaps.length, gaps.length);
    assert.ok(gaps[0]!.to >= gaps[0]!.from);
  });
}
