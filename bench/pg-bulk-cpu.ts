// Where a bulk enqueue's time goes (issue 19), apart from the box's load:
//   node --import tsx bench/pg-bulk-cpu.ts [sprig|graphile] [batches]
// `batches` sendMany x1000 (Sprig, as bench/postgres.ts) or add_jobs() x1000 (graphile-worker) on a
// fresh schema: wall time, this process's CPU (process.cpuUsage) and the backends' CPU
// (/proc/<pid>/schedstat of the connections that ran the schema's statements) per 1,000 tasks.
// Run it from two builds in turn (A/B). Schema bench_<uuid>, dropped after.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { App } from 'sprig-queue';

const URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const cpuNs = (pids: number[]) => pids.reduce((a, p) => a + Number(fs.readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[0]), 0);

async function main() {
  const who = process.argv[2] ?? 'sprig';
  const batches = Number(process.argv[3] ?? 20);
  const schema = `bench_${randomUUID().replace(/-/g, '_')}`;
  const admin = new pg.Pool({ connectionString: URL, max: 1 });
  const backends = async () =>
    (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'`, [schema])).rows.map((r) => r.pid);
  let close: () => Promise<void>;
  let one: () => Promise<unknown>;
  if (who === 'sprig') {
    const app = new App({ brokerUrl: `${URL}?schema=${schema}`, resultBackend: `${URL}?schema=${schema}` });
    const queue = `bench-${randomUUID()}`;
    await (await app.broker()).connect();
    one = () => app.sendMany(Array.from({ length: 1000 }, () => ({ name: 'bench.noop', options: { queue, ignoreResult: true } })));
    close = () => app.close();
  } else {
    const { makeWorkerUtils } = await import('graphile-worker');
    const utils = await makeWorkerUtils({ connectionString: URL, schema });
    await utils.migrate();
    const sql = `SELECT "${schema}".add_jobs(array(SELECT ROW('bench.noop', '{}'::json, null, null, null, null, null, null)::"${schema}".job_spec FROM generate_series(1, $1)))`;
    one = async () => utils.withPgClient((c) => c.query(sql, [1000]));
    close = async () => utils.release();
  }
  try {
    for (let i = 0; i < 3; i++) await one(); // warm: connections open, statements prepared
    const pids = await backends();
    const b0 = cpuNs(pids);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < batches; i++) await one();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const b = cpuNs(pids) - b0;
    const per = (x: number) => (x / batches).toFixed(2);
    console.log(JSON.stringify({ who, batches, backends: pids.length, wallMs: per(wall), clientCpuMs: per((c.user + c.system) / 1000), backendCpuMs: per(b / 1e6), rate: Math.round((batches * 1000) / wall * 1000) }));
  } finally {
    await close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}
void main();
