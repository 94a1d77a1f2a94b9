import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { consumptionOrder, priorityStep, queueKey, queueKeys, bindingMember, replyBinding } from '../../runtime/src/brokers/redis/keys.js';
import { pyJson } from '../../runtime/src/brokers/redis/pyjson.js';
import { parseRedisUrl, describeConnectError } from '../../runtime/src/brokers/redis/connection.js';
import { decodeControl, decodeEvents, eventEnvelope } from '../../runtime/src/brokers/redis/envelope.js';
import { encodeResultMeta } from '../../runtime/src/brokers/redis/redis-backend.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';

const WIRE = path.resolve(__dirname, '../fixtures/celery-wire');
const wire = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(WIRE, f), 'utf8'));
type Env = { body: string; body_decoded?: unknown; [k: string]: unknown };
const strip = ({ body_decoded: _b, ...rest }: Env) => rest;

test('priority steps and list names follow kombu (0,3,6,9; step 0 is the plain list)', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, -1].map(priorityStep), [0, 0, 0, 3, 3, 3, 6, 6, 9, 9, 0]);
  assert.equal(queueKey('celery', 5), 'celery\x06\x163');
  assert.equal(queueKey('celery', 0), 'celery');
  assert.deepEqual(queueKeys('q'), ['q', 'q\x06\x163', 'q\x06\x166', 'q\x06\x169']);
  assert.equal(bindingMember('celery'), 'celery\x06\x16\x06\x16celery');
  assert.equal(replyBinding('abc'), 'abc\x06\x16\x06\x16abc.reply.celery.pidbox');
  assert.deepEqual(
    consumptionOrder(['a', 'b']).map((o) => o.key),
    ['a', 'b', 'a\x06\x163', 'b\x06\x163', 'a\x06\x166', 'b\x06\x166', 'a\x06\x169', 'b\x06\x169'],
  );
});

test('result values are byte-identical to Celery’s', () => {
  const captured = wire('redis-result.json') as Record<string, { value_raw: string; value: ResultMeta }>;
  for (const c of Object.values(captured)) {
    assert.equal(pyJson(JSON.parse(c.value_raw)), c.value_raw);
    // Key order comes from Celery's order, not from the caller's object.
    const shuffled = Object.fromEntries(Object.entries(c.value).reverse()) as unknown as ResultMeta;
    assert.equal(encodeResultMeta(shuffled), c.value_raw);
  }
  assert.equal(pyJson({ a: 'é\u2028😀', b: [true, null, -0.5], c: undefined }), '{"a": "\\u00e9\\u2028\\ud83d\\ude00", "b": [true, null, -0.5]}');
});

test('URLs: host, port, db, password, TLS, transport options', () => {
  const a = parseRedisUrl('redis://:s3cret@example.com:6380/2?visibility_timeout=120');
  assert.equal(a.host, 'example.com');
  assert.equal(a.port, 6380);
  assert.equal(a.db, 2);
  assert.equal(a.options.password, 's3cret');
  assert.equal(a.query.get('visibility_timeout'), '120');
  assert.equal(a.displayUrl, 'redis://:***@example.com:6380/2?visibility_timeout=120');
  const b = parseRedisUrl('rediss://localhost');
  assert.equal(b.port, 6379);
  assert.equal(b.db, 0);
  assert.ok(b.options.tls);
  assert.throws(() => parseRedisUrl('redis://h/x'), /invalid Redis database/);
  const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED', syscall: 'connect' });
  assert.equal(describeConnectError({ host: '127.0.0.1', port: 6390 }, err), 'cannot connect to Redis at 127.0.0.1:6390: connect ECONNREFUSED (is redis-server running?)');
});

test('captured Celery event envelopes decode (task.multi lists included); ours round-trip', () => {
  const { envelopes } = wire('redis-event-envelopes.json') as { envelopes: Array<{ envelope: Env }> };
  const types = envelopes.flatMap((e) => decodeEvents(JSON.stringify(strip(e.envelope))).map((ev) => ev.type));
  assert.deepEqual(types, ['task-received', 'task-started', 'task-succeeded', 'worker-heartbeat', 'worker-heartbeat']);
  assert.deepEqual(decodeEvents('garbage'), []);
  const ev = { type: 'worker-heartbeat' as const, hostname: 'w@h', pid: 1, clock: 2, timestamp: 3, utcoffset: 0, freq: 2, active: 0, processed: 0, loadavg: [0, 0, 0], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'linux' };
  const { routingKey, raw } = eventEnvelope(ev);
  assert.equal(routingKey, 'worker.heartbeat');
  assert.deepEqual(decodeEvents(raw), [ev]);
});

test('captured Celery pidbox broadcasts decode as ControlRequests', () => {
  const { requests } = wire('redis-pidbox-control.json') as { requests: Array<{ envelope: Env }> };
  for (const r of requests) {
    const got = decodeControl(JSON.stringify(strip(r.envelope)));
    assert.deepEqual(got, r.envelope.body_decoded);
  }
});
