/**
 * The fault suite: 5,000 acks-late tasks per broker (10,000 on PostgreSQL); during the run the worker
 * is kill -9ed twice and restarted, and the broker connection is cut once (Redis: a Redis of our own
 * with appendonly, restarted; RabbitMQ: `rabbitmqctl close_all_connections`; PostgreSQL: a server of
 * our own, restarted). At the end every task must have a
 * SUCCESS result; a task may run twice only if it was executing at a kill.
 */
import { spawn, execSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { DELAYED_KEY, queueKeys, UNACKED_INDEX_KEY, UNACKED_KEY, UNACKED_MUTEX_KEY } from '../../runtime/src/brokers/redis/keys.js';
import { ROOT, runCli, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const DEFAULT_N = Number(process.env.SPRIG_FAULT_TASKS ?? 5000);
const CONCURRENCY = 4;
const TASK_MS = 3;
const TRACE = 'redis://127.0.0.1:6379/0';
const TASKS = path.join(ROOT, 'test/fixtures/fault-tasks.ts');

interface Target {
  name: string;
  /** Tasks of this target's run (default SPRIG_FAULT_TASKS, 5000). */
  tasks?: number;
  brokerUrl: string;
  resultBackend: string;
  setup(): Promise<void>;
  cutConnection(): Promise<void>;
  /** What the broker holds for `queue` (printed when a wait times out). */
  describe?(queue: string): Promise<string>;
  teardown(queue: string): Promise<void>;
}

function redisTarget(): Target {
  const port = Number(process.env.SPRIG_FAULT_REDIS_PORT ?? 6391);
  const dir = tmpDir('sprig-faults-redis-');
  let server: ChildProcess | undefined;
  const start = async () => {
    server = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', dir], { stdio: 'ignore' });
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    await waitFor(async () => {
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      }
    }, 20_000, `redis on ${port}`);
    probe.disconnect();
  };
  return {
    name: 'redis',
    brokerUrl: `redis://127.0.0.1:${port}/0?visibility_timeout=4`,
    resultBackend: `redis://127.0.0.1:${port}/0`,
    setup: start,
    async cutConnection() {
      // Restart the server: every connection drops; appendonly keeps queues, unacked and results.
      server!.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
      await new Promise((r) => setTimeout(r, 500));
      await start();
    },
    async describe(queue) {
      const r = new Redis(port, '127.0.0.1', { retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 2000 });
      r.on('error', () => undefined);
      try {
        const lists = queueKeys(queue);
        const p = r.pipeline();
        for (const k of lists) p.llen(k);
        p.zcard(UNACKED_INDEX_KEY).hlen(UNACKED_KEY).zcard(DELAYED_KEY).client('LIST').pttl(UNACKED_MUTEX_KEY).zrangebyscore(UNACKED_INDEX_KEY, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 2);
        const res = (await p.exec()) ?? [];
        const v = res.map(([err, x]) => (err ? `error: ${err.message}` : x));
        const clients = String(v[lists.length + 3]).trim().split('\n').filter(Boolean);
        const cmds = clients.map((c) => /cmd=(\S+)/.exec(c)?.[1] ?? '?').reduce<Record<string, number>>((a, c) => ((a[c] = (a[c] ?? 0) + 1), a), {});
        return [
          ...lists.map((k, i) => `LLEN ${JSON.stringify(k)}=${String(v[i])}`),
          `ZCARD ${UNACKED_INDEX_KEY}=${String(v[lists.length])} HLEN ${UNACKED_KEY}=${String(v[lists.length + 1])} ZCARD ${DELAYED_KEY}=${String(v[lists.length + 2])}`,
          `PTTL ${UNACKED_MUTEX_KEY}=${String(v[lists.length + 4])} oldest unacked ${JSON.stringify(v[lists.length + 5])} (now ${(Date.now() / 1000).toFixed(3)})`,
          `clients=${clients.length} last commands ${JSON.stringify(cmds)}`,
        ].join('\n');
      } catch (err) {
        return `(redis on ${port} did not answer: ${(err as Error).message})`;
      } finally {
        r.disconnect();
      }
    },
    async teardown() {
      server?.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function amqpTarget(): Target {
  return {
    name: 'amqp',
    brokerUrl: 'amqp://guest:guest@127.0.0.1:5672//',
    resultBackend: TRACE,
    async setup() {},
    async cutConnection() {
      execSync('rabbitmqctl close_all_connections "sprig fault test"', { stdio: 'ignore' });
    },
    async teardown(queue) {
      const { connect } = await import('amqplib');
      const c = await connect('amqp://guest:guest@127.0.0.1:5672/');
      const ch = await c.createChannel();
      for (const q of [queue, `${queue}.dead-letter`]) await ch.deleteQueue(q).catch(() => undefined);
      await c.close();
    },
  };
}

/**
 * A PostgreSQL server of the test's own (initdb under /usr/lib/postgresql/15/bin, run as the
 * postgres user, on port 5442), restarted once mid-run with `pg_ctl restart -m fast`.
 */
function postgresTarget(): Target {
  const port = 5442;
  const bin = '/usr/lib/postgresql/15/bin';
  const dir = tmpDir('sprig-faults-pg-');
  const data = path.join(dir, 'data');
  const asPostgres = (cmd: string) => execSync(`runuser -u postgres -- ${cmd}`, { stdio: 'ignore' });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres?schema=test_${uniqueQueue().slice(5).replace(/-/g, '_')}`;
  const pgCtl = (what: string) =>
    asPostgres(`${bin}/pg_ctl -D ${data} -w -t 60 -m fast -l ${path.join(dir, 'log')} -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off" ${what}`);
  return {
    name: 'postgres',
    tasks: Number(process.env.SPRIG_FAULT_TASKS_POSTGRES ?? 10_000),
    brokerUrl: `${url}&visibility_timeout=4`,
    resultBackend: url,
    async setup() {
      execSync(`chown postgres ${dir}`);
      asPostgres(`${bin}/initdb -D ${data} -A trust -U postgres`);
      pgCtl('start');
    },
    async cutConnection() {
      // Every session drops; the tables (messages, leases, results) stay.
      pgCtl('restart');
    },
    async teardown() {
      try {
        pgCtl('stop');
      } catch {
        /* already down */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function runOne(t: Target): Promise<{ sent: number; succeeded: number; duplicates: number; lost: number; kills: number }> {
  const N = t.tasks ?? DEFAULT_N;
  await t.setup();
  const queue = uniqueQueue();
  const traceKey = `${queue}:runs`;
  const trace = new Redis(TRACE);
  const app = new App({ brokerUrl: t.brokerUrl, resultBackend: t.resultBackend, defaultQueue: queue });
  const workers: Spawned[] = [];
  const startWorker = async () => {
    const w = runCli(['worker', '--app', TASKS, '--broker', t.brokerUrl, '--result-backend', t.resultBackend, '-Q', queue, '-c', String(CONCURRENCY), '--acks-late', '--loglevel', 'warn'], {
      // The broker's own logger (connection lost / back lines) follows SPRIG_LOG_LEVEL, not --loglevel
      // (the worker's: warn, as in CI; 5,000 "succeeded" lines would change the timing).
      env: { SPRIG_FAULT_TRACE_URL: TRACE, SPRIG_LOG_LEVEL: 'info' },
    });
    workers.push(w);
    await waitFor(() => w.err().includes(' ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
    if (w.proc.exitCode !== null) throw new Error(`worker exited: ${w.err()}`);
    return w;
  };
  const kill9 = (w: Spawned) => {
    try {
      execSync(`pkill -9 -P ${w.proc.pid}`);
    } catch {
      /* no children */
    }
    w.proc.kill('SIGKILL');
  };
  try {
    const ids: string[] = [];
    for (let i = 0; i < N; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 500); j++) batch.push({ name: 'mark', args: [traceKey, j, TASK_MS] });
      const rs = await app.sendMany(batch);
      ids.push(...rs.map((r) => r.id));
    }
    const done = async () => Number(await trace.hlen(traceKey));
    let w: Spawned | undefined;
    // On a timeout, say what the broker and the worker were doing.
    const waitDone = async (n: number, ms: number, what: string) => {
      try {
        await waitFor(async () => (await done()) >= n, ms, what);
      } catch (err) {
        const tail = (w?.err() ?? '').trimEnd().split('\n').slice(-40).join('\n    ');
        const broker = t.describe ? await t.describe(queue) : '';
        throw new Error(
          `${(err as Error).message}\n  started ${await done()} of ${N} (waiting for ${n})\n  ${broker.split('\n').join('\n  ')}\n  worker pid ${w?.proc.pid} (exit ${w?.proc.exitCode}), last stderr lines:\n    ${tail}`,
          { cause: err },
        );
      }
    };
    w = await startWorker();
    let kills = 0;
    for (const at of [0.2, 0.45]) {
      await waitDone(N * at, 120_000, `${at * 100}% of tasks started`);
      kill9(w);
      kills++;
      w = await startWorker();
    }
    await waitDone(N * 0.7, 120_000, '70% of tasks started');
    await t.cutConnection();
    await waitDone(N, 180_000, 'every task started');
    const backend = await app.backend();
    let succeeded = 0;
    await waitFor(async () => {
      succeeded = 0;
      for (let i = 0; i < ids.length; i += 1000) {
        const metas = await Promise.all(ids.slice(i, i + 1000).map((id) => backend.get(id)));
        succeeded += metas.filter((m) => m?.status === 'SUCCESS').length;
      }
      return succeeded === N;
    }, 120_000, 'every result').catch(async (err: Error) => {
      console.error(`${t.name}: ${err.message}: ${succeeded} of ${N} SUCCESS\n  ${(t.describe ? await t.describe(queue) : '').split('\n').join('\n  ')}`);
    });
    const runs = Object.values(await trace.hgetall(traceKey)).map(Number);
    const duplicates = runs.reduce((a, n) => a + (n - 1), 0);
    return { sent: N, succeeded, duplicates, lost: N - succeeded, kills };
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) kill9(w);
    await app.close();
    await trace.del(traceKey);
    trace.disconnect();
    await t.teardown(queue);
  }
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const targets = [redisTarget(), amqpTarget(), postgresTarget()].filter((t) => !only.length || only.includes(t.name));
  let ok = true;
  const lines: string[] = [];
  for (const t of targets) {
    const t0 = Date.now();
    try {
      const r = await runOne(t);
      // A task may run twice only if it was executing at a fault: handed to the pool (running, or
      // queued in a pool child) or finished with its ack not yet written. That is at most what the
      // worker holds, its prefetch (CONCURRENCY x multiplier 4: 3 ms tasks keep the adaptive window
      // at its base), per kill and per connection cut.
      const allowed = (r.kills + 1) * CONCURRENCY * 4;
      const pass = r.lost === 0 && r.succeeded === r.sent && r.duplicates <= allowed;
      ok &&= pass;
      lines.push(`${t.name.padEnd(6)} sent=${r.sent} succeeded=${r.succeeded} duplicates=${r.duplicates} lost=${r.lost}  (${((Date.now() - t0) / 1000).toFixed(1)} s, ${r.kills} kill -9, 1 connection cut, duplicates allowed <= ${allowed}) ${pass ? 'PASS' : 'FAIL'}`);
    } catch (err) {
      ok = false;
      lines.push(`${t.name.padEnd(6)} FAIL: ${(err as Error).message}`);
    }
    console.log(lines[lines.length - 1]);
  }
  console.log('\nfault suite:');
  for (const l of lines) console.log(`  ${l}`);
  process.exit(ok ? 0 : 1);
}

void main();
