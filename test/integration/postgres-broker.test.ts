/**
 * The postgres:// broker on its own (issue 19, what came after the first cut):
 * - far ETAs: 100k rows due next year never enter the fetch's path, proved by the plan (EXPLAIN
 *   ANALYZE of the broker's own fetch statement, custom and generic plans), with the v1 index and
 *   query as the control that the same measure does catch a scan over them; the upgrade from v1
 *   marks the ETA rows already there;
 * - NOTIFY payloads past PostgreSQL's 8000 bytes: a 50 kB event, a 50 kB control request and a
 *   50 kB control reply arrive whole (and in order with small ones);
 * - bulk enqueue: bodies joined into one parameter, a body holding the separator still round-trips;
 *   a batch of one task sent as its template and columns is stored byte for byte as encodeEnvelope
 *   of each message, in order, by the broker and in a caller's transaction (rolled back: no row).
 * Schemas test_<uuid>, dropped after.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import type { PostgresBroker } from '../../runtime/src/brokers/postgres/postgres-broker.js';
import { migrate } from '../../runtime/src/brokers/postgres/migrations.js';
import { fetchSql, nextVisibleSql } from '../../runtime/src/brokers/postgres/statements.js';
import { buildTaskMessage, encodeEnvelope } from '../../runtime/src/protocol/message.js';
import { insertMessages } from '../../runtime/src/brokers/postgres/publish.js';
import { buildTaskMessages } from '../../runtime/src/protocol/message-batch.js';
import type { ControlRequest, Delivery } from '../../runtime/src/brokers/types.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { uniqueQueue, waitFor } from '../helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';

const schemas: string[] = [];
const brokers: PostgresBroker[] = [];
const sql = new pg.Pool({ connectionString: PG_BASE, max: 3 });

function newSchema(): string {
  const s = testSchema();
  schemas.push(s);
  return s;
}

async function broker(schema: string): Promise<PostgresBroker> {
  const b = (await createBroker(pgUrl(schema))) as PostgresBroker;
  brokers.push(b);
  await b.connect();
  return b;
}

after(async () => {
  for (const b of brokers) await b.close().catch(() => undefined);
  await sql.end();
  for (const s of schemas) await dropSchema(PG_BASE, s);
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

function nodes(n: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(n);
  for (const c of n.Plans ?? []) nodes(c, out);
  return out;
}

/** What the scans over `messages` of a plan touched: rows read (kept + filtered out), their kinds and indexes. */
function scans(plan: PlanNode) {
  const onMessages = nodes(plan).filter((n) => n['Relation Name'] === 'messages' && n['Node Type'] !== 'ModifyTable');
  return {
    kinds: onMessages.map((n) => n['Node Type']),
    indexes: onMessages.map((n) => n['Index Name']).filter(Boolean),
    rowsRead: onMessages.reduce((a, n) => a + ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1), 0),
    buffers: (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0),
  };
}

/** EXPLAIN ANALYZE in a transaction rolled back (the fetch is an UPDATE). */
async function explain(c: pg.PoolClient, text: string, values: unknown[]): Promise<PlanNode> {
  await c.query('BEGIN');
  try {
    const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values);
    return (r.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
  } finally {
    await c.query('ROLLBACK');
  }
}

