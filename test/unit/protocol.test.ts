import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildTaskMessage,
  decodeEnvelope,
  encodeEnvelope,
  parseTaskMessage,
  decodeBody,
  type TransportMessage,
} from '../../runtime/src/protocol/message.js';
import { ContentDisallowedError, ProtocolError } from '../../runtime/src/errors.js';
import { serializers } from '../../runtime/src/serialization/registry.js';
import { pyreprArgs, pyrepr } from '../../runtime/src/protocol/pyrepr.js';
import { parseIso, toCeleryIso } from '../../runtime/src/protocol/time.js';

const WIRE = path.resolve(__dirname, '../fixtures/celery-wire');
const wire = (f: string) => JSON.parse(fs.readFileSync(path.join(WIRE, f), 'utf8'));
const HEADER_KEYS = ['lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id', 'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result'];

test('parses every captured Celery Redis message (envelope + protocol v2 body)', () => {
  const cap = wire('redis-message.json');
  assert.equal(cap.celery_list_raw.length, 2);
  for (const [i, item] of cap.celery_list_raw.entries()) {
    const msg = decodeEnvelope(item.raw);
    const req = parseTaskMessage(msg);
    const decoded = cap.celery_list_decoded[i];
    assert.equal(req.name, 'app.add');
    assert.equal(req.id, decoded.headers.id);
    assert.deepEqual(req.args, decoded.body_decoded[0]);
    assert.deepEqual(req.kwargs, decoded.body_decoded[1]);
    assert.equal(req.retries, decoded.headers.retries);
    assert.equal(req.priority, decoded.properties.priority);
    assert.equal(req.eta?.toISOString().slice(0, 23), decoded.headers.eta.slice(0, 23));
    assert.equal(req.expires?.toISOString().slice(0, 23), decoded.headers.expires.slice(0, 23));
    assert.equal(req.replyTo, decoded.properties.reply_to);
  }
});

test('parses the unacked-hash capture and the celery-node message', () => {
  const un = wire('redis-unacked.json');
  for (const v of Object.values(un.unacked_hash) as Array<{ message: Record<string, unknown> }>) {
    const { body_decoded: _, ...env } = v.message;
    const req = parseTaskMessage(decodeEnvelope(JSON.stringify(env)));
    assert.deepEqual(req.args, [2, 3]);
  }
  const cn = wire('celery-node-redis-message.json');
  const req = parseTaskMessage(decodeEnvelope(cn.raw));
  assert.equal(req.name, 'app.add');
  assert.equal(req.correlationId, 'cn-wire-0001');
  assert.deepEqual(req.args, [2, 3]);
});

test('parses the AMQP capture (header table + raw JSON body)', () => {
  const amqp = wire('amqp-message.json');
  assert.ok(amqp.messages.length >= 1);
  for (const m of amqp.messages) {
    const props = m.properties;
    const msg: TransportMessage = {
      headers: props.headers,
      properties: { correlation_id: props.correlationId, reply_to: props.replyTo, priority: props.priority },
      contentType: props.contentType,
      contentEncoding: props.contentEncoding,
      body: Buffer.from(m.body_utf8),
    };
    const req = parseTaskMessage(msg);
    assert.equal(req.name, 'app.add');
    assert.deepEqual(req.args, m.body_decoded[0]);
    assert.deepEqual(req.kwargs, m.body_decoded[1]);
    assert.equal(req.id, props.headers.id);
  }
});

