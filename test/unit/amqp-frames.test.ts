import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { decodeBasicProperties, decodeFrontFrame, FrameError, MAX_TABLE_DEPTH, str, TOO_DEEP, useFastFrames } from '../../runtime/src/brokers/amqp/frames.js';

// amqplib's own encoder and decoder (internal files: its package exports do not list them).
const require = createRequire(path.join(process.cwd(), 'package.json'));
const lib = path.join(path.dirname(require.resolve('amqplib')), 'lib');
interface Decoded {
  id?: number;
  channel: number;
  size?: number;
  fields?: Record<string, unknown>;
  content?: Buffer;
}
const defs = require(path.join(lib, 'defs.js')) as {
  BasicDeliver: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
};
const frame = require(path.join(lib, 'frame.js')) as {
  parseFrame(buf: Buffer, max: number): { rest: Buffer } | false;
  decodeFrame(f: unknown): Decoded;
};

function amqplibDecode(buf: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let rest = buf;
  for (let f = frame.parseFrame(rest, 131072); f; f = frame.parseFrame(rest, 131072)) {
    rest = f.rest;
    out.push(frame.decodeFrame(f));
  }
  return out;
}

function fastDecode(buf: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let rest = buf;
  for (let got = decodeFrontFrame(rest, 131072); got; got = decodeFrontFrame(rest, 131072)) {
    rest = got.rest;
    out.push(got.frame as Decoded);
  }
  assert.equal(rest.length, 0, 'every frame decoded');
  return out;
}

const uuid = 'db0c8356-2b17-4f04-8cf4-06d536988e26';
const celeryHeaders = {
  lang: 'js', task: 'bench.noop', id: uuid, shadow: null, eta: null, expires: null, group: null, group_index: null, retries: 0,
  timelimit: [null, null], root_id: uuid, parent_id: null, argsrepr: '()', kwargsrepr: '{}', origin: 'gen17799@vm', ignore_result: true,
};

function delivery(properties: Record<string, unknown>, body = Buffer.from('[[],{},{}]'), deliveryTag = 7): Buffer {
  const body3 = Buffer.concat([Buffer.from([3, 0, 1]), Buffer.alloc(4), body, Buffer.from([206])]);
  body3.writeUInt32BE(body.length, 3);
  return Buffer.concat([
    defs.encodeMethod(defs.BasicDeliver, 1, { consumerTag: 'amq.ctag-x', deliveryTag, redelivered: deliveryTag % 2 === 0, exchange: '', routingKey: 'celery' }),
    defs.encodeProperties(defs.BasicProperties, 1, body.length, properties),
    body3,
  ]);
}

test('a Celery task delivery decodes to what amqplib makes of it, frame for frame', () => {
  const props = { contentType: 'application/json', contentEncoding: 'utf-8', headers: celeryHeaders, deliveryMode: 2, priority: 0, correlationId: uuid, replyTo: 'reply-q' };
  const buf = Buffer.concat([delivery(props, undefined, 1), delivery(props, undefined, 2)]); // the second from the string cache
  assert.deepEqual(fastDecode(buf), amqplibDecode(buf));
});

test('every field type and property decodes as amqplib decodes it', () => {
  const headers = {
    s: 'ünïcödé ✓', long: 'x'.repeat(300), empty: '', t: true, f: false, n: null, int: 2 ** 31 + 5, neg: -12345, big: 2 ** 40,
    dbl: 1.5, nested: { a: [1, 'two', { three: 3 }], b: {} }, arr: [], bytes: Buffer.from([1, 2, 3]),
    ts: { '!': 'timestamp', value: 1700000000 }, dec: { '!': 'decimal', value: { places: 2, digits: 12345 } },
    i8: { '!': 'int8', value: -3 }, u8: { '!': 'uint8', value: 200 }, i16: { '!': 'int16', value: -300 }, u16: { '!': 'uint16', value: 60000 },
    u32: { '!': 'uint32', value: 4000000000 }, f32: { '!': 'float', value: 0.25 },
  };
  const props = {
    contentType: 'application/x-msgpack', contentEncoding: 'binary', headers, deliveryMode: 1, priority: 9, correlationId: 'c', replyTo: 'r',
    expiration: '60000', messageId: 'm', timestamp: 1700000000, type: 'ty', userId: 'guest', appId: 'app', clusterId: 'cl',
  };
  const buf = delivery(props);
  assert.deepEqual(fastDecode(buf), amqplibDecode(buf));
  for (const only of [{}, { headers: {} }, { contentType: 'text/plain' }, { priority: 3, timestamp: 5 }]) {
    const b = delivery(only);
    assert.deepEqual(fastDecode(b), amqplibDecode(b), JSON.stringify(only));
  }
});

