/** The worker's Prometheus endpoint, read over HTTP: in process and from the CLI flag (Redis). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { App, Worker } from '../../runtime/src/index.js';
import { workerMetrics, parseMetricsAddress } from '../../runtime/src/worker/metrics.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { FIXTURE_TASKS, runCli, waitFor, type Spawned } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';

const fx = new RedisFixture();
const procs: Spawned[] = [];
const apps: App[] = [];

after(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  for (const a of apps) await a.close();
  await fx.cleanup();
});

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

function value(body: string, metric: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

test('parseMetricsAddress', () => {
  assert.deepEqual(parseMetricsAddress('9808'), { host: '127.0.0.1', port: 9808 });
  assert.deepEqual(parseMetricsAddress(':9808'), { host: '127.0.0.1', port: 9808 });
  assert.deepEqual(parseMetricsAddress('0.0.0.0:9808'), { host: '0.0.0.0', port: 9808 });
  assert.deepEqual(parseMetricsAddress('[::1]:9808'), { host: '::1', port: 9808 });
  assert.throws(() => parseMetricsAddress('host:notaport'), /HOST:PORT/);
});

test('in-process worker: task counts by name and state, runtime, queue length, reserved, pool size', async () => {
  const q = fx.queue();
  const worker = new Worker({
    app: FIXTURE_TASKS,
    logLevel: 'error',
    logWrite: () => undefined,
    config: { brokerUrl: REDIS_URL, worker: { pool: 'async', concurrency: 3, queues: [q], metrics: '127.0.0.1:0' } },
  });
  await worker.start();
  try {
    const addr = workerMetrics(worker)!.address!;
    assert.equal(addr.address, '127.0.0.1');
    const url = `http://127.0.0.1:${addr.port}/metrics`;
    const app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
    apps.push(app);
    await app.sendTask('add', [1, 2]).get({ timeout: 30 });
    await app.sendTask('add', [3, 4]).get({ timeout: 30 });
    await assert.rejects(app.sendTask('boom', ['x']).get({ timeout: 30 }));
    const m = await get(url);
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain; version=0\.0\.4/);
    assert.equal(value(m.body, 'sprig_tasks_total', { name: 'add', state: 'succeeded' }), 2);
    assert.equal(value(m.body, 'sprig_tasks_total', { name: 'add', state: 'received' }), 2);
    assert.equal(value(m.body, 'sprig_tasks_total', { name: 'boom', state: 'failed' }), 1);
    assert.equal(value(m.body, 'sprig_task_runtime_seconds_count', { name: 'add' }), 2);
    assert.equal(value(m.body, 'sprig_pool_size'), 3);
    // 3 slots x the adaptive window's base of 4 (three quick tasks are too few for it to grow).
    assert.equal(value(m.body, 'sprig_prefetch_limit'), 12);
    assert.equal(value(m.body, 'sprig_tasks_reserved'), 0);
    assert.equal(value(m.body, 'sprig_queue_length', { queue: q }), 0);
    assert.equal(value(m.body, 'sprig_broker_reconnects_total'), 0);
    assert.match(m.body, new RegExp(`worker="${worker.hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));

    // Queue length is read from the broker at scrape time.
    const broker = await app.broker();
    await worker.consumer.stop(true);
    await broker.publish(q, buildTaskMessage({ name: 'add', args: [1, 1], queue: q }));
    await broker.publish(q, buildTaskMessage({ name: 'add', args: [1, 1], queue: q }));
    await waitFor(async () => value((await get(url)).body, 'sprig_queue_length', { queue: q }) === 2, 5000, 'queue length 2');
    assert.equal((await get(`http://127.0.0.1:${addr.port}/nope`)).status, 404);
  } finally {
    await worker.stop();
  }
  assert.equal(workerMetrics(worker), undefined);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('sprig worker --metrics HOST:PORT serves /metrics (built CLI)', async () => {
  const q = fx.queue();
  const port = await freePort();
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', REDIS_URL, '-Q', q, '-P', 'async', '--metrics', `127.0.0.1:${port}`]);
  procs.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 20_000, 'worker ready');
  assert.match(w.err(), new RegExp(`metrics on http://127\\.0\\.0\\.1:${port}/metrics`));
  const app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
  apps.push(app);
  assert.equal(await app.sendTask('add', [2, 2]).get({ timeout: 30 }), 4);
  const m = await get(`http://127.0.0.1:${port}/metrics`);
  assert.equal(m.status, 200);
  assert.equal(value(m.body, 'sprig_tasks_total', { name: 'add', state: 'succeeded' }), 1);
  assert.equal(value(m.body, 'sprig_queue_length', { queue: q }), 0);
  w.proc.kill('SIGTERM');
  await w.exit;
});
