import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConnectionError, parsePostgresUrl } from '../../runtime/src/brokers/postgres/connection.js';

test('postgres:// URL: Sprig options read and removed, the rest passed to pg, password redacted', () => {
  const i = parsePostgresUrl('postgresql://u:secret@db.example:5433/app?schema=jobs&visibility_timeout=12&pool_max=3&migrate=false&poll_interval=2&sslmode=require');
  assert.equal(i.schema, 'jobs');
  assert.equal(i.leaseMs, 12_000);
  assert.equal(i.poolMax, 3);
  assert.equal(i.migrate, false);
  assert.equal(i.pollMs, 2000);
  assert.equal(i.connectionString, 'postgres://u:secret@db.example:5433/app?sslmode=require');
  assert.ok(!i.displayUrl.includes('secret'));
});

test('postgres:// URL: defaults; visibilityTimeout option wins; a bad schema name is refused', () => {
  const i = parsePostgresUrl('postgres://localhost/db');
  assert.deepEqual([i.schema, i.leaseMs, i.poolMax, i.migrate, i.pollMs], ['sprig', 30_000, 10, true, 5000]);
  assert.equal(parsePostgresUrl('postgres://localhost/db?visibility_timeout=9', 4).leaseMs, 4000);
  assert.throws(() => parsePostgresUrl('postgres://localhost/db?schema=a;drop'), /invalid schema/);
});

test('connection errors are told from SQL errors', () => {
  assert.equal(isConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isConnectionError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })), true);
  assert.equal(isConnectionError(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isConnectionError(Object.assign(new Error('relation does not exist'), { code: '42P01' })), false);
});

test('postgres:// URL: listen_url (percent-encoded) for the LISTEN session, prepared=false; both removed from what pg gets', () => {
  const direct = 'postgres://app:pw@db-direct:5432/jobs?sslmode=require&schema=ignored';
  const i = parsePostgresUrl(`postgres://app:pw@bouncer:6432/jobs?schema=q&listen_url=${encodeURIComponent(direct)}&prepared=false`);
  assert.equal(i.connectionString, 'postgres://app:pw@bouncer:6432/jobs');
  assert.equal(i.listenConnectionString, 'postgres://app:pw@db-direct:5432/jobs?sslmode=require');
  assert.equal(i.prepared, false);
  assert.ok(!i.displayUrl.includes('pw'));
  const d = parsePostgresUrl('postgres://localhost/db');
  assert.equal(d.listenConnectionString, d.connectionString, 'without listen_url: the URL itself');
  assert.equal(d.prepared, true);
  assert.throws(() => parsePostgresUrl(`postgres://localhost/db?listen_url=${encodeURIComponent('redis://x/0')}`), /listen_url must be a postgres:\/\/ URL/);
  assert.throws(() => parsePostgresUrl('postgres://localhost/db?listen_url=not%20a%20url'), /invalid listen_url.*percent-encode/);
});