test('strings from the cache are the strings in the bytes, collisions included', () => {
  for (let i = 0; i < 5000; i++) {
    const s = `k${(i * 7919) % 3001}`;
    const b = Buffer.from(`..${s}..`);
    assert.equal(str(b, 2, 2 + s.length), s);
  }
  assert.equal(str(Buffer.from('Ünï'), 0, Buffer.byteLength('Ünï')), 'Ünï');
  assert.throws(() => str(Buffer.from('abc'), 0, 4), FrameError);
});

test('other frames, a split frame and a bad frame end are left to amqplib', () => {
  const qosOk = Buffer.from([1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 11, 206]);
  assert.equal(decodeFrontFrame(qosOk, 0), undefined);
  const d = delivery({ headers: celeryHeaders });
  assert.equal(decodeFrontFrame(d.subarray(0, 20), 0), undefined);
  const bad = Buffer.from(d);
  bad[bad.readUInt32BE(3) + 7] = 0;
  assert.equal(decodeFrontFrame(bad, 0), undefined);
  assert.equal(decodeFrontFrame(d, 10), undefined); // over maxFrameSize: amqplib raises it
});

test('a field table that runs past its frame throws instead of reading on', () => {
  const props = defs.encodeProperties(defs.BasicProperties, 1, 0, { headers: celeryHeaders }).subarray(19, -1);
  for (const cut of [3, 10, 40, props.length - 1]) assert.throws(() => decodeBasicProperties(props, 0, cut), FrameError, `cut at ${cut}`);
  const badType = Buffer.from(props);
  badType[2 + 4 + 1 + 4] = 0x3f; // the first header's type tag ('lang' is 4 bytes)
  assert.throws(() => decodeBasicProperties(badType), /unknown field type/);
});

test('useFastFrames replaces one connection\'s recvFrame and falls back to the stock one', () => {
  const d = delivery({ headers: celeryHeaders });
  let stockCalls = 0;
  const conn = {
    rest: Buffer.concat([d, d.subarray(0, 5)]),
    maxFrameSize: 131072,
    recvFrame(): unknown {
      stockCalls++;
      return false;
    },
  };
  assert.equal(useFastFrames(conn), true);
  const got = [conn.recvFrame(), conn.recvFrame(), conn.recvFrame()];
  assert.deepEqual(got, amqplibDecode(d));
  assert.equal(stockCalls, 0);
  assert.equal(conn.recvFrame(), false); // the split frame: amqplib's
  assert.equal(stockCalls, 1);
  assert.equal(useFastFrames({ recvFrame() {} }), false);
});

test('a header table nested past MAX_TABLE_DEPTH stands as TOO_DEEP (no stack overflow, no closed connection); a "__proto__" key stays a key', () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 1000; i++) deep = { n: deep };
  const headers = { ...celeryHeaders, deep, list: [[[[1]]]], ['__proto__']: { polluted: true } };
  Object.defineProperty(headers, '__proto__', { value: { polluted: true }, enumerable: true });
  const [, header] = fastDecode(delivery({ contentType: 'application/json', headers }));
  const got = (header!.fields as { headers: Record<string, unknown> }).headers;
  assert.equal(got.task, 'bench.noop', 'the fields around it are intact');
  assert.deepEqual(got.list, [[[[1]]]]);
  let level: unknown = got.deep;
  let depth = 1;
  while (typeof level === 'object' && level !== null) {
    level = (level as { n: unknown }).n;
    depth++;
  }
  assert.equal(level, TOO_DEEP);
  assert.equal(depth, MAX_TABLE_DEPTH + 1);
  assert.ok(Object.hasOwn(got, '__proto__'), 'an own key');
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal((got as { polluted?: unknown }).polluted, undefined);
});
