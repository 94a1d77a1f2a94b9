/**
 * The worker on real Redis, in separate processes: round trip, retries with backoff, countdown/ETA,
 * expires, priority order, acks-late redelivery after kill -9 of a pool child and of the worker,
 * visibility-timeout restore, and an ETA beyond the visibility timeout running exactly once.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawn } from 'node:child_process';
import Redis from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { FIXTURE_TASKS, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const redis = new Redis(REDIS);
const queues: string[] = [];
const keys: string[] = [];
const workers: Spawned[] = [];
const apps: App[] = [];

function newQueue(): string {
  const q = uniqueQueue();
  queues.push(q);
  return q;
}

function key(): string {
  const k = `${uniqueQueue()}:trace`;
  keys.push(k);
  return k;
}

async function startWorker(queue: string, extra: string[] = [], url = REDIS, detached = false): Promise<Spawned> {
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', url, '-Q', queue, '--loglevel', 'info', ...extra], { detached });
  workers.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 20_000, 'worker ready');
  assert.equal(w.proc.exitCode, null, w.err());
  return w;
}

async function stopWorkers(ws: Spawned[]): Promise<void> {
  for (const w of ws) w.proc.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exit));
}

function client(queue: string): App {
  const a = new App({ brokerUrl: REDIS, defaultQueue: queue });
  apps.push(a);
  return a;
}

after(async () => {
  // Wait until every worker is gone: a visibility restore still in flight would re-create a queue
  // after we deleted it.
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exit));
  for (const a of apps) await a.close();
  // Held messages of killed workers stay in kombu's shared `unacked` hash: drop ours, or a later
  // visibility restore would put them back on a queue nobody reads.
  const held = await redis.hgetall('unacked');
  const ours = Object.entries(held).filter(([, v]) => queues.some((q) => v.includes(`"${q}"`))).map(([tag]) => tag);
  if (ours.length) {
    await redis.hdel('unacked', ...ours);
    await redis.zrem('unacked_index', ...ours);
  }
  for (const q of queues) {
    const ks = await redis.keys(`${q}*`);
    if (ks.length) await redis.del(...ks);
    await redis.del(`_kombu.binding.${q}`);
  }
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test('round trip with the process pool; result in Celery format under celery-task-meta-<id>', async () => {
  const q = newQueue();
  await startWorker(q, ['-c', '2']);
  const r = client(q).sendTask('add', [20, 22]);
  assert.equal(await r.get({ timeout: 15 }), 42);
  const raw = JSON.parse((await redis.get(`celery-task-meta-${r.id}`))!);
  assert.equal(raw.status, 'SUCCESS');
  assert.equal(raw.result, 42);
  assert.equal(raw.task_id, r.id);
  const ttl = await redis.ttl(`celery-task-meta-${r.id}`);
  assert.ok(ttl > 86000 && ttl <= 86400, `ttl ${ttl}`);
});

test('a task in a pool child enqueues a subtask on the worker\'s broker and gets its result; parent_id links them', async () => {
  const q = newQueue();
  await startWorker(q, ['-c', '2']);
  const r = client(q).sendTask('parent', [q, 2, 3]);
  const out = (await r.get({ timeout: 20 })) as { value: number; sub: string };
  assert.equal(out.value, 50);
  const sub = JSON.parse((await redis.get(`celery-task-meta-${out.sub}`))!);
  assert.equal(sub.result, 5);
  assert.equal(sub.parent_id, r.id);
});

test('retries: explicit retry() and autoretryFor with exponential backoff', async () => {
  const q = newQueue();
  await startWorker(q, ['-c', '2']);
  const app = client(q);
  const a = app.sendTask('retrying', [2]);
  const b = app.sendTask('auto', []);
  assert.equal(await a.get({ timeout: 15 }), 2);
  assert.equal(await b.get({ timeout: 15 }), 3);
  const meta = JSON.parse((await redis.get(`celery-task-meta-${b.id}`))!);
  assert.equal(meta.retries, 2, 'succeeded on the third run');
  await assert.rejects(app.sendTask('exhaust', []).get({ timeout: 15 }), /still broken/);
});

test('countdown and ETA delay execution; expires revokes', async () => {
  const q = newQueue();
  await startWorker(q, ['-c', '2']);
  const app = client(q);
  const t0 = Date.now();
  const c = app.sendTask('add', [1, 2], {}, { countdown: 1.5 });
  const e = app.sendTask('add', [2, 2], {}, { eta: new Date(Date.now() + 1200) });
  const x = app.sendTask('add', [3, 3], {}, { countdown: 2, expires: 1 });
  assert.equal(await e.get({ timeout: 15 }), 4);
  assert.ok(Date.now() - t0 >= 1150, `eta ran after ${Date.now() - t0} ms`);
  assert.equal(await c.get({ timeout: 15 }), 3);
  assert.ok(Date.now() - t0 >= 1450, `countdown ran after ${Date.now() - t0} ms`);
  await assert.rejects(x.get({ timeout: 15 }), /revoked|expired/i);
  assert.equal(x.state, 'REVOKED');
});

test('priority order: lower number first (kombu on Redis), within one queue', async () => {
  const q = newQueue();
  const k = key();
  const app = client(q);
  // Enqueue before any worker runs, in the reverse order of priority.
  for (const p of [9, 6, 3, 0]) await app.sendTask('record', [k, `p${p}`], {}, { priority: p }).sent;
  const raw = await redis.keys(`${q}*`);
  assert.equal(raw.length, 4, `priority lists: ${raw.map((x) => JSON.stringify(x)).join(', ')}`);
  await startWorker(q, ['-c', '1', '--prefetch-multiplier', '1']);
  await waitFor(async () => (await redis.llen(k)) === 4, 15_000, 'four runs');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['p0', 'p3', 'p6', 'p9']);
});

test('acks late: kill -9 of a pool child and then of the whole worker loses nothing', async () => {
  const q = newQueue();
  const k = key();
  const url = `${REDIS}?visibility_timeout=3`;
  const w1 = await startWorker(q, ['-c', '2', '--acks-late'], url);
  const app = client(q);
  const N = 24;
  const results = [];
  for (let i = 0; i < N; i++) results.push(app.sendTask('record', [k, `t${i}`, 600]));
  await Promise.all(results.map((r) => r.sent));
  await waitFor(async () => (await redis.llen(k)) >= 2, 15_000, 'a few tasks done');
  // Kill one pool child while it runs a task: its task goes back to the queue.
  const children = execSync(`pgrep -f pool-child -P ${w1.proc.pid}`).toString().trim().split('\n').map(Number);
  assert.ok(children.length >= 2, `pool children: ${children}`);
  process.kill(children[0]!, 'SIGKILL');
  await waitFor(() => w1.err().includes('requeued (acks late)'), 10_000, 'the lost task to be requeued');
  await waitFor(async () => (await redis.llen(k)) >= 6, 15_000, 'more tasks done');
  // Now kill the whole worker (and its children) with messages held unacknowledged.
  execSync(`pkill -9 -P ${w1.proc.pid} || true`);
  w1.proc.kill('SIGKILL');
  await w1.exit;
  const held = await redis.zcard('unacked_index');
  assert.ok(held > 0, 'the killed worker left messages in unacked');
  await startWorker(q, ['-c', '2', '--acks-late'], url);
  for (const r of results) assert.equal(r.state === 'FAILURE', false);
  const values = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
  assert.deepEqual(values.sort(), Array.from({ length: N }, (_, i) => `t${i}`).sort());
  const runs = await redis.lrange(k, 0, -1);
  const unique = new Set(runs);
  assert.equal(unique.size, N, 'every task ran');
  console.log(`# acks-late kill test: sent=${N} succeeded=${values.length} runs=${runs.length} duplicates=${runs.length - unique.size} lost=${N - unique.size}`);
});

test('visibility timeout restore: a message taken by a consumer that vanished comes back', async () => {
  const q = newQueue();
  const url = `${REDIS}?visibility_timeout=1`;
  const app = client(q);
  const r = app.sendTask('add', [5, 6]);
  await r.sent;
  // A consumer takes the message the way a worker does (atomically into unacked), then dies (kill -9).
  const code = `const { RedisBroker } = require(${JSON.stringify(require.resolve('../../runtime/src/brokers/redis/redis-broker.ts'))});
    const b = new RedisBroker(${JSON.stringify(url)}, {});
    b.connect().then(() => b.consume([${JSON.stringify(q)}], 1, (d) => console.log('TAG ' + d.tag)));`;
  const thief = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  thief.stdout!.on('data', (d: Buffer) => (out += d));
  const got = (await waitFor(() => /TAG (\S+)/.exec(out)?.[1], 15_000, 'the consumer to take it'))!;
  thief.kill('SIGKILL');
  assert.ok(await redis.hexists('unacked', got));
  assert.equal(await redis.llen(q), 0, 'the message is held, not queued');
  const w = await startWorker(q, ['-c', '1'], url);
  assert.equal(await r.get({ timeout: 15 }), 11);
  // A 1 s visibility timeout restores every held message in the db: stop it before other tests run.
  await stopWorkers([w]);
});

test('an ETA beyond the visibility timeout runs exactly once (kombu#337)', async () => {
  const q = newQueue();
  const k = key();
  const url = `${REDIS}?visibility_timeout=1`;
  const ws = [await startWorker(q, ['-c', '2'], url), await startWorker(q, ['-c', '2'], url)];
  const app = client(q);
  const r = app.sendTask('countRun', [k], {}, { countdown: 3.5 });
  assert.equal(await r.get({ timeout: 20 }), 1);
  await new Promise((res) => setTimeout(res, 2500));
  assert.equal(await redis.get(k), '1', 'ran exactly once');
  await stopWorkers(ws);
});

test('shutdown stages: warm finishes the running task; a second signal goes cold and leaves acks-late work unacknowledged', async () => {
  const q = newQueue();
  const app = client(q);
  const w1 = await startWorker(q, ['-c', '1', '--acks-late']);
  const warm = app.sendTask('slow', [1200]);
  await waitFor(async () => (await app.control.inspect('active', { timeout: 1 })).some((r) => (Object.values(r)[0] as Array<{ id: string }>).some((x) => x.id === warm.id)), 10_000, 'the task to run');
  w1.proc.kill('SIGTERM');
  assert.equal(await w1.exit, 0);
  assert.equal(await warm.get({ timeout: 30 }), 1200, 'the running task finished during the warm shutdown');

  const w2 = await startWorker(q, ['-c', '1', '--acks-late']);
  const cold = app.sendTask('slow', [20_000]);
  await waitFor(async () => (await app.control.inspect('active', { timeout: 1 })).some((r) => (Object.values(r)[0] as Array<{ id: string }>).some((x) => x.id === cold.id)), 10_000, 'the task to run');
  const t0 = Date.now();
  w2.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  w2.proc.kill('SIGTERM');
  await w2.exit;
  assert.ok(Date.now() - t0 < 5000, 'cold shutdown is quick');
  assert.equal(await redis.get(`celery-task-meta-${cold.id}`), null, 'no result: the task did not finish');
  // The unfinished acks-late message is delivered again to the next worker.
  await startWorker(q, ['-c', '1', '--acks-late']);
  await waitFor(async () => (await app.control.inspect('active', { timeout: 1 })).some((r) => (Object.values(r)[0] as Array<{ id: string }>).some((x) => x.id === cold.id)), 15_000, 'the task to run again');
});

test('Ctrl-C (SIGINT to the whole process group): pool children leave it to the worker, whose warm shutdown finishes the running task', async () => {
  const q = newQueue();
  const app = client(q);
  const w = await startWorker(q, ['-c', '2'], REDIS, true);
  const r = app.sendTask('slow', [1500]);
  await waitFor(async () => (await app.control.inspect('active', { timeout: 1 })).some((x) => (Object.values(x)[0] as Array<{ id: string }>).some((t) => t.id === r.id)), 10_000, 'the task to run');
  process.kill(-w.proc.pid!, 'SIGINT');
  assert.equal(await w.exit, 0, w.err());
  assert.equal(await r.get({ timeout: 30 }), 1500, 'the running task finished during the warm shutdown');
  assert.doesNotMatch(w.err(), /pool child \d+ exited/, 'no pool child died of the signal');
});

test('adaptive prefetch: on the process pool the window grows past 16 per slot for sub-millisecond tasks, not for slow ones, not when set', async () => {
  const run = async (extra: string[], name: string, args: unknown[], n: number) => {
    const q = newQueue();
    const w = await startWorker(q, ['-c', '2', '--acks-late', '--hostname', `${q}@test`, ...extra]);
    const app = client(q);
    const calls = Array.from({ length: n }, () => ({ name, args, options: { ignoreResult: true } }));
    for (let i = 0; i < calls.length; i += 500) await app.sendMany(calls.slice(i, i + 500));
    await waitFor(async () => (await redis.llen(q)) === 0, 60_000, 'queue drained');
    // The last ones may still run: wait until none of this queue is held (acks written).
    await waitFor(async () => !Object.values(await redis.hgetall('unacked')).some((v) => v.includes(`"${q}"`)), 30_000, 'all acked');
    const [conf] = await app.control.inspect('conf', { timeout: 2, destination: [`${q}@test`] });
    const [stats] = await app.control.inspect('stats', { timeout: 2, destination: [`${q}@test`] });
    await stopWorkers([w]);
    const first = (r: unknown) => Object.values((r ?? {}) as Record<string, Record<string, unknown>>)[0] ?? {};
    return { log: w.err(), multiplier: first(conf).prefetch_multiplier, prefetch: first(stats).prefetch_count };
  };
  const fast = await run([], 'add', [1, 2], 1000);
  assert.match(fast.log, /prefetch window 4 -> (8|16|32|64|128|256) per pool slot/);
  // The async pool stops at 16; the process pool may go to 256 (child-pool.ts maxPrefetchMultiplier),
  // as far as the tasks' average runtime allows on this machine.
  const m = Number(fast.multiplier);
  assert.ok([32, 64, 128, 256].includes(m), `multiplier ${m}\n${fast.log}`);
  assert.equal(fast.prefetch, 2 * m);
  const fixed = await run(['--prefetch-multiplier', '4'], 'add', [1, 2], 1000);
  assert.doesNotMatch(fixed.log, /prefetch window/);
  assert.equal(fixed.multiplier, 4);
  assert.equal(fixed.prefetch, 8);
  const slow = await run([], 'slow', [3], 100);
  assert.doesNotMatch(slow.log, /prefetch window/);
  assert.equal(slow.multiplier, 4);
});
