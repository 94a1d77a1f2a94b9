import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { buildTaskMessage, encodeEnvelope, decodeEnvelope, parseTaskMessage, type TransportMessage } from '../../runtime/src/protocol/message.js';
import { serializers, registerSerializer } from '../../runtime/src/serialization/registry.js';
import { compressors } from '../../runtime/src/compression/registry.js';
import { parseJson } from '../../runtime/src/serialization/json.js';
import { configureSigning } from '../../runtime/src/serialization/signed.js';
import { ContentDisallowedError, DecodeError } from '../../runtime/src/errors.js';

const pem = (k: { export(o: { type: 'pkcs8' | 'spki'; format: 'pem' }): string | Buffer }, type: 'pkcs8' | 'spki') => String(k.export({ type, format: 'pem' }));
const { privateKey } = generateKeyPairSync('ed25519');

registerSerializer('upper-json', {
  contentType: 'application/x-upper-json',
  encode: (v) => Buffer.from(JSON.stringify(v).split('').reverse().join('')),
  decode: (d) => JSON.parse(d.toString().split('').reverse().join('')),
});

const ARGS = [1, -2, 2 ** 40, 1.5, 'héllo ✓', null, true, [1, [2]], { nested: { k: 'v' } }, 'x'.repeat(3000)];
const KWARGS = { a: 1, b: 'yes', c: [null], d: { e: 'on' } };

function through(msg: TransportMessage, accept: string[]) {
  const wire = decodeEnvelope(encodeEnvelope(msg));
  return parseTaskMessage(wire, { accept: serializers.resolveAccept(accept) });
}

for (const ser of ['json', 'msgpack', 'yaml', 'signed', 'upper-json']) {
  for (const comp of [undefined, ...compressors.names()]) {
    test(`round trip: serializer ${ser} x compression ${comp ?? 'none'}`, () => {
      configureSigning({ key: pem(privateKey, 'pkcs8'), certId: 'k1' });
      const msg = buildTaskMessage({ name: 'tasks.add', args: ARGS, kwargs: KWARGS, serializer: ser, compression: comp, countdown: 5, expires: 60 });
      assert.equal(msg.contentType, serializers.get(ser).contentType);
      if (comp) assert.equal(msg.headers.compression, compressors.get(comp).contentType);
      const req = through(msg, [ser]);
      assert.deepEqual(req.args, ARGS);
      assert.deepEqual(req.kwargs, KWARGS);
      assert.equal(req.name, 'tasks.add');
      assert.ok(req.eta && req.expires);
      configureSigning(undefined);
    });
  }
}

test("Celery's content types", () => {
  assert.equal(serializers.get('json').contentType, 'application/json');
  assert.equal(serializers.get('msgpack').contentType, 'application/x-msgpack');
  assert.equal(serializers.get('yaml').contentType, 'application/x-yaml');
  assert.equal(compressors.get('gzip').contentType, 'application/x-gzip');
  assert.equal(compressors.get('zlib').contentType, 'application/x-gzip');
  assert.equal(compressors.get('bzip2').contentType, 'application/x-bz2');
  assert.equal(compressors.get('brotli').contentType, 'application/x-brotli');
});

test('content not in accept is refused before it is decompressed or decoded', () => {
  for (const ser of ['msgpack', 'yaml']) {
    const msg = buildTaskMessage({ name: 'add', args: [1], serializer: ser, compression: 'bzip2' });
    msg.body = Buffer.from('garbage that would not decompress');
    assert.throws(() => through(msg, ['json']), ContentDisallowedError);
  }
  const m = buildTaskMessage({ name: 'add', args: [1], serializer: 'msgpack' });
  assert.equal(through(m, ['json', 'application/x-msgpack']).args[0], 1);
});

test('below the compression threshold the body is sent as is', () => {
  const small = buildTaskMessage({ name: 'add', args: [1], compression: 'brotli', compressionThreshold: 1024 });
  assert.equal(small.headers.compression, undefined);
  const big = buildTaskMessage({ name: 'add', args: ['y'.repeat(4000)], compression: 'brotli', compressionThreshold: 1024 });
  assert.equal(big.headers.compression, 'application/x-brotli');
  assert.ok(big.body.length < 200);
});

test('msgpack: big integers stay integers on the wire (int64, not float64)', () => {
  const b = serializers.get('msgpack').encode([2 ** 40]);
  assert.equal(b[1], 0xd3); // int64 marker after the fixarray header
  assert.deepEqual(serializers.get('msgpack').decode(b), [2 ** 40]);
});

test('msgpack: a __proto__ key does not set a prototype', () => {
  // {"__proto__": {"polluted": true}} as raw msgpack
  const raw = Buffer.from('81a95f5f70726f746f5f5f81a8706f6c6c75746564c3', 'hex');
  const v = serializers.get('msgpack').decode(raw) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal((v as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

test('yaml: __proto__ keys (also through merge keys) do not pollute', () => {
  const y = serializers.get('yaml');
  const v = y.decode(Buffer.from('base: &b {__proto__: {polluted: 1}}\nx:\n  <<: *b\n  k: 2\n__proto__: {polluted: 2}\n')) as Record<string, Record<string, unknown>>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(Object.getPrototypeOf(v.x), Object.prototype);
  assert.equal((v.x as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
});

test('yaml: custom and python tags are refused, aliases are bounded', () => {
  const y = serializers.get('yaml');
  assert.throws(() => serializers.decode(Buffer.from('- !!python/object/apply:os.system ["id"]\n'), y.contentType), DecodeError);
  assert.throws(() => serializers.decode(Buffer.from('a: !custom 1\n'), y.contentType), DecodeError);
  const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  assert.throws(() => serializers.decode(Buffer.from(laughs.join('\n')), y.contentType), DecodeError);
});

test('yaml: strings Python would read as booleans are quoted', () => {
  const text = serializers.get('yaml').encode(['yes', 'on', 'no', 'off']).toString();
  assert.doesNotMatch(text, /^- (yes|on|no|off)$/m);
});

test('registerSerializer needs name, contentType, encode and decode', () => {
  assert.throws(() => registerSerializer('bad', { contentType: '', encode: () => Buffer.alloc(0), decode: () => null }), TypeError);
});

test('parseJson: integers past 2**53 exact wherever they are nested, everything else as JSON.parse reads it', () => {
  assert.deepEqual(parseJson('{"a":[1,{"b":9007199254740993}],"c":-18446744073709551615}'), { a: [1, { b: 9007199254740993n }], c: -18446744073709551615n });
  assert.deepEqual(parseJson('[[[[12345678901234567890]]]]'), [[[[12345678901234567890n]]]]);
  assert.equal(parseJson('9223372036854775807'), 9223372036854775807n);
  // Digits in strings, safe 16-digit integers, long fractions and exponents: JSON.parse's values.
  assert.deepEqual(parseJson('{"s":"12345678901234567890","n":1234567890123456,"f":0.1234567890123456,"e":1e20}'), { s: '12345678901234567890', n: 1234567890123456, f: 0.1234567890123456, e: 1e20 });
  assert.deepEqual(parseJson('[NaN, Infinity, -Infinity]'), [NaN, Infinity, -Infinity]);
  assert.throws(() => parseJson('{"a":'));
});