test('far ETAs: 100k rows due next year stay out of the fetch (the plan says so), and the fetch takes the ready ones', async () => {
  const schema = newSchema();
  const b = await broker(schema);
  const s = `"${schema}"`;
  const queue = uniqueQueue();
  const nextYear = new Date(Date.now() + 365 * 86400_000);
  // 10,000 far-ETA messages through the publish path (it marks them scheduled), at the TOP priority,
  // so a walk in priority order meets all of them first; ×10 by copying rows on the server.
  for (let i = 0; i < 10; i++) {
    await b.publishBatch(Array.from({ length: 1000 }, () => ({ queue, message: buildTaskMessage({ name: 'far', queue, eta: nextYear, priority: 9 }) })));
  }
  await sql.query(`INSERT INTO ${s}.messages (queue, priority, body, visible_at, scheduled) SELECT queue, priority, body, visible_at, scheduled FROM ${s}.messages, generate_series(1, 9)`);
  await b.publishBatch(Array.from({ length: 20 }, (_, i) => ({ queue, message: buildTaskMessage({ name: 'now', args: [i], queue, priority: 0 }) })));
  const counts = await sql.query(`SELECT scheduled, count(*)::int AS n FROM ${s}.messages GROUP BY scheduled ORDER BY scheduled`);
  assert.deepEqual(counts.rows, [{ scheduled: false, n: 20 }, { scheduled: true, n: 100_000 }]);
  await sql.query(`ANALYZE ${s}.messages`);

  const c = await sql.connect();
  try {
    const values = [[queue], 10, 1, 30_000];
    const check = async (when: string) => {
      // The custom plan (what EXPLAIN gives with these values) ...
      const custom = scans(await explain(c, fetchSql(schema), values));
      // ... and the generic plan, which a named prepared statement may switch to after five runs.
      await c.query(`SET plan_cache_mode = force_generic_plan`);
      await c.query(`PREPARE fetch_generic(text[], int, int, int) AS ${fetchSql(schema)}`);
      const generic = scans(await explain(c, `EXECUTE fetch_generic(ARRAY[${c.escapeLiteral(queue)}], 10, 1, 30000)`, []));
      await c.query('DEALLOCATE fetch_generic');
      await c.query('RESET plan_cache_mode');
      for (const [name, p] of Object.entries({ custom, generic })) {
        const what = `${when}, ${name} plan (${p.kinds.join(', ')} on ${p.indexes.join(', ')})`;
        assert.ok(p.kinds.every((k) => /Index/.test(k)), `${what}: index scans only, no sequential scan of messages`);
        // 10 rows taken (+ a few filtered); a plan that walks the far rows reads 100,000.
        assert.ok(p.rowsRead <= 100, `${what}: read ${p.rowsRead} rows of messages`);
        assert.ok(p.buffers < 300, `${what}: touched ${p.buffers} buffers (the far rows fill ~10,000 pages)`);
      }
    };
    await check('20 ready rows');
    // The idle consumer's "when is the next ETA due" reads one index entry, not 100,000.
    const next = scans(await explain(c, nextVisibleSql(schema), [[queue]]));
    assert.ok(next.kinds.every((k) => /Index/.test(k)) && next.rowsRead <= 2, `next ETA: ${next.kinds.join(', ')}, ${next.rowsRead} rows read`);
    assert.ok((await c.query(nextVisibleSql(schema), [[queue]])).rows[0].ms > 300 * 86400_000, 'the next ETA is next year');
    // With a backlog of ready rows too, the fetch walks messages_ready in priority order.
    await b.publishBatch(Array.from({ length: 1000 }, (_, i) => ({ queue, message: buildTaskMessage({ name: 'backlog', args: [i], queue, priority: 0 }) })));
    await sql.query(`INSERT INTO ${s}.messages (queue, priority, body) SELECT queue, priority, body FROM ${s}.messages, generate_series(1, 4) WHERE body LIKE '%"backlog"%'`);
    await sql.query(`ANALYZE ${s}.messages`);
    await check('5,020 ready rows');
    // The control: v1's index and query on the same rows, by the same measure. With `queue = ANY`
    // and no partial index it sorts the whole ready backlog or walks the far rows: thousands of rows.
    await c.query(`CREATE INDEX v1_fetch ON ${s}.messages (queue, priority DESC, id)`);
    await c.query(`ANALYZE ${s}.messages`);
    const v1 = scans(
      await explain(
        c,
        `WITH c AS (SELECT id FROM ${s}.messages WHERE queue = ANY($1::text[]) AND visible_at <= now() AND holder IS NULL
           ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE ${s}.messages m SET holder = $3, visible_at = now() + $4 * interval '1 millisecond' FROM c WHERE m.id = c.id RETURNING m.id`,
        values,
      ),
    );
    assert.ok(v1.rowsRead >= 5000 || v1.kinds.includes('Seq Scan'), `the v1 query reads the backlog or the far rows (${v1.rowsRead} rows, ${v1.kinds.join(', ')})`);
    await c.query(`DROP INDEX ${s}.v1_fetch`);
    await sql.query(`DELETE FROM ${s}.messages WHERE body LIKE '%"backlog"%'`);
    await sql.query(`ANALYZE ${s}.messages`);
  } finally {
    c.release();
  }

  // And the broker's fetch, through a consumer, gets the 20 ready messages and none of the far ones.
  const got: Delivery[] = [];
  const consumer = await b.consume([queue], 100, (d) => {
    got.push(d);
    b.ack(d);
  });
  await waitFor(() => got.length >= 20, 30_000, '20 ready messages');
  await new Promise((r) => setTimeout(r, 300));
  await consumer.cancel();
  await b.flush();
  assert.equal(got.length, 20);
  assert.deepEqual(new Set(got.map((d) => d.message?.headers.task)), new Set(['now']));
  const left = await sql.query(`SELECT count(*)::int AS n FROM ${s}.messages WHERE holder IS NULL AND scheduled`);
  assert.equal(left.rows[0].n, 100_000);
});