test('builds messages of the same shape as Celery', () => {
  const cap = wire('redis-message.json').celery_list_decoded[1];
  const msg = buildTaskMessage({ name: 'app.add', args: [2], kwargs: { y: 40 }, id: 'x1', retries: 3, countdown: 10, expires: 600, priority: 5, replyTo: 'r' });
  const env = JSON.parse(encodeEnvelope(msg));
  assert.deepEqual(Object.keys(env).sort(), Object.keys(cap).filter((k) => k !== 'body_decoded' && k !== 'list_key').sort());
  assert.deepEqual(Object.keys(env.headers).sort(), [...HEADER_KEYS].sort());
  assert.deepEqual(Object.keys(env.properties).sort(), Object.keys(cap.properties).sort());
  assert.equal(env.properties.body_encoding, 'base64');
  assert.equal(env.properties.delivery_info.routing_key, 'celery');
  assert.equal(env.headers.argsrepr, '(2,)');
  assert.equal(env.headers.kwargsrepr, "{'y': 40}");
  assert.match(env.headers.eta, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  assert.ok(Math.abs(Number(env.properties.expiration) - 600000) < 50);
  const body = JSON.parse(Buffer.from(env.body, 'base64').toString());
  assert.deepEqual(body, [[2], { y: 40 }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
  const back = parseTaskMessage(decodeEnvelope(encodeEnvelope(msg)));
  assert.equal(back.retries, 3);
  assert.equal(back.priority, 5);
});

test('rejects what is not protocol v2, with a reason', () => {
  const base = buildTaskMessage({ name: 'add', args: [1, 2] });
  assert.throws(() => decodeEnvelope('\x00\xffgarbage'), /not a JSON envelope/);
  assert.throws(() => decodeEnvelope('[1,2]'), /not an object/);
  const v1: TransportMessage = { ...base, headers: {}, body: Buffer.from(JSON.stringify({ task: 'add', id: 'x', args: [1], kwargs: {} })) };
  assert.throws(() => parseTaskMessage(v1), (e: ProtocolError) => e.code === 'E_PROTOCOL_V1');
  assert.throws(() => parseTaskMessage({ ...base, body: Buffer.from('{"a":1}') }), /expected \[args, kwargs, embed\]/);
  assert.throws(() => parseTaskMessage({ ...base, body: Buffer.from('[1, {}, {}]') }), /args is not an array/);
  assert.throws(() => parseTaskMessage({ ...base, contentType: 'application/x-python-serialize' }), ContentDisallowedError.prototype.constructor === ContentDisallowedError ? /no serializer|not accepted/ : /./);
  const accept = serializers.resolveAccept(['json']);
  assert.throws(() => parseTaskMessage({ ...base, contentType: 'application/x-yaml' }, { accept }), ContentDisallowedError);
  assert.throws(() => parseTaskMessage(base, { maxBodyBytes: 4 }), /over the limit/);
});

test('gzip/zlib compression round trip via the compression header; bombs are refused', () => {
  for (const c of ['gzip', 'zlib']) {
    const msg = buildTaskMessage({ name: 'add', args: ['x'.repeat(5000)], compression: c });
    assert.ok(msg.headers.compression);
    assert.ok(msg.body.length < 1000);
    assert.equal((parseTaskMessage(decodeEnvelope(encodeEnvelope(msg))).args[0] as string).length, 5000);
  }
  const bomb = buildTaskMessage({ name: 'add', args: ['0'.repeat(50_000_000)], compression: 'gzip' });
  assert.ok(bomb.body.length < 100_000);
  assert.throws(() => decodeBody(bomb, { maxBodyBytes: 1_000_000 }), /over the limit/);
});

test('python-style reprs and Celery timestamps', () => {
  assert.equal(pyreprArgs([2, 3]), '(2, 3)');
  assert.equal(pyreprArgs([]), '()');
  assert.equal(pyrepr({ a: [true, null, 'x'] }), "{'a': [True, None, 'x']}");
  const d = new Date('2026-11-25T00:48:53.646Z');
  assert.equal(toCeleryIso(d), '2026-11-25T00:48:53.646000+00:00');
  assert.equal(parseIso('2026-11-25T00:48:53.646446+00:00')?.getTime(), d.getTime());
  assert.equal(parseIso('2026-11-25T01:48:53.646446+01:00')?.getTime(), d.getTime());
  assert.equal(parseIso(null), null);
});
