// Which PostgreSQL client the postgres:// broker uses, measured (issue 19, item 4):
//   node --import tsx bench/pg-clients.ts [--n 20000]
// The broker's own hot statements (batch INSERT ... FROM unnest, the SKIP LOCKED fetch, the batch
// DELETE ack) through node-postgres (`pg`) and porsager's `postgres`, with and without prepared
// statements, with 1 and 4 concurrent fetch loops on pools of 4 and 10. Schema bench_<uuid>, dropped after.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../runtime/src/brokers/postgres/migrations.js';
import { insertMessages } from '../runtime/src/brokers/postgres/publish.js';
import { buildTaskMessage } from '../runtime/src/protocol/message.js';

const URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const argv = process.argv.slice(2);
const N = Number(argv[argv.indexOf('--n') + 1] || 20000);

type Run = (text: string, values: unknown[], name: string) => Promise<Array<Record<string, unknown>>>;
interface Client {
  label: string;
  run: Run;
  end(): Promise<void>;
}

async function pgClient(max: number, prepared: boolean): Promise<Client> {
  const pool = new pg.Pool({ connectionString: URL, max });
  return {
    label: `pg ${prepared ? 'prepared' : 'unprepared'} pool=${max}`,
    run: async (text, values, name) => (await pool.query(prepared ? { name, text, values } : { text, values })).rows,
    end: () => pool.end(),
  };
}

async function postgresJs(max: number, prepared: boolean): Promise<Client> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(URL, { max, prepare: prepared, onnotice: () => undefined });
  return {
    label: `postgres.js ${prepared ? 'prepared' : 'unprepared'} pool=${max}`,
    run: async (text, values) => [...(await sql.unsafe(text, values as never[], { prepare: prepared }))] as Array<Record<string, unknown>>,
    end: () => sql.end(),
  };
}

async function measure(c: Client, schema: string, loops: number): Promise<{ insert: number; drain: number }> {
  const s = `"${schema}"`;
  const queue = `bench-${randomUUID()}`;
  const message = buildTaskMessage({ name: 'bench.noop', queue });
  let t = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const k = Math.min(1000, N - i);
    const ins = insertMessages(schema, Array.from({ length: k }, () => ({ queue, message })));
    await c.run(ins.text, ins.values, 'insert');
  }
  const insert = (N / (performance.now() - t)) * 1000;
  const fetch = `WITH c AS (SELECT id FROM ${s}.messages WHERE NOT scheduled AND queue = ANY($1::text[]) AND visible_at <= now() AND holder IS NULL
      ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED)
    UPDATE ${s}.messages m SET holder = 1, lease = gen_random_uuid(), visible_at = now() + interval '30 seconds', deliveries = m.deliveries + 1
    FROM c WHERE m.id = c.id RETURNING m.id::text AS id, m.lease::text AS lease, m.body`;
  const ack = `DELETE FROM ${s}.messages m USING unnest($1::bigint[], $2::uuid[]) AS a(id, lease) WHERE m.id = a.id AND m.lease = a.lease`;
  t = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const rows = await c.run(fetch, [[queue], 100], 'fetch');
        if (!rows.length) return;
        await c.run(ack, [rows.map((r) => r.id), rows.map((r) => r.lease)], 'ack');
      }
    }),
  );
  const drain = (N / (performance.now() - t)) * 1000;
  return { insert, drain };
}

async function main(): Promise<void> {
  const schema = `bench_${randomUUID().replace(/-/g, '_')}`;
  const admin = new pg.Pool({ connectionString: URL, max: 1 });
  await migrate(admin, schema);
  const lines: string[] = [];
  try {
    for (const make of [pgClient, postgresJs]) {
      for (const prepared of [true, false]) {
        for (const [max, loops] of [[4, 1], [4, 4], [10, 4]] as const) {
          const c = await make(max, prepared);
          try {
            await measure(c, schema, loops); // warm-up
            const r = await measure(c, schema, loops);
            lines.push(`${c.label.padEnd(32)} loops=${loops}  insert ${Math.round(r.insert).toLocaleString('en-US').padStart(7)}/s  fetch+ack ${Math.round(r.drain).toLocaleString('en-US').padStart(7)}/s`);
            console.log(lines[lines.length - 1]);
          } finally {
            await c.end();
          }
        }
      }
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

void main();
