/**
 * postgres:// through PgBouncer in transaction mode (a PgBouncer of the test's own on 127.0.0.1:6439,
 * pool_mode=transaction, in front of the local server; Debian's `pgbouncer`, installed when missing):
 * - without listen_url a worker's LISTEN session is refused with an error naming the fix, instead of
 *   sleeping forever on notifications that never come (and a holder lock that outlives it);
 * - publishing through it works, named prepared statements or not (they are turned off when the
 *   pooler loses them);
 * - with listen_url (the direct server) for LISTEN and the holder lock, a worker runs tasks, answers
 *   remote control, sends events, results wake their waiters, and a transactional enqueue on a
 *   client of the pooler runs once committed.
 * Schema test_<uuid>, dropped after.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import Redis from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import type { PostgresBroker } from '../../runtime/src/brokers/postgres/postgres-broker.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { FIXTURE_TASKS, runCli, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { dropSchema, PG_BASE, testSchema } from './postgres-helpers.js';

const PORT = 6439;
const schema = testSchema();
const direct = new URL(PG_BASE);
const pooled = `postgres://${direct.username}@127.0.0.1:${PORT}${direct.pathname}`;
const POOLED = `${pooled}?schema=${schema}`;
const WITH_LISTEN = `${POOLED}&listen_url=${encodeURIComponent(PG_BASE)}`;
const dir = tmpDir('sprig-pgbouncer-');
let bouncer: ChildProcess | undefined;
const workers: Spawned[] = [];
const apps: App[] = [];
const redis = new Redis('redis://127.0.0.1:6379/0');
const keys: string[] = [];

before(async () => {
  try {
    execSync('command -v pgbouncer || ls /usr/sbin/pgbouncer', { stdio: 'ignore', shell: '/bin/sh' });
  } catch {
    // A clean machine may have no package lists yet: update once, then install (Debian's package).
    const apt = 'apt-get -o DPkg::Lock::Timeout=300';
    execSync(`${apt} install -y pgbouncer || (${apt} update && ${apt} install -y pgbouncer)`, { stdio: 'ignore', shell: '/bin/sh' });
  }
  const ini = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${direct.username}" ""\n`);
  fs.writeFileSync(
    ini,
    [
      '[databases]',
      `${direct.pathname.slice(1)} = host=${direct.hostname} port=${direct.port || 5432} dbname=${direct.pathname.slice(1)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${PORT}`,
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `admin_users = ${direct.username}`,
      'max_client_conn = 200',
      'default_pool_size = 20',
      'unix_socket_dir =',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
  );
  execSync(`chown -R postgres ${dir}`);
  // PgBouncer will not run as root.
  bouncer = spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', ini], { stdio: 'ignore' });
  await waitFor(async () => {
    const c = new pg.Client({ connectionString: pooled });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  }, 20_000, 'pgbouncer on 6439');
  // It really pools by transaction: two statements of one client may run on different server sessions.
  const show = new pg.Client({ connectionString: `postgres://${direct.username}@127.0.0.1:${PORT}/pgbouncer` });
  await show.connect();
  const cfg = await show.query('SHOW CONFIG');
  await show.end();
  assert.equal(cfg.rows.find((r) => r.key === 'pool_mode')?.value, 'transaction');
});

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exit));
  for (const a of apps) await a.close();
  await dropSchema(PG_BASE, schema);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  bouncer?.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('without listen_url, LISTEN through a transaction-mode pooler is refused with the fix', async () => {
  const b = (await createBroker(POOLED)) as PostgresBroker;
  try {
    await b.connect(); // migrations run fine through it (one transaction)
    await assert.rejects(
      b.consume([uniqueQueue()], 1, () => undefined),
      (err: Error) => /LISTEN does not work/.test(err.message) && /listen_url=/.test(err.message) && /transaction/.test(err.message),
    );
  } finally {
    await b.close();
  }
});

test('publishing through it works: batches in parallel, prepared statements turned off when the pooler loses them', async () => {
  const b = (await createBroker(POOLED)) as PostgresBroker;
  const queue = uniqueQueue();
  try {
    await b.connect();
    await Promise.all(Array.from({ length: 20 }, () => b.publishBatch(Array.from({ length: 50 }, () => ({ queue, message: buildTaskMessage({ name: 'add', args: [1, 2], queue }) })))));
    await Promise.all(Array.from({ length: 20 }, () => b.publish(queue, buildTaskMessage({ name: 'add', args: [1, 2], queue }))));
    assert.equal(await b.queueLength(queue), 1020);
    await b.deleteQueues([queue]);
  } finally {
    await b.close();
  }
});

test('with listen_url: a worker through the pooler runs tasks, answers control, sends events; a transactional enqueue on a pooled client runs', async () => {
  const q = uniqueQueue();
  const k = `${uniqueQueue()}:trace`;
  keys.push(k);
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', WITH_LISTEN, '-Q', q, '-c', '2', '-E', '--loglevel', 'info']);
  workers.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 60_000, 'worker ready');
  assert.equal(w.proc.exitCode, null, w.err());

  const app = new App({ brokerUrl: WITH_LISTEN, defaultQueue: q });
  apps.push(app);
  const seen: string[] = [];
  await (await app.broker()).subscribeEvents((e) => seen.push(e.type));
  assert.equal(await app.sendTask('add', [40, 2]).get({ timeout: 60 }), 42);
  const replies = await waitFor(async () => {
    const r = await app.control.ping({ timeout: 2 });
    return r.length ? r : undefined;
  }, 30_000, 'a ping reply');
  assert.ok(JSON.stringify(replies).includes('pong'));
  await waitFor(() => seen.includes('task-succeeded'), 30_000, 'task-succeeded');

  const tx = new pg.Client({ connectionString: pooled });
  await tx.connect();
  try {
    await tx.query('BEGIN');
    await app.sendTask('record', [k, 'rolled-back'], {}, { tx }).sent;
    await tx.query('ROLLBACK');
    await tx.query('BEGIN');
    await app.sendTask('record', [k, 'committed'], {}, { tx }).sent;
    await tx.query('COMMIT');
  } finally {
    await tx.end();
  }
  await waitFor(async () => (await redis.llen(k)) >= 1, 30_000, 'the committed task');
  await app.sendTask('record', [k, 'marker']).get({ timeout: 60 });
  assert.deepEqual(await redis.lrange(k, 0, -1), ['committed', 'marker']);
});
