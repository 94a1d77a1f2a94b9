// The server's side of a bulk enqueue, measured apart from the client (issue 19):
//   node --import tsx bench/pg-insert-cpu.ts
// Sprig's 1,000-row INSERT with its parameters built once (~790-byte envelopes), the same with
// 100-byte bodies, and graphile-worker's add_jobs() of 1,000 specs, each 20 times a repetition on one
// connection: rows/s and the backend's CPU per 1,000 rows (/proc/<pid>/schedstat, less swayed by a
// loaded box than wall time). Schemas bench_<uuid>, dropped after.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../runtime/src/brokers/postgres/migrations.js';
import { insertMessages } from '../runtime/src/brokers/postgres/publish.js';
import { buildTaskMessage } from '../runtime/src/protocol/message.js';
const URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const cpuNs = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
async function main() {
  const schema = `bench_${randomUUID().replace(/-/g, '_')}`;
  const gschema = `bench_${randomUUID().replace(/-/g, '_')}`;
  const pool = new pg.Pool({ connectionString: URL, max: 1 });
  await migrate(pool, schema);
  const { makeWorkerUtils } = await import('graphile-worker');
  const utils = await makeWorkerUtils({ connectionString: URL, schema: gschema });
  await utils.migrate();
  await utils.release();
  const queue = `bench-${randomUUID()}`;
  try {
    const pid = Number((await pool.query('SELECT pg_backend_pid() AS p')).rows[0].p);
    const st = insertMessages(schema, Array.from({ length: 1000 }, () => ({ queue, message: buildTaskMessage({ id: randomUUID(), name: 'bench.noop', queue, ignoreResult: true }) })));
    const small = { ...st, values: [st.values[0], st.values[1], (st.values[2] as string).split('\u001e').map((b) => b.slice(0, 100)).join('\u001e')] };
    const v: Array<[string, string, unknown[]]> = [
      ['sprig insert', st.text, st.values],
      ['sprig 100B body', small.text, small.values],
      ['graphile add_jobs', `SELECT "${gschema}".add_jobs(array(SELECT ROW('bench.noop', '{}'::json, null, null, null, null, null, null)::"${gschema}".job_spec FROM generate_series(1, $1)))`, [1000]],
    ];
    for (let rep = 0; rep < 3; rep++) for (const [name, text, values] of v) {
      const c0 = cpuNs(pid);
      const t = performance.now();
      for (let i = 0; i < 20; i++) await pool.query({ name: 'x' + name.replace(/\W/g, ''), text, values });
      const ms = performance.now() - t;
      console.log(name.padEnd(18), `${Math.round(20000 / ms * 1000)}/s  backend cpu ${((cpuNs(pid) - c0) / 1e6 / 20).toFixed(1)} ms/1000`);
    }
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE; DROP SCHEMA "${gschema}" CASCADE`);
    await pool.end();
  }
}
void main();
