/**
 * The worker on postgres:// in separate processes: round trip with results in PostgreSQL, an ETA
 * that waits in the table, priority order, remote control and events over NOTIFY, enqueue in the
 * caller's transaction (rollback: never runs; commit: runs once), acks-late after kill -9 of a pool
 * child and of the worker, and the lease fence: a holder stalled past its lease keeps its message.
 * Everything lives in the schema test_<uuid>, dropped after; run traces go to Redis lists.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawn } from 'node:child_process';
import Redis from 'ioredis';
import pg from 'pg';
import { App } from '../../runtime/src/index.js';
import * as path from 'node:path';
import { FIXTURE_TASKS, ROOT, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';

const schema = testSchema();
const URL = pgUrl(schema);
const redis = new Redis('redis://127.0.0.1:6379/0');
const sql = new pg.Pool({ connectionString: PG_BASE, max: 3 });
const keys: string[] = [];
const workers: Spawned[] = [];
const apps: App[] = [];

function key(): string {
  const k = `${uniqueQueue()}:trace`;
  keys.push(k);
  return k;
}

async function startWorker(queue: string, extra: string[] = [], url = URL, app = FIXTURE_TASKS, env?: NodeJS.ProcessEnv): Promise<Spawned> {
  const w = runCli(['worker', '--app', app, '--broker', url, '-Q', queue, '--loglevel', 'info', ...extra], { env });
  workers.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
  assert.equal(w.proc.exitCode, null, w.err());
  return w;
}

function client(queue: string, url = URL): App {
  const a = new App({ brokerUrl: url, defaultQueue: queue });
  apps.push(a);
  return a;
}

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exit));
  for (const a of apps) await a.close();
  await sql.end();
  await dropSchema(PG_BASE, schema);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test('round trip with the process pool; the result is a row of <schema>.results', async () => {
  const q = uniqueQueue();
  await startWorker(q, ['-c', '2']);
  const r = client(q).sendTask('add', [20, 22]);
  assert.equal(await r.get({ timeout: 30 }), 42);
  const row = await sql.query(`SELECT status, meta FROM "${schema}".results WHERE task_id = $1`, [r.id]);
  assert.equal(row.rows[0].status, 'SUCCESS');
  assert.equal(JSON.parse(row.rows[0].meta).result, 42);
});

test('a countdown waits in the table, not in a worker', async () => {
  const q = uniqueQueue();
  await startWorker(q, ['-c', '1']);
  const r = client(q).sendTask('add', [1, 2], {}, { countdown: 4 });
  await r.sent;
  const row = await sql.query(`SELECT holder, visible_at > now() AS later FROM "${schema}".messages WHERE queue = $1`, [q]);
  assert.equal(row.rows.length, 1);
  assert.equal(row.rows[0].holder, null, 'no worker holds it');
  assert.equal(row.rows[0].later, true, 'visible at its ETA');
  assert.equal(await r.get({ timeout: 30 }), 3);
});

test('priority order: higher number first, within one queue', async () => {
  const q = uniqueQueue();
  const k = key();
  const app = client(q);
  for (const p of [0, 3, 6, 9]) await app.sendTask('record', [k, `p${p}`], {}, { priority: p }).sent;
  await startWorker(q, ['-c', '1', '--prefetch-multiplier', '1']);
  await waitFor(async () => (await redis.llen(k)) === 4, 30_000, 'four runs');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['p9', 'p6', 'p3', 'p0']);
});

test('remote control (ping) and events over LISTEN/NOTIFY', async () => {
  const q = uniqueQueue();
  await startWorker(q, ['-c', '1', '-E']);
  const app = client(q);
  const broker = await app.broker();
  const seen: string[] = [];
  const unsubscribe = await broker.subscribeEvents((e) => seen.push(e.type));
  const replies = await waitFor(async () => {
    const r = await app.control.ping({ timeout: 2 });
    return Object.keys(r).length ? r : undefined;
  }, 30_000, 'a ping reply');
  assert.ok(Object.values(replies).some((v) => JSON.stringify(v).includes('pong')), JSON.stringify(replies));
  assert.equal(await app.sendTask('add', [2, 2]).get({ timeout: 30 }), 4);
  await waitFor(() => seen.includes('task-succeeded'), 30_000, 'task-succeeded');
  await unsubscribe();
});

test("enqueue in the caller's transaction: rollback never runs, commit runs once", async () => {
  const q = uniqueQueue();
  const k = key();
  const app = client(q);
  const tx = await sql.connect();
  try {
    await tx.query('BEGIN');
    await app.sendTask('record', [k, 'rolled-back'], {}, { tx }).sent;
    await tx.query('ROLLBACK');
    await tx.query('BEGIN');
    await app.sendTask('record', [k, 'committed'], {}, { tx }).sent;
    // Not visible to anyone before the commit.
    const before = await sql.query(`SELECT count(*)::int AS n FROM "${schema}".messages WHERE queue = $1`, [q]);
    assert.equal(before.rows[0].n, 0);
    await tx.query('COMMIT');
  } finally {
    tx.release();
  }
  await app.sendTask('record', [k, 'marker']).sent;
  await startWorker(q, ['-c', '1', '--prefetch-multiplier', '1']);
  await waitFor(async () => (await redis.lrange(k, 0, -1)).includes('marker'), 30_000, 'the marker task');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['committed', 'marker']);
});

test('acks late: kill -9 of a pool child and then of the whole worker loses nothing', async () => {
  const q = uniqueQueue();
  const k = key();
  const url = pgUrl(schema, 'visibility_timeout=3');
  const w1 = await startWorker(q, ['-c', '2', '--acks-late'], url);
  const app = client(q);
  const N = 24;
  const results = [];
  for (let i = 0; i < N; i++) results.push(app.sendTask('record', [k, `t${i}`, 600]));
  await Promise.all(results.map((r) => r.sent));
  await waitFor(async () => (await redis.llen(k)) >= 2, 30_000, 'a few tasks done');
  const children = execSync(`pgrep -f pool-child -P ${w1.proc.pid}`).toString().trim().split('\n').map(Number);
  assert.ok(children.length >= 2, `pool children: ${children}`);
  process.kill(children[0]!, 'SIGKILL');
  await waitFor(() => w1.err().includes('requeued (acks late)'), 30_000, 'the lost task to be requeued');
  await waitFor(async () => (await redis.llen(k)) >= 6, 30_000, 'more tasks done');
  execSync(`pkill -9 -P ${w1.proc.pid} || true`);
  w1.proc.kill('SIGKILL');
  await w1.exit;
  const held = await sql.query(`SELECT count(*)::int AS n FROM "${schema}".messages WHERE queue = $1 AND holder IS NOT NULL`, [q]);
  assert.ok(held.rows[0].n > 0, 'the killed worker left held messages');
  await startWorker(q, ['-c', '2', '--acks-late'], url);
  const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
  assert.deepEqual(values.sort(), Array.from({ length: N }, (_, i) => `t${i}`).sort());
  const runs = await redis.lrange(k, 0, -1);
  const unique = new Set(runs);
  assert.equal(unique.size, N, 'every task ran');
  console.log(`# postgres acks-late kill test: sent=${N} runs=${runs.length} duplicates=${runs.length - unique.size} lost=${N - unique.size}`);
});

test('lease fence: a holder stalled past its lease keeps its message; once it is gone, the message runs', async () => {
  const q = uniqueQueue();
  const k = key();
  const url = pgUrl(schema, 'visibility_timeout=1&poll_interval=0.5');
  const app = client(q);
  await app.sendTask('record', [k, 'held']).sent;
  const code = `const { PostgresBroker } = require(${JSON.stringify(require.resolve('../../runtime/src/brokers/postgres/postgres-broker.ts'))});
    const b = new PostgresBroker(${JSON.stringify(url)}, {});
    b.connect().then(() => b.consume([${JSON.stringify(q)}], 1, (d) => console.log('TAG ' + d.tag)));`;
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => /TAG (\S+)/.exec(out)?.[1], 30_000, 'the holder to take it');
  // Alive but stalled: its session (and its holder lock) stays open, it extends no lease.
  holder.kill('SIGSTOP');
  await waitFor(async () => {
    const r = await sql.query(`SELECT visible_at < now() AS expired FROM "${schema}".messages WHERE queue = $1`, [q]);
    return r.rows[0]?.expired === true;
  }, 30_000, 'the lease to run out');
  // The worker takes the lowest id first; the marker running means it passed over the stalled one.
  await startWorker(q, ['-c', '1', '--prefetch-multiplier', '1'], url);
  await app.sendTask('record', [k, 'marker']).sent;
  await waitFor(async () => (await redis.llen(k)) >= 1, 30_000, 'the marker');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['marker'], 'the stalled holder keeps its message');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.on('exit', r));
  await waitFor(async () => (await redis.llen(k)) >= 2, 30_000, 'the message of the dead holder');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['marker', 'held']);
});

test("enqueue in a postgres.js transaction (sql.begin): rollback never runs, commit runs once", async () => {
  const { default: postgres } = await import('postgres');
  const q = uniqueQueue();
  const k = key();
  const app = client(q);
  const pgjs = postgres(PG_BASE, { max: 1, onnotice: () => undefined });
  try {
    await assert.rejects(
      pgjs.begin(async (tx) => {
        await app.sendTask('record', [k, 'rolled-back'], {}, { tx }).sent;
        throw new Error('roll back');
      }),
      /roll back/,
    );
    await pgjs.begin(async (tx) => {
      await app.sendTask('record', [k, 'committed'], {}, { tx }).sent;
    });
  } finally {
    await pgjs.end();
  }
  await app.sendTask('record', [k, 'marker']).sent;
  await startWorker(q, ['-c', '1', '--prefetch-multiplier', '1']);
  await waitFor(async () => (await redis.lrange(k, 0, -1)).includes('marker'), 30_000, 'the marker task');
  assert.deepEqual(await redis.lrange(k, 0, -1), ['committed', 'marker']);
});

test("enqueue in a transaction from a process-pool child, on the task's own pg client: rollback never runs, commit runs once", async () => {
  const q = uniqueQueue();
  const k = key();
  const w = await startWorker(q, ['-P', 'process', '-c', '2'], URL, path.join(ROOT, 'test/fixtures/postgres-tx-tasks.ts'), { SPRIG_TEST_TX_URL: PG_BASE });
  const app = client(q);
  type Enqueued = { id: string; pid: number; committed: boolean };
  const rolled = await app.sendTask<Enqueued>('enqueueInTx', [q, k, 'rolled-back', false]).get({ timeout: 60 });
  const committed = await app.sendTask<Enqueued>('enqueueInTx', [q, k, 'committed', true]).get({ timeout: 60 });
  assert.notEqual(committed.pid, w.proc.pid, 'ran in a pool child, not in the worker');
  await waitFor(async () => (await redis.lrange(k, 0, -1)).includes('committed'), 30_000, 'the committed task');
  assert.equal(await app.sendTask('record', [k, 'marker']).get({ timeout: 60 }), 'marker');
  assert.deepEqual((await redis.lrange(k, 0, -1)).sort(), ['committed', 'marker']);
  const rows = await sql.query(`SELECT count(*)::int AS n FROM "${schema}".messages WHERE body LIKE $1`, [`%${rolled.id}%`]);
  assert.equal(rows.rows[0].n, 0, 'the rolled-back message never existed');
});
