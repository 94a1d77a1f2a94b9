/**
 * The PostgreSQL result backend on its own (it serves any broker: here with memory://), and the
 * versioned migrations (`sprig migrate`, on first connect, `?migrate=false`). Schemas test_<uuid>, dropped after.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { App } from '../../runtime/src/index.js';
import { PostgresBackend } from '../../runtime/src/brokers/postgres/postgres-backend.js';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import { LATEST_VERSION } from '../../runtime/src/brokers/postgres/migrations.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';
import { cliResult } from '../helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';

const schemas: string[] = [];
const sql = new pg.Pool({ connectionString: PG_BASE, max: 2 });
const schema = () => {
  const s = testSchema();
  schemas.push(s);
  return s;
};

after(async () => {
  await sql.end();
  for (const s of schemas) await dropSchema(PG_BASE, s);
});

const meta = (taskId: string, status: ResultMeta['status'], result: unknown, traceback: string | null = null): ResultMeta => ({
  status,
  result,
  traceback,
  children: [],
  date_done: status === 'SUCCESS' || status === 'FAILURE' ? new Date().toISOString() : null,
  task_id: taskId,
});

test('states, results and tracebacks; waitFor wakes on NOTIFY; forget', async () => {
  const b = await PostgresBackend.fromUrl(pgUrl(schema()));
  try {
    const id = randomUUID();
    assert.equal(await b.get(id), null);
    const waiting = b.waitFor(id, 30_000);
    await b.store(meta(id, 'STARTED', null));
    await b.store(meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' }, 'Traceback (most recent call last): ...'));
    const got = await waiting;
    assert.equal(got.status, 'FAILURE');
    assert.match(got.traceback!, /^Traceback/);
    assert.deepEqual((await b.get(id))!.result, { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
    await b.forget(id);
    assert.equal(await b.get(id), null);
    await assert.rejects(b.waitFor(randomUUID(), 50), /no result/);
  } finally {
    await b.close();
  }
});

test('expiry: an expired result is gone at once, and the cleanup deletes its row', async () => {
  const s = schema();
  const b = await PostgresBackend.fromUrl(pgUrl(s));
  try {
    const id = randomUUID();
    await b.store(meta(id, 'SUCCESS', 1), 1);
    await sql.query(`UPDATE "${s}".results SET expires_at = now() - interval '1 second' WHERE task_id = $1`, [id]);
    assert.equal(await b.get(id), null);
    assert.equal(await b.cleanup(), 1);
    const keep = randomUUID();
    await b.store(meta(keep, 'SUCCESS', 2), 0);
    assert.equal(await b.cleanup(), 0);
    assert.equal((await b.get(keep))!.result, 2);
  } finally {
    await b.close();
  }
});

test('with another broker: memory:// broker, postgres:// results', async () => {
  const app = new App({ brokerUrl: `memory://${randomUUID()}`, resultBackend: pgUrl(schema()) });
  try {
    const backend = await app.backend();
    assert.equal(backend.kind, 'postgres');
    const id = randomUUID();
    await backend.store(meta(id, 'SUCCESS', 'ok'));
    assert.equal(await app.asyncResult(id).get({ timeout: 30 }), 'ok');
  } finally {
    await app.close();
  }
});

test('migrations: sprig migrate applies them once; ?migrate=false does not', async () => {
  const s = schema();
  const off = await createBroker(pgUrl(s, 'migrate=false'));
  await off.connect();
  await assert.rejects(off.queueLength('q'), /does not exist/);
  await off.close();
  const first = await cliResult(['migrate', '--broker', pgUrl(s)]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`applied 1.*version ${LATEST_VERSION}`));
  const again = await cliResult(['migrate', '--broker', pgUrl(s)]);
  assert.match(again.stdout, /up to date/);
  const v = await sql.query(`SELECT max(version)::int AS v FROM "${s}".migrations`);
  assert.equal(v.rows[0].v, LATEST_VERSION);
});