test('an ETA that comes due is fetched from the scheduled index, in priority order with ready rows', async () => {
  const schema = newSchema();
  const b = await broker(schema);
  const queue = uniqueQueue();
  const soon = new Date(Date.now() + 1500);
  await b.publishBatch([
    { queue, message: buildTaskMessage({ name: 'due-high', queue, eta: soon, priority: 5 }) },
    { queue, message: buildTaskMessage({ name: 'due-low', queue, eta: soon, priority: 1 }) },
  ]);
  const row = await sql.query(`SELECT count(*)::int AS n FROM "${schema}".messages WHERE scheduled`);
  assert.equal(row.rows[0].n, 2, 'both wait as scheduled rows');
  await new Promise((r) => setTimeout(r, 1600));
  await b.publish(queue, buildTaskMessage({ name: 'ready-mid', queue, priority: 3 }));
  const got: string[] = [];
  const consumer = await b.consume([queue], 10, (d) => {
    got.push(String(d.message?.headers.task));
    b.ack(d);
  });
  await waitFor(() => got.length >= 3, 30_000, 'three messages');
  await consumer.cancel();
  assert.deepEqual(got, ['due-high', 'ready-mid', 'due-low']);
});

test('upgrade from v1: rows with a future ETA become scheduled, the rest stay ready', async () => {
  const schema = newSchema();
  const s = `"${schema}"`;
  assert.deepEqual(await migrate(sql, schema, 1), [1]);
  await sql.query(`INSERT INTO ${s}.messages (queue, body, visible_at) VALUES ('q', 'far', now() + interval '1 day'), ('q', 'ready', now())`);
  assert.deepEqual(await migrate(sql, schema), [2, 3, 4]);
  const r = await sql.query(`SELECT body, scheduled FROM ${s}.messages ORDER BY id`);
  assert.deepEqual(r.rows, [{ body: 'far', scheduled: true }, { body: 'ready', scheduled: false }]);
  const idx = await sql.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [schema]);
  const names = idx.rows.map((x) => x.indexname as string);
  for (const n of ['messages_pkey', 'messages_ready', 'messages_scheduled', 'notify_spill_pkey']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  for (const n of ['messages_fetch', 'messages_visible']) assert.ok(!names.includes(n), `${n} dropped`);
});

