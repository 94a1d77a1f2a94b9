/**
 * Chords with PostgreSQL results (the join in the results table): the join's rules directly
 * (each part once, header order, the completing part alone), and a chord run by a worker on
 * Redis whose results are in PostgreSQL.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Redis from 'ioredis';
import pg from 'pg';
import { chord } from '../../runtime/src/index.js';
import { PostgresBackend } from '../../runtime/src/brokers/postgres/postgres-backend.js';
import { ROOT, runCli, uniqueQueue, waitFor } from '../helpers.js';
import { PG_BASE, dropSchema, pgUrl, testSchema } from './postgres-helpers.js';
import { add, tsum } from '../fixtures/canvas-tasks.js';

const schema = testSchema();
const URL = pgUrl(schema);
const REDIS = 'redis://127.0.0.1:6379/0';

after(async () => {
  await dropSchema(PG_BASE, schema);
});

test('the PostgreSQL join: a part counts once, results in header order, only the completing part fires', async () => {
  const b = await PostgresBackend.fromUrl(URL);
  try {
    await b.chords.setSize('g1', 3);
    const part = (taskId: string, groupIndex: number, result: unknown) => b.chords.partReturn({ groupId: 'g1', taskId, groupIndex, state: 'SUCCESS', result });
    assert.equal(await part('b', 1, 'B'), null);
    assert.equal(await part('b', 1, 'B again'), null);
    // Parts returning at once: the row lock serializes them, exactly one completes the join.
    const racing = await Promise.all([part('a', 0, 'A'), part('c', 2, 'C')]);
    const fired = racing.filter((r) => r !== null);
    assert.equal(fired.length, 1);
    assert.deepEqual(fired[0]!.map((e) => e.result), ['A', 'B', 'C']);
    const completer = racing[0] ? 'a' : 'c';
    const other = completer === 'a' ? 'c' : 'a';
    assert.equal(await part(other, other === 'a' ? 0 : 2, 'x'), null, 'another redelivered part does not fire it again');
    assert.ok(await part(completer, completer === 'a' ? 0 : 2, 'x'), 'the completing part, redelivered, does');
    await b.chords.done('g1');
    // Late redeliveries (the completing part or another) after the body was sent: not counted, no row.
    assert.equal(await part(completer, completer === 'a' ? 0 : 2, 'late'), null, 'after done: nothing');
    assert.equal(await part('b', 1, 'late'), null, 'after done: nothing');
    const c = new pg.Client({ connectionString: PG_BASE });
    await c.connect();
    const rows = await c.query<{ task_id: string; meta: string; expires_at: Date | null }>(`SELECT task_id, meta, expires_at FROM "${schema}".results WHERE status = 'CHORD'`).finally(() => c.end());
    assert.deepEqual(rows.rows.map((r) => [r.task_id, JSON.parse(r.meta)]), [['chord:g1', { done: true }]], 'only the mark that the body was sent is left');
    assert.ok(rows.rows[0]!.expires_at, 'and it expires');
  } finally {
    await b.close();
  }
});

test('a chord on a Redis broker with PostgreSQL results', async () => {
  const queue = uniqueQueue();
  const w = runCli(['worker', '--app', path.join(ROOT, 'test', 'fixtures', 'canvas-tasks.ts'), '--broker', REDIS, '--result-backend', URL, '-Q', queue, '-P', 'async', '-c', '4']);
  const { defaultApp } = await import('../../runtime/src/index.js');
  try {
    await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
    assert.equal(w.proc.exitCode, null, w.err());
    defaultApp().configure({ brokerUrl: REDIS, resultBackend: URL, defaultQueue: queue });
    const res = chord(Array.from({ length: 12 }, (_, i) => add.s(i, 1)), tsum.s()).applyAsync();
    assert.equal(await res.get({ timeout: 30 }), 78);
  } finally {
    w.proc.kill('SIGTERM');
    await w.exit;
    await defaultApp().close();
    const r = new Redis(REDIS);
    await r.del(queue);
    r.disconnect();
  }
});
