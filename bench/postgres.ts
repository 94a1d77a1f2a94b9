// The PostgreSQL rows of `npm run bench -- --only postgres`: Sprig's postgres:// broker against
// graphile-worker and pg-boss on the same PostgreSQL (BENCH_POSTGRES_URL, default the local `test`
// database). Every run uses schemas bench_<uuid> of its own, dropped after. Touches no Redis db.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { App } from 'sprig-queue';
import { spawnGroup, type Proc } from './procs.js';

export const PG_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROOT = path.resolve(__dirname, '..');
const BENCH = __dirname;

const schemaName = () => `bench_${randomUUID().replace(/-/g, '_')}`;

async function withSchema<T>(fn: (schema: string, sql: pg.Pool) => Promise<T>): Promise<T> {
  const schema = schemaName();
  const sql = new pg.Pool({ connectionString: PG_URL, max: 2 });
  try {
    return await fn(schema, sql);
  } finally {
    await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await sql.end();
  }
}

async function inflightLoop(n: number, inflight: number, one: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next++ < n) await one();
    }),
  );
}

async function timed(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (n / (performance.now() - t0)) * 1000;
}

// ---- enqueue -------------------------------------------------------------------------------

export async function enqueueSprigPg(mode: 'single' | 'bulk', n: number, inflight: number, bulk: number): Promise<number> {
  return withSchema(async (schema) => {
    const url = `${PG_URL}?schema=${schema}`;
    const app = new App({ brokerUrl: url, resultBackend: url });
    const queue = `bench-${randomUUID()}`;
    try {
      await (await app.broker()).connect(); // migrations outside the timing
      await app.sendTask('bench.noop', [], {}, { queue, ignoreResult: true }).sent;
      if (mode === 'single') return await timed(n, () => inflightLoop(n, inflight, () => app.sendTask('bench.noop', [], {}, { queue, ignoreResult: true }).sent));
      const calls = (k: number) => Array.from({ length: k }, () => ({ name: 'bench.noop', options: { queue, ignoreResult: true } }));
      // One untimed batch first, as each peer makes one untimed call: a sendMany inserts its chunks
      // on two connections of the pool at once, and the second one opens at the first batch.
      await app.sendMany(calls(bulk));
      return await timed(n, async () => {
        for (let i = 0; i < n; i += bulk) await app.sendMany(calls(Math.min(bulk, n - i)));
      });
    } finally {
      await app.close();
    }
  });
}

const addJobsSql = (schema: string) =>
  `SELECT "${schema}".add_jobs(array(SELECT ROW('bench.noop', '{}'::json, null, null, null, null, null, null)::"${schema}".job_spec FROM generate_series(1, $1)))`;

/** graphile-worker: addJob (single) or its own bulk path, add_jobs() with an array of job specs (bulk). */
export async function enqueueGraphile(mode: 'single' | 'bulk', n: number, inflight: number, bulk: number): Promise<number> {
  return withSchema(async (schema) => {
    const { makeWorkerUtils } = await import('graphile-worker');
    const utils = await makeWorkerUtils({ connectionString: PG_URL, schema });
    try {
      await utils.migrate();
      await utils.addJob('bench.noop', {});
      if (mode === 'single') return await timed(n, () => inflightLoop(n, inflight, () => utils.addJob('bench.noop', {})));
      return await timed(n, async () => {
        for (let i = 0; i < n; i += bulk) await utils.withPgClient((c) => c.query(addJobsSql(schema), [Math.min(bulk, n - i)]));
      });
    } finally {
      await utils.release();
    }
  });
}