test('NOTIFY past 8000 bytes: a 50 kB event, a 50 kB control request and a 50 kB reply arrive whole, in order', async () => {
  const schema = newSchema();
  const a = await broker(schema);
  const b = await broker(schema);
  const big = 'x'.repeat(50_000) + 'é'; // multi-byte: the limit is in bytes
  const events: SprigEvent[] = [];
  await b.subscribeEvents((e) => events.push(e));
  const requests: ControlRequest[] = [];
  await b.subscribeControl((r) => requests.push(r));

  const ev = (n: number, pad = '') => ({ type: 'worker-heartbeat', hostname: `h${n}`, timestamp: Date.now() / 1000, pad }) as unknown as SprigEvent;
  a.publishEvent(ev(1));
  a.publishEvent(ev(2, big));
  a.publishEvent(ev(3));
  await waitFor(() => events.length >= 3, 30_000, 'three events');
  assert.deepEqual(events.map((e) => e.hostname), ['h1', 'h2', 'h3'], 'in the order sent');
  assert.equal((events[1] as unknown as { pad: string }).pad, big);

  const replyKey = randomUUID();
  await a.broadcast({ method: 'revoke', arguments: { task_id: big }, destination: null, pattern: null, matcher: null, ticket: randomUUID(), reply_to: { exchange: 'reply.celery.pidbox', routing_key: replyKey } });
  await waitFor(() => requests.length >= 1, 30_000, 'the control request');
  assert.equal(requests[0]!.method, 'revoke');
  assert.equal(requests[0]!.arguments.task_id, big);

  await b.reply({ exchange: 'reply.celery.pidbox', routing_key: replyKey }, requests[0]!.ticket, { h2: { ok: big } });
  const replies = await a.collectReplies(replyKey, 10_000, 1);
  assert.deepEqual(replies, [{ h2: { ok: big } }]);
  const spilled = await sql.query(`SELECT count(*)::int AS n FROM "${schema}".notify_spill`);
  assert.equal(spilled.rows[0].n, 2, 'the big event and the big request went through the spill table');
});

test('bulk enqueue: the separator byte in args and headers round-trips (JSON escapes it, the join stays unambiguous)', async () => {
  const schema = newSchema();
  const b = await broker(schema);
  const queue = uniqueQueue();
  const m = buildTaskMessage({ name: 'sep', args: ['a\u001eb'], queue, headers: { note: 'x\u001ey' } });
  await b.publishBatch([{ queue, message: m }, { queue, message: buildTaskMessage({ name: 'plain', queue }) }]);
  const r = await sql.query(`SELECT body FROM "${schema}".messages WHERE queue = $1 ORDER BY id`, [queue]);
  assert.equal(r.rows.length, 2);
  assert.equal(JSON.parse(r.rows[0].body).headers.note, 'x\u001ey');
  assert.equal(JSON.parse(r.rows[1].body).headers.task, 'plain');
});

test('bulk enqueue of one task: sent as template and columns, each row is encodeEnvelope of its message, in order (broker and tx)', async () => {
  const schema = newSchema();
  const b = await broker(schema);
  const queue = uniqueQueue();
  const calls = Array.from({ length: 300 }, (_, i) => ({ id: randomUUID(), args: i % 7 ? [] : [i, 'a\u001e"b\u00e9'], kwargs: {} }));
  const items = buildTaskMessages({ name: 'bulk.one', queue, ignoreResult: true, headers: { note: 'x\u001ey' } }, calls).map((message) => ({ queue, message }));
  assert.equal(insertMessages(schema, items).key, 'insert_template');
  const rows = async () => (await sql.query<{ body: string }>(`SELECT body FROM "${schema}".messages WHERE queue = $1 ORDER BY id`, [queue])).rows.map((r) => r.body);
  await b.publishBatch(items);
  assert.deepEqual(await rows(), items.map((i) => encodeEnvelope(i.message)));
  const c = await sql.connect();
  try {
    await c.query('BEGIN');
    await b.publishInTransaction(c, items);
    await c.query('ROLLBACK');
    assert.equal((await rows()).length, items.length);
    await c.query('BEGIN');
    await b.publishInTransaction(c, items);
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  assert.deepEqual(await rows(), [...items, ...items].map((i) => encodeEnvelope(i.message)));
});