export async function enqueueBoss(mode: 'single' | 'bulk', n: number, inflight: number, bulk: number): Promise<number> {
  return withSchema(async (schema) => {
    const { default: PgBoss } = await import('pg-boss');
    const boss = new PgBoss({ connectionString: PG_URL, schema, supervise: false, schedule: false });
    boss.on('error', () => undefined);
    await boss.start();
    const queue = `bench-${randomUUID()}`;
    try {
      await boss.createQueue(queue);
      await boss.send(queue, {});
      if (mode === 'single') return await timed(n, () => inflightLoop(n, inflight, () => boss.send(queue, {})));
      return await timed(n, async () => {
        for (let i = 0; i < n; i += bulk) await boss.insert(Array.from({ length: Math.min(bulk, n - i) }, () => ({ name: queue, data: {} })));
      });
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  });
}

// ---- drain ---------------------------------------------------------------------------------

/** run.ts's timeDrain: spawn the worker on a full queue, time from the first task taken to the last one done. */
export type TimeDrain<D> = (n: number, spawnWorker: () => Proc, queued: () => Promise<number>, remaining: () => Promise<number>) => Promise<D>;

const count = (sql: pg.Pool, text: string, values: unknown[]) => async () => Number((await sql.query<{ n: string }>(text, values)).rows[0]?.n ?? 0);

export async function drainSprigPg<D>(n: number, bulk: number, timeDrain: TimeDrain<D>): Promise<D> {
  return withSchema(async (schema, sql) => {
    const url = `${PG_URL}?schema=${schema}`;
    const queue = `bench-${randomUUID()}`;
    const app = new App({ brokerUrl: url, resultBackend: url });
    try {
      for (let i = 0; i < n; i += bulk) {
        await app.sendMany(Array.from({ length: Math.min(bulk, n - i) }, () => ({ name: 'bench.noop', options: { queue, ignoreResult: true } })));
      }
    } finally {
      await app.close();
    }
    const queued = count(sql, `SELECT count(*) AS n FROM "${schema}".messages WHERE queue = $1 AND holder IS NULL`, [queue]);
    const remaining = count(sql, `SELECT count(*) AS n FROM "${schema}".messages WHERE queue = $1`, [queue]);
    const spawn = () =>
      spawnGroup('sprig async c=50 (postgres)', process.execPath, [path.join(ROOT, 'runtime', 'bin', 'sprig.js'), 'worker', '--app', path.join(BENCH, 'tasks.ts'), '-P', 'async', '-c', '50', '-Q', queue, '--loglevel', 'warn', '--broker', url], {
        cwd: ROOT,
        env: { SPRIG_BROKER_URL: '', SPRIG_RESULT_BACKEND: '' },
      });
    return timeDrain(n, spawn, queued, remaining);
  });
}

export async function drainGraphile<D>(n: number, concurrency: number, timeDrain: TimeDrain<D>): Promise<D> {
  return withSchema(async (schema, sql) => {
    const { makeWorkerUtils } = await import('graphile-worker');
    const utils = await makeWorkerUtils({ connectionString: PG_URL, schema });
    try {
      await utils.migrate();
      for (let i = 0; i < n; i += 1000) await sql.query(addJobsSql(schema), [Math.min(1000, n - i)]);
    } finally {
      await utils.release();
    }
    const jobs = `"${schema}"._private_jobs`;
    const queued = count(sql, `SELECT count(*) AS n FROM ${jobs} WHERE locked_at IS NULL`, []);
    const remaining = count(sql, `SELECT count(*) AS n FROM ${jobs}`, []);
    const spawn = () => spawnGroup(`graphile-worker concurrency=${concurrency}`, process.execPath, [path.join(BENCH, 'pg-peer-worker.mjs'), 'graphile', PG_URL, schema, String(concurrency)], { cwd: ROOT });
    return timeDrain(n, spawn, queued, remaining);
  });
}

export async function drainBoss<D>(n: number, batchSize: number, timeDrain: TimeDrain<D>): Promise<D> {
  return withSchema(async (schema, sql) => {
    const { default: PgBoss } = await import('pg-boss');
    const queue = `bench-${randomUUID()}`;
    const boss = new PgBoss({ connectionString: PG_URL, schema, supervise: false, schedule: false });
    boss.on('error', () => undefined);
    await boss.start();
    try {
      await boss.createQueue(queue);
      for (let i = 0; i < n; i += 1000) await boss.insert(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: queue, data: {} })));
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
    const queued = count(sql, `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state IN ('created', 'retry')`, [queue]);
    const remaining = count(sql, `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state IN ('created', 'retry', 'active')`, [queue]);
    const spawn = () => spawnGroup(`pg-boss batchSize=${batchSize}`, process.execPath, [path.join(BENCH, 'pg-peer-worker.mjs'), 'pgboss', PG_URL, schema, queue, String(batchSize)], { cwd: ROOT });
    return timeDrain(n, spawn, queued, remaining);
  });
}

export async function postgresVersion(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v;
  } finally {
    await c.end();
  }
}

/** A package's version from its package.json on disk (graphile-worker's exports hide it from require). */
export function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}
